"""The "setup we ran" paragraph of a claim's report section."""
from __future__ import annotations

import numpy as np

from .config import Config

DIFFERENCES = {
    "diag_net": ("Differences from the paper: one data set per seed (the paper's notebook has one, seed 0, "
                 "which is our seed 0 in the public_code recipe); the large step is chosen per data set by "
                 "the probe instead of by hand, and both the decayed step and the small constant step are a third "
                 "of it, the notebook's `gamma /= 3` (a first run with a fixed small step of 0.2 left too little "
                 "contrast on data sets whose probed step was 0.3); 10^4 steps (the paper's Table 1 uses 10^5, d=200)."),
    "relu_net": ("Differences from the paper: several seeds (the notebook shows one); the teacher is drawn with "
                 "NumPy rather than torch, so seed s has the notebook's inputs but another teacher of the same "
                 "law. The notebook's large step 0.455 diverged within 50 steps on 7 of our 8 data sets in a first "
                 "run, so the large step is probed per data set like the diagonal net's, and the decayed and small "
                 "steps are the probed step / 3.5 (the notebook's 0.455 / 0.13)."),
}


def describe(config: Config, variants: list[str], probe: dict | None) -> str:
    lines = []
    for name in sorted({config.variants[v].experiment for v in variants}):
        e = config.experiments[name]
        if name == "diag_net":
            lines.append(f"- Diagonal linear net beta = u⊙v (u0 = {e.init_scale:g}·1, v0 = 0), noiseless sparse "
                         f"regression, n = {e.n_train}, d = {e.dim}, {e.support} non-zeros, {e.n_test} test points, "
                         f"float64, {e.steps} steps, loss ||X beta − y||²/(2n); data recipe `{e.recipe}`, "
                         f"{e.seeds} seeds (data seed s, SGD order seed s + {e.sampling_seed_offset}).")
        else:
            lines.append(f"- Two-layer ReLU net without biases, width {e.student_width}, teacher of width "
                         f"{e.teacher_width} with unit-norm neurons and ±1 outputs, inputs on the unit circle "
                         f"(d = {e.dim}), n = {e.n_train}, {e.n_test} test points, init W = {e.init_scale:g}·N(0,1), "
                         f"a = 0, loss mean (f − y)², {e.steps} SGD steps with batch 1, {e.seeds} seeds, "
                         f"data recipe `{e.recipe}`.")
        lines.append(f"  {DIFFERENCES[name]}")
    for v in variants:
        spec = config.variants[v]
        lines.append(f"- `{v}`: {spec.optimizer.upper()}, {spec.schedule.describe()}")
    probed = {(config.variants[v].experiment, config.variants[v].optimizer) for v in variants
              if config.variants[v].schedule.probed}
    for experiment, optimizer in sorted(probed):
        settings = config.experiments[experiment].probe
        chosen = probe[experiment][optimizer]
        lrs = np.asarray(chosen["lr_per_seed"])
        lines.append(f"- Probe ({experiment}, {optimizer.upper()}): per data set, the largest step on the grid "
                     f"{chosen['grid']} with at most {settings.max_diverged_share:.0%} of {chosen['orders']} "
                     f"probe orders diverging over {chosen['probe_steps']} steps; chosen: median {np.median(lrs):g}, "
                     f"range {lrs.min():g}–{lrs.max():g}; data sets with no stable grid step: "
                     f"{len(chosen['no_stable_step'])}.")
    return "\n".join(lines)
