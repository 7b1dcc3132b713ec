"""Backward time of the implicit conv cell: exact implicit gradient against the phantom gradients.

    .venv/bin/python bench/bench_phantom_gradient.py [--channels 32 64] [--repeats 15]

Everything else from params.yaml (phantom_gradient.setup.conv_timing and the conv_timing variant's k, λ).
Exact, unrolled and Neumann backward passes are timed interleaved in this one process, on one thread,
after warm-up rounds, so the ratios do not depend on the machine's speed (a busy neighbour core slows
all three alike). Prints, per width, the median time of each and the ratio exact / phantom, beside the
machine-independent ratio of passes through f. The paper (Geng et al. 2021, §5): about 1.7×.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stages.common.runtime import pin_threads  # noqa: E402

pin_threads()

from stages.common.params import study_section  # noqa: E402
from stages.studies.phantom_gradient import STUDY  # noqa: E402
from stages.studies.phantom_gradient.backward_timing import TimedCell, time_seed  # noqa: E402
from stages.studies.phantom_gradient.config import ConvTimingVariant  # noqa: E402
from stages.studies.phantom_gradient.data import generate  # noqa: E402
from stages.studies.phantom_gradient.implicit_layer import Costs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    config = STUDY.parse(study_section("phantom_gradient"))
    data = generate(config)
    timing_variant = next(v for v in config.variants.values() if isinstance(v, ConvTimingVariant))
    choices = timing_variant.estimators()
    print(
        f"phantom: k = {timing_variant.k}, λ = {timing_variant.damping:g}; "
        f"seed {config.first_seed}, {args.repeats} timed rounds after {config.conv_timing.warmup} warm-up rounds"
    )
    for channels in args.channels:
        setup = dataclasses.replace(config.conv_timing, channels=channels)
        timed = TimedCell(dataclasses.replace(config, conv_timing=setup), config.first_seed, data)
        fixed_point = timed.fixed_point(Costs())
        passes = {}
        for name, gradient in choices.items():
            costs = Costs()
            timed.gradient(fixed_point, gradient, costs)
            passes[name] = costs.backward_passes
        seconds = {
            name: float(np.median(values))
            for name, values in time_seed(
                timed, fixed_point, choices, setup.warmup, args.repeats
            ).items()
        }
        for name in ("unrolled", "neumann"):
            print(
                f"{channels:3d} channels  exact / {name:8s}: time ×{seconds['exact'] / seconds[name]:.2f} "
                f"({seconds['exact'] * 1e3:.1f} ms / {seconds[name] * 1e3:.1f} ms), passes through f "
                f"×{passes['exact'] / passes[name]:.2f} ({passes['exact']} / {passes[name]})"
            )


if __name__ == "__main__":
    main()
