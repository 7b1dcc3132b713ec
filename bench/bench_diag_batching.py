"""Benchmark: seed-steps per second of diagonal-net SGD, all seeds batched in one tensor program
versus one run at a time, measured in the same process on the same data. Prints the ratio.

    .venv/bin/python bench/bench_diag_batching.py [--seeds 24] [--steps 2000] [--repeats 3]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages.common.runtime import pin_threads  # noqa: E402

pin_threads()
from stages.studies.sparse_features import data, diag_net  # noqa: E402
from stages.studies.sparse_features.runs import sampling_indices  # noqa: E402


def seed_steps_per_second(x, y, rates, indices, repeats: int, batched: bool) -> float:
    seeds, steps = x.shape[0], len(rates)
    eval_steps = np.array([0, steps])
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        if batched:
            diag_net.train(x, y, rates, "sgd", indices, 0.1, eval_steps, 1e6)
        else:
            for seed in range(seeds):
                diag_net.train(x[seed:seed + 1], y[seed:seed + 1], rates, "sgd", indices[:, seed:seed + 1], 0.1,
                               eval_steps, 1e6)
        best = min(best, time.perf_counter() - start)
    return seeds * steps / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per_seed = [data.sparse_regression("public_code", s, 20, 10, 30, 3) for s in range(args.seeds)]
    x = np.stack([d["x_train"] for d in per_seed])
    y = np.stack([d["y_train"] for d in per_seed])
    rates = np.full(args.steps, 0.2)
    indices = sampling_indices("public_code", [s + 2 for s in range(args.seeds)], 20, args.steps)
    looped = seed_steps_per_second(x, y, rates, indices, args.repeats, batched=False)
    batched = seed_steps_per_second(x, y, rates, indices, args.repeats, batched=True)
    print(f"diag-net SGD, {args.seeds} seeds x {args.steps} steps, one torch thread, best of {args.repeats}")
    print(f"  one run at a time: {looped:12,.0f} seed-steps/s  (baseline)")
    print(f"  batched seeds:     {batched:12,.0f} seed-steps/s")
    print(f"  ratio batched / one-at-a-time: {batched / looped:.1f}x")


if __name__ == "__main__":
    main()
