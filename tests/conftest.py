"""Shared test set-up: import `stages` from the repository root, one thread everywhere (results are
bit-identical only at a fixed thread count, and this is a 2-core machine)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# pytest-xdist (`make test`: --dist loadfile) hands whole files to its workers in collection order,
# so a long file collected late ran alone at the end: the slowest files go first (the rest keep
# their order; so does every file's own). Measured with `make bench-tests`.
SLOWEST_FILES = ("test_pipeline_end_to_end.py", "test_parallel_repro.py", "test_bad_inputs.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: place for place, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FILES)))
