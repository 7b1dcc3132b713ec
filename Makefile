# Two entry points (see README.md): `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv and install the pinned requirements first (torch==2.13.0 is a local CPU build).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
# dvc runs each stage's `python -m stages...` from PATH: it must be the venv's interpreter
export PATH := $(abspath $(BIN)):$(PATH)
export OMP_NUM_THREADS := 1
export OMP_WAIT_POLICY := PASSIVE
export PYTHONHASHSEED := 0
# stages run at once: one single-threaded Dask worker per core (make repro JOBS=1 runs one at a time)
JOBS ?= $(shell nproc)

.PHONY: repro test bench claim check-report clean-venv

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

repro: $(STAMP)  ## run every stage whose inputs changed, JOBS at once; PROFILE=paper runs profiles/paper.yaml in .profiles/paper/
ifdef PROFILE
	$(BIN)/python -m stages.profile $(PROFILE) --jobs $(JOBS)
else
	$(BIN)/python -m stages.repro --jobs $(JOBS)
endif

test: $(STAMP)  ## lint and format check, unit tests, claim checks on synthetic tables, end-to-end tiny profile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)  ## speed figures as ratios against a baseline measured in the same run
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

claim: $(STAMP)  ## rerun one claim's runs and the report: make claim CLAIM=sparse_features.C3
	$(BIN)/python -m stages.rerun_claim $(CLAIM)

check-report: $(STAMP)  ## CI: the locks match the code; regenerate; fail if a verdict or a statistic moved
	$(BIN)/python -m stages.check_report --stale
	$(BIN)/python -m stages.repro --jobs $(JOBS)
	$(BIN)/python -m stages.check_report

clean-venv:
	rm -rf $(VENV)
