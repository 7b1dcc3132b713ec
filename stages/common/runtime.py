"""Process set-up shared by every stage: one torch thread, explicit device, wall-clock accounting.

Results are bit-identical across reruns only at a fixed thread count, and on a 2-core machine one
thread per process with one process per core is also the fastest layout (see ARCHITECTURE.md).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator

TORCH_THREADS = 1  # fixed: float results depend on the thread count


def pin_threads() -> None:
    """Fix torch (and the BLAS under NumPy) to one thread; call before any compute."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(TORCH_THREADS)
    import torch

    torch.set_num_threads(TORCH_THREADS)
    if torch.get_num_interop_threads() != TORCH_THREADS:
        try:
            torch.set_num_interop_threads(TORCH_THREADS)
        except RuntimeError:  # already fixed once parallel work has started in this process
            pass


def torch_device(requested: str):
    """`cpu` always works; `cuda` only when a GPU is present (never required)."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("execution.device = 'cuda' but no CUDA device is present: use 'cpu'")
    return torch.device(requested)


@contextmanager
def stopwatch(record: dict, key: str) -> Iterator[None]:
    """Add the wall-clock seconds of the block to record[key] (timings stay out of the results tables)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record[key] = record.get(key, 0.0) + time.perf_counter() - start
