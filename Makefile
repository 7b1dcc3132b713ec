# Two entry points (see README.md): `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv and install the pinned requirements first (torch==2.13.0 is a local CPU build).
# Needs make, git and Python >= 3.11 with its venv module; nothing from GNU coreutils (macOS works).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the install stamp is named after requirements.txt's content (hashed by Python: no sha1sum needed),
# so an edit installs again and a fresh checkout of the same pins does not
REQUIREMENTS_HASH := $(shell $(PYTHON) -c "import hashlib; print(hashlib.sha1(open('requirements.txt', 'rb').read()).hexdigest()[:12])" 2>/dev/null)
ifeq ($(REQUIREMENTS_HASH),)
$(error cannot run '$(PYTHON)': install Python >= 3.11 with its venv module (Debian: apt install python3 python3-venv), or name one: make PYTHON=/path/to/python3.11 ...)
endif
STAMP := $(VENV)/.installed-$(REQUIREMENTS_HASH)
# dvc runs each stage's `python -m stages...` from PATH: it must be the venv's interpreter
export PATH := $(abspath $(BIN)):$(PATH)
export OMP_NUM_THREADS := 1
export OMP_WAIT_POLICY := PASSIVE
export PYTHONHASHSEED := 0
# stages at once: by default one single-threaded Dask worker per core this process may use (the
# driver counts them); make repro JOBS=1 runs one at a time
JOBS_OPTION := $(if $(JOBS),--jobs $(JOBS))
# test processes (pytest-xdist): `auto` is one per core; TEST_WORKERS=0 runs the suite in this process
TEST_WORKERS ?= auto
# what the pull-request summary compares against (make ci-summary BASE=origin/main)
BASE ?= main
# gpfq's test images: Debian's dataset-fashion-mnist (its IDX files), read where params.yaml names
# this folder; `make system-data` installs the package where apt-get exists, else says what to do
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := $(SUDO) apt-get install -y --no-install-recommends dataset-fashion-mnist

.PHONY: system-data repro test bench bench-tests claim check-report ci-summary verdicts dag clean-venv

$(STAMP):
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); the pins need >= 3.11 (make PYTHON=/path/to/python3.11 ...)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

system-data:  ## Debian's dataset-fashion-mnist (gpfq), installed with apt-get if params.yaml reads it and it is missing
	@if grep -q '$(FASHION_MNIST_DIR)' params.yaml && test ! -d $(FASHION_MNIST_DIR); then \
	  if command -v apt-get >/dev/null; then $(APT_INSTALL) || { $(SUDO) apt-get update -qq && $(APT_INSTALL); }; \
	  else echo "error: gpfq.setup.data.idx_dir = $(FASHION_MNIST_DIR) does not exist: install Debian's dataset-fashion-mnist, or point idx_dir at a folder holding Fashion-MNIST's four IDX files" >&2; exit 1; fi; \
	fi

repro: $(STAMP) system-data  ## run every stage whose inputs changed, JOBS at once; PROFILE=paper runs profiles/paper.yaml in .profiles/paper/
ifdef PROFILE
	$(BIN)/python -m stages.profile $(PROFILE) $(JOBS_OPTION)
else
	$(BIN)/python -m stages.repro $(JOBS_OPTION)
endif

test: $(STAMP)  ## lint and format check, unit tests, workflow lint, end-to-end run of a slice of the tiny profile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

bench: $(STAMP)  ## speed figures as ratios against a baseline measured in the same run
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

bench-tests: $(STAMP)  ## the test suite's time, module by module (bench/bench_test_suite.py)
	$(BIN)/python bench/bench_test_suite.py

claim: $(STAMP) system-data  ## rerun one claim's runs and the report: make claim CLAIM=sparse_features.C3
	$(BIN)/python -m stages.rerun_claim $(CLAIM)

check-report: $(STAMP) system-data  ## CI: the locks match the code; regenerate; fail if a verdict or a statistic moved
	$(BIN)/python -m stages.check_report --stale
	$(BIN)/python -m stages.repro $(JOBS_OPTION)
	$(BIN)/python -m stages.check_report

ci-summary: $(STAMP)  ## markdown for a pull request (stdout is the summary alone): the claims and figures that moved against BASE
	@$(BIN)/python .ci/pr_summary.py $(BASE)

verdicts: $(STAMP)  ## every claim's verdict in the workspace, at HEAD and in each DVC experiment, one row per claim
	@$(BIN)/python -m stages.experiments

dag: $(STAMP)  ## rewrite the per-study stage diagrams in README.md from DVC's graph (a test fails when stale)
	$(BIN)/python -m stages.dag_diagram --write README.md

clean-venv:
	rm -rf $(VENV)
