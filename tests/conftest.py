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
