"""The "setup we ran" paragraph of a claim's report section."""

from __future__ import annotations

import numpy as np

from .config import Config, DiagonalNetSetup

DIFFERENCES = {
    "diag_net": (
        "Differences from the paper: this is the 2-D loss-surface notebook's own small setting, kept for "
        "C4 (GD against SGD) and the notebook's printed seed-0 runs; one data set per seed (the notebook "
        "has one, seed 0, which is our seed 0 in the public_code recipe); the large step is chosen per "
        "data set by the probe instead of by hand and divided by 3 at T/2, the notebook's `gamma /= 3`."
    ),
    "diag_table1": (
        "Differences from the paper: the setting, the data recipe, the decay factors and the l0 "
        "threshold are the notebook's (diag_nets_level_set_stabilization.ipynb, which prints Table 1); "
        "seed 0 is the paper's own data set and SGD order. The paper runs one data set; we run "
        "one per seed. The paper's steps (constant 0.25; 0.282 divided by 4.8 / 3.4 / 1.5 at 10 / 30 / "
        "50%) were tuned on its data set and diverge on about half of ours, so the judged variants take "
        "their large step from a per-data-set probe (grid up to the paper's 0.282), keep the paper's "
        "decay factors and use probe / 1.128 as the small constant step (the paper's 0.25 = 0.282 / "
        "1.128); the paper's steps run beside them on every data set as references, diverged runs "
        "counted. The probe bisects between grid steps (resolution 0.0016) because l0 at 1e-50 drops only "
        "within ~3% of a data set's divergence edge (seed 0, decay at 50%: l0 200 at 0.27, 104 at 0.275, "
        "72 at 0.282; the paper's own 0.25 keeps l0 = 200); a first default run with a 0.025-spaced grid "
        "and no bisection chose steps up to 10% below the edge and left l0 = 200 in every probed "
        "variant. The decay comes after round(p·T) steps at the large step, one step earlier than the "
        "notebook's `i == threshold`. Sparsity is judged with the paper's l0 (|u_i v_i| > 1e-50 in "
        "float64); effective non-zeros (||β||₁²/||β||₂²) are printed beside it."
    ),
    "relu_net": (
        "Differences from the paper: several seeds (the notebook shows one); the teacher is drawn with "
        "NumPy rather than torch, so seed s has the notebook's inputs but another teacher of the same "
        "law. The notebook's large step 0.455 diverged within 50 steps on 7 of our 8 data sets in a first "
        "run, so the large step is probed per data set like the diagonal net's, and the decayed and small "
        "steps are the probed step / 3.5 (the notebook's 0.455 / 0.13)."
    ),
}


def describe(config: Config, variants: list[str], probe: dict | None) -> str:
    lines = []
    for name in sorted({config.variants[v].experiment for v in variants}):
        setup = config.experiments[name]
        if isinstance(setup, DiagonalNetSetup):
            lines.append(
                f"- Diagonal linear net beta = u⊙v (u0 = {setup.init_scale:g}·1, v0 = 0), noiseless sparse "
                f"regression, n = {setup.n_train}, d = {setup.dim}, {setup.support} non-zeros, {setup.n_test} test points, "
                f"float64, {setup.steps} steps, loss ||X beta − y||²/(2n); data recipe `{setup.recipe}`, "
                f"{setup.seeds} seeds from {setup.first_seed} (data seed s, SGD order seed "
                f"s + {setup.sampling_seed_offset}); `{name}`."
            )
        else:
            lines.append(
                f"- Two-layer ReLU net without biases, width {setup.student_width}, teacher of width "
                f"{setup.teacher_width} with unit-norm neurons and ±1 outputs, inputs on the unit circle "
                f"(d = {setup.dim}), n = {setup.n_train}, {setup.n_test} test points, init W = {setup.init_scale:g}·N(0,1), "
                f"a = 0, loss mean (f − y)², {setup.steps} SGD steps with batch 1, {setup.seeds} seeds from {setup.first_seed}, "
                f"data recipe `{setup.recipe}`."
            )
        lines.append(f"  {DIFFERENCES[name]}")
    for v in variants:
        spec = config.variants[v]
        lines.append(f"- `{v}`: {spec.optimizer.upper()}, {spec.schedule.describe()}")
    probed = {
        (config.variants[v].experiment, config.variants[v].optimizer)
        for v in variants
        if config.variants[v].schedule.probed
    }
    for experiment, optimizer in sorted(probed):
        settings = config.experiments[experiment].probe
        chosen = probe[experiment][optimizer]
        lrs = np.asarray(chosen["lr_per_seed"])
        lines.append(
            f"- Probe ({experiment}, {optimizer.upper()}): per data set, the largest step on the grid "
            f"{chosen['grid']} with at most {settings.max_diverged_share:.0%} of {chosen['orders']} "
            f"probe orders diverging over {chosen['probe_steps']} steps"
            + (
                f", then {settings.refine_rounds} bisections by the same rule between it and the next grid "
                f"step"
                if settings.refine_rounds
                else ""
            )
            + f"; chosen: median {np.median(lrs):.4g}, "
            f"range {lrs.min():.4g}–{lrs.max():.4g}; data sets with no stable grid step: "
            f"{len(chosen['no_stable_step'])}."
        )
    return "\n".join(lines)
