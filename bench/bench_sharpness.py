"""Cost of one sharpness estimate: Lanczos on Hessian-vector products against the full Hessian.

    .venv/bin/python bench/bench_sharpness.py [--examples 300] [--hidden 32 32] [--steps 200]

Both estimates are taken in this run, on the same model at the same θ (the self-stabilization
network of edge_of_stability after `steps` GD steps at η = 0.5), so the ratio does not depend on
the machine's speed. Then the share of the study's compute spent measuring sharpness, from the
compute files of the last `dvc repro` (data/edge_of_stability/measures/*.json), or, without them,
from a short GD run with checkpoints every 25 steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stages.common.runtime import pin_threads  # noqa: E402

pin_threads()

import torch  # noqa: E402

from stages.common.hessian import HessianAt, dense_hessian, top_eigenpairs  # noqa: E402
from stages.studies.edge_of_stability.config import Network  # noqa: E402
from stages.studies.edge_of_stability.data import digits  # noqa: E402
from stages.studies.edge_of_stability.descent import descend  # noqa: E402
from stages.studies.edge_of_stability.measurement import sharpness_along  # noqa: E402
from stages.studies.edge_of_stability.objectives import digits_loss, mlp_of  # noqa: E402

LR, TOLERANCE, REPEATS = 0.5, 1e-6, 3
WARM_GAP = (
    10  # the warm start comes from the checkpoint this many steps earlier (measure uses 10–25)
)
MEASURES = Path("data/edge_of_stability/measures")


def seconds(call):
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def lanczos_cost(loss_of_flat, theta, warm_start):
    """Median wall time of REPEATS Lanczos calls (a fresh gradient graph each time) and the last result."""
    timings = [
        seconds(
            lambda: top_eigenpairs(
                HessianAt(loss_of_flat, theta), k=2, warm_start=warm_start, tolerance=TOLERANCE
            )
        )
        for _ in range(REPEATS)
    ]
    return float(np.median([t for t, _ in timings])), timings[-1][1]


def study_share() -> str:
    files = sorted(MEASURES.glob("*.json"))
    if not files:
        return ""
    compute = {f.stem: json.loads(f.read_text()) for f in files}
    measure = sum(c["measure_seconds"] for c in compute.values())
    total = measure + sum(c["train_seconds"] for c in compute.values())
    return (
        f"share of the study's train+measure time spent in measure (sharpness by Lanczos along every "
        f"checkpoint, traces, distances; includes each stage's lazy torch import): {measure:.1f} s of "
        f"{total:.1f} s = {measure / total:.0%}  [{len(files)} variants, {MEASURES}/*.json]"
    )


def short_run_share(loss_of_flat, theta0) -> str:
    train, trajectory = seconds(lambda: descend(loss_of_flat, theta0, 0.4, 200, 25))
    measure, _ = seconds(lambda: sharpness_along(loss_of_flat, trajectory.checkpoints, TOLERANCE))
    return (
        f"no compute files: on a 200-step GD run (η = 0.4, S every 25 steps) training took {train:.1f} s and "
        f"measuring S took {measure:.1f} s = {measure / (train + measure):.0%} of the two"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    network = Network(args.examples, tuple(args.hidden), "tanh", None)
    data = digits(max(args.examples, 500))
    loss_of_flat = digits_loss(
        network, {"digits_inputs": data["inputs"], "digits_labels": data["labels"]}
    )
    theta0 = mlp_of(network).initial(0)
    if args.steps < WARM_GAP or args.steps % WARM_GAP:
        parser.error(f"--steps must be a positive multiple of {WARM_GAP}")
    trajectory = descend(loss_of_flat, theta0, LR, args.steps, checkpoint_every=WARM_GAP)
    earlier, theta = (torch.as_tensor(c) for c in trajectory.checkpoints[-2:])
    print(
        f"model: tanh MLP {'-'.join(map(str, network.widths))} on {args.examples} digits, "
        f"{network.parameter_count} parameters, float64, θ after {args.steps} GD steps at η = {LR}"
    )

    cold_time, cold = lanczos_cost(loss_of_flat, theta, None)
    warm_vector = top_eigenpairs(
        HessianAt(loss_of_flat, earlier), k=2, tolerance=TOLERANCE
    ).top_vector
    warm_time, warm = lanczos_cost(loss_of_flat, theta, warm_vector)
    build_time, full = seconds(lambda: dense_hessian(loss_of_flat, theta))
    eig_time, spectrum = seconds(lambda: torch.linalg.eigvalsh(full))
    full_time = build_time + eig_time
    exact = spectrum.flip(0)[:2].numpy()
    print(
        f"Lanczos (eigsh k=2, which='LA', tol {TOLERANCE:g}), random start: {cold_time * 1e3:.0f} ms, "
        f"{cold.products} Hessian-vector products; λ1 = {cold.sharpness:.6f}, λ2 = {cold.second:.6f}"
    )
    print(
        f"Lanczos warm-started from the top eigenvector {WARM_GAP} steps earlier: "
        f"{warm_time * 1e3:.0f} ms, {warm.products} products"
    )
    print(
        f"full Hessian (torch.autograd.functional.hessian) {build_time:.2f} s + eigvalsh {eig_time:.2f} s = "
        f"{full_time:.2f} s; λ1 = {exact[0]:.6f}, λ2 = {exact[1]:.6f} "
        f"(Lanczos relative error {abs(cold.sharpness / exact[0] - 1):.1e}, {abs(cold.second / exact[1] - 1):.1e})"
    )
    print(
        f"ratio full / Lanczos: {full_time / cold_time:.0f}x (random start), {full_time / warm_time:.0f}x (warm start)"
    )
    print(study_share() or short_run_share(loss_of_flat, theta0))


if __name__ == "__main__":
    main()
