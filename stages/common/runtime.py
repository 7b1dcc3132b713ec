"""Process set-up shared by every stage: one torch thread and an explicit device.

Results are bit-identical across reruns only at a fixed thread count, and on a 2-core machine one
thread per process with one process per core is also the fastest layout (see ARCHITECTURE.md).
"""

from __future__ import annotations

import os
import sys

TORCH_THREADS = 1  # fixed: float results depend on the thread count


def pin_threads() -> None:
    """Fix torch and the BLAS under NumPy to one thread; call before any compute.

    torch reads OMP_NUM_THREADS when it is first imported, so stages that import torch later
    (lazily, only where they train) start with one thread; if torch is already loaded it is
    pinned directly. Stages that never need torch never pay for importing it.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(TORCH_THREADS)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(TORCH_THREADS)


def torch_device(requested: str) -> str:
    """`cpu` always works; `cuda` only when a GPU is present (never required)."""
    if requested == "cuda":
        import torch

        if not torch.cuda.is_available():
            from .params import ParamError

            raise ParamError("execution.device", requested, "cpu (no CUDA device is present here)")
    return requested


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (what a cgroup, taskset or Slurm allots;
    never `nproc`, which answers OMP_NUM_THREADS instead), or every core where the platform has no
    affinity call (macOS)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
