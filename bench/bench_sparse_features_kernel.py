"""Benchmark: seed-steps per second of diagonal-net SGD (batch 1) in three implementations, measured in
one process on the same data and SGD orders, with the ratios printed:

- one run at a time: the torch program (diag_net.train) called once per seed (the baseline);
- batched torch: the same program with all seeds on a leading run axis (the code before the kernel);
- compiled kernel: diag_sgd_kernel (numba, no fast-math), all seeds in one call.

Both the notebook's small setting (n=20, d=30) and the paper's Table 1 setting (n=80, d=200) are
timed. The kernel's one-off compile time (once per process) is printed apart, not in the rates.

    .venv/bin/python bench/bench_sparse_features_kernel.py [--seeds 24] [--steps 2000] [--repeats 3]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages.common.runtime import pin_threads  # noqa: E402

pin_threads()
from stages.studies.sparse_features import data, diag_net, diag_sgd_kernel  # noqa: E402
from stages.studies.sparse_features.training import sampling_indices  # noqa: E402

SETTINGS = {
    "notebook small (n=20, d=30, r=3)": (20, 30, 3),
    "Table 1 (n=80, d=200, r=20)": (80, 200, 20),
}
RATE = 0.1  # small enough that no run diverges in the timed steps


def best_seconds(call, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seeds, steps = args.seeds, args.steps
    eval_steps = np.array([0, steps])
    runs = np.arange(seeds)
    start = time.perf_counter()
    diag_sgd_kernel.train(
        np.zeros((1, 2, 4)),
        np.zeros((1, 2)),
        np.zeros(1, int),
        np.zeros((1, 1), int),
        np.zeros(1, int),
        np.zeros((1, 1)),
        np.zeros(1, int),
        0.1,
        np.array([0, 1]),
        1e6,
    )
    print(
        f"diag-net SGD, {seeds} seeds x {steps} steps, one thread, best of {args.repeats}; "
        f"kernel compile (once per process): {time.perf_counter() - start:.2f} s"
    )
    for label, (n_train, dim, support) in SETTINGS.items():
        drawn = [
            data.sparse_regression("public_code", s, n_train, 10, dim, support)
            for s in range(seeds)
        ]
        x = np.stack([d["x_train"] for d in drawn])
        y = np.stack([d["y_train"] for d in drawn])
        order = sampling_indices("public_code", [s + 1 for s in range(seeds)], n_train, steps)
        rates = np.full(steps, RATE)

        def one_at_a_time(x=x, y=y, rates=rates, order=order):
            for s in range(seeds):
                diag_net.train(
                    x[s : s + 1],
                    y[s : s + 1],
                    rates,
                    "sgd",
                    order[:, s : s + 1],
                    0.1,
                    eval_steps,
                    1e6,
                )

        def batched_torch(x=x, y=y, rates=rates, order=order):
            diag_net.train(x, y, rates, "sgd", order, 0.1, eval_steps, 1e6)

        def kernel(x=x, y=y, rates=rates, order=order):
            diag_sgd_kernel.train(
                x, y, runs, order, runs, rates[:, None], np.zeros(seeds, int), 0.1, eval_steps, 1e6
            )

        rate = {
            name: seeds * steps / best_seconds(call, args.repeats)
            for name, call in (("one", one_at_a_time), ("torch", batched_torch), ("kernel", kernel))
        }
        print(f"{label}")
        print(f"  one run at a time (torch): {rate['one']:14,.0f} seed-steps/s  (baseline)")
        print(
            f"  batched torch (before):    {rate['torch']:14,.0f} seed-steps/s  "
            f"{rate['torch'] / rate['one']:7.1f}x baseline"
        )
        print(
            f"  compiled kernel (numba):   {rate['kernel']:14,.0f} seed-steps/s  "
            f"{rate['kernel'] / rate['one']:7.1f}x baseline, {rate['kernel'] / rate['torch']:6.1f}x batched torch"
        )


if __name__ == "__main__":
    main()
