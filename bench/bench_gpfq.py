"""Benchmark: GPFQ's quantization throughput (weights per second), the layer vectorised over neurons
against a plain loop over neurons (the one-neuron recursion), same layer and inputs, same process.
Prints both and their ratio; also checks that both give the same quantized weights.

    .venv/bin/python bench/bench_gpfq.py [--neurons 300] [--inputs 500] [--samples 256] [--repeats 3]

Defaults: the second hidden layer of the digits MLP (500 -> 300) with 256 calibration samples.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages.common.runtime import pin_threads  # noqa: E402

pin_threads()
import torch  # noqa: E402

from stages.studies.gpfq.quantizer import alphabet_for, gpfq, gpfq_one_neuron  # noqa: E402


def weights_per_second(quantize, weights, repeats: int) -> tuple[float, torch.Tensor]:
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = quantize()
        best = min(best, time.perf_counter() - start)
    return weights.numel() / best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=300)
    parser.add_argument("--inputs", type=int, default=500)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weights = torch.as_tensor(rng.uniform(-0.1, 0.1, (args.neurons, args.inputs)))
    analog = torch.as_tensor(np.maximum(rng.standard_normal((args.samples, args.inputs)), 0.0))
    seen = analog + 0.01 * torch.as_tensor(rng.standard_normal((args.samples, args.inputs)))
    levels = alphabet_for(weights, 3, 1.0)
    looped, by_neuron = weights_per_second(
        lambda: torch.stack([gpfq_one_neuron(w, analog, seen, levels) for w in weights]),
        weights,
        args.repeats,
    )
    vectorised, together = weights_per_second(
        lambda: gpfq(weights, analog, seen, levels), weights, args.repeats
    )
    same = torch.equal(by_neuron, together)
    print(
        f"GPFQ, layer {args.inputs} -> {args.neurons} ({weights.numel():,} weights), {args.samples} calibration "
        f"samples, float64, one torch thread, best of {args.repeats}"
    )
    print(f"  loop over neurons:     {looped:12,.0f} weights/s  (baseline)")
    print(f"  vectorised over them:  {vectorised:12,.0f} weights/s")
    print(f"  ratio vectorised / loop: {vectorised / looped:.1f}x   (identical weights: {same})")


if __name__ == "__main__":
    main()
