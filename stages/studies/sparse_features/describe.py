"""The "setup we ran" paragraph under the study's heading: each experiment the claims read, how it
differs from the public notebooks, its variants, and the probe's choices."""

from __future__ import annotations

import numpy as np

from .config import Config, DiagonalNetSetup

NOTEBOOKS = (
    "All printed numbers come from the public notebooks' printouts (tml-epfl/sgd-sparse-features, "
    "seed 0 of each); the paper's own tables could not be read here, so none is labelled as the "
    "paper's. The numbers earlier reports called Table 1 are the printout of diag_nets.ipynb cell 1 "
    "(the notebook was diag_nets_level_set_stabilization.ipynb before the repository renamed it)."
)
REPLAY = (
    "Replayed here (the public code on this machine, torch 2.13 CPU), the notebook's small-step "
    "run prints train 1.3538e-05 / test 6.0982e-04 against its 1.3538e-05 / 6.0982e-04, but its "
    "large-step runs (0.455) give test 1.62e-4 / 2.70e-4 / 1.20e-4 against the printed 1.62e-4 / "
    "1.38e-4 / 5.41e-5: in float32 those runs are chaotic, and only their order of magnitude "
    "carries from one machine to another."
)
DIFFERENCES = {
    "diag_net": (
        "Differences from the notebook (diag_nets_2d_loss_surface.ipynb): one data set per seed (the "
        "notebook has one, seed 0, which is our seed 0); the large step is chosen per data set by the "
        "probe instead of by hand and divided by 3 at T/2, the notebook's `gamma /= 3`."
    ),
    "diag_table1": (
        "Differences from the notebook (diag_nets.ipynb cell 1, which prints the numbers earlier "
        "reports called Table 1): the setting, the data recipe, the decay factors and the l0 "
        "threshold are the notebook's; seed 0 is its data set and SGD order. The notebook runs one "
        "data set; we run one per seed. Its steps (constant 0.25; 0.282 divided by 4.8 / 3.4 / 1.5 "
        "at 10 / 30 / 50%) were tuned on its data set and diverge on most of ours, so the judged "
        "variants take their large step from a per-data-set probe, keep the notebook's decay "
        "factors and use probe / 1.128 as the small constant step (0.25 = 0.282 / 1.128); a probed "
        "run that diverges is rerun at its data set's next lower step that passed the probe; the "
        "notebook's own steps run beside them on every data set, as references. The probe bisects "
        "between grid steps (resolution 0.0016) because l0 at 1e-50 drops only within ~3% of a data "
        "set's divergence edge. The decay comes after round(p·T) steps at the large step, one step "
        "earlier than the notebook's `i == threshold`. Sparsity is judged with the notebook's l0 "
        "(|u_i v_i| > 1e-50 in float64); effective non-zeros (||β||₁²/||β||₂²) are printed beside it."
    ),
    "diag_gd_stabilises": (
        "Differences from the notebook (diag_nets.ipynb cell 2, where GD with a large step "
        "stabilises too): its data recipe, decay factors and l0 threshold; large steps probed per "
        "data set (GD 3.53 and SGD 0.272 were tuned on seed 0), GD's small step probe / 1.765 (the "
        "notebook's 2.0 = 3.53 / 1.765). Full-batch GD costs about 300 times an SGD step here, so "
        "the default runs 8 data sets; profiles/paper.yaml runs 24."
    ),
    "relu_net": (
        "Differences from the notebook (fc_nets_two_layer.ipynb cell 1): none in the data (seed s is "
        "the notebook's seed s: inputs, teacher, student initialisation and SGD order drawn as the "
        "public code draws them), the precision (float32), the schedule (decay by 2, 4 and 5 at its "
        "steps 1412, 4237 and 7063) or the step count (14032, where its printed losses are taken); "
        "the notebook runs one data set, we run one per seed; its 0.455 was tuned on seed 0 and "
        "diverges on most other data sets, so the large step is probed per data set (up to 0.455, "
        "bisected between grid steps) and a run that diverges is rerun at its data set's next lower "
        "step that passed the probe; the small constant step is probe / 3.5 (0.13 = 0.455 / 3.5), "
        "and the notebook's own 0.13 runs beside it on every data set. " + REPLAY
    ),
}


def describe(config: Config, variants: list[str], probe: dict | None) -> str:
    lines = [NOTEBOOKS]
    for name in sorted({config.variants[v].experiment for v in variants}):
        setup = config.experiments[name]
        if isinstance(setup, DiagonalNetSetup):
            lines.append(
                f"- `{name}`: diagonal linear net beta = u⊙v (u0 = {setup.init_scale:g}·1, v0 = 0), "
                f"noiseless sparse regression, n = {setup.n_train}, d = {setup.dim}, "
                f"{setup.support} non-zeros, {setup.n_test} test points, float64, {setup.steps} "
                f"steps, loss ||X beta − y||²/(2n); data recipe `{setup.recipe}`, {setup.seeds} "
                f"seeds from {setup.first_seed} (data seed s, SGD order seed "
                f"s + {setup.sampling_seed_offset})."
            )
        else:
            lines.append(
                f"- `{name}`: two-layer ReLU net without biases, width {setup.student_width}, "
                f"teacher of width {setup.teacher_width} with unit-norm neurons and ±1 outputs, "
                f"inputs on the unit circle (d = {setup.dim}), n = {setup.n_train}, {setup.n_test} "
                f"test points, init W = {setup.init_scale:g}·N(0,1), a = 0, loss mean (f − y)², "
                f"{setup.precision}, {setup.steps} SGD steps with batch 1, {setup.seeds} seeds from "
                f"{setup.first_seed} (data seed s + 1, student and SGD order seed "
                f"s + {setup.sampling_seed_offset}), data recipe `{setup.recipe}`."
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
            f"range {lrs.min():.4g}–{lrs.max():.4g}, seed {config.experiments[experiment].first_seed}: "
            f"{lrs[0]:.4g}; data sets with no "
            f"stable grid step: {len(chosen['no_stable_step'])}"
            + (
                "; diverged runs are rerun at the next lower step that passed."
                if settings.rerun_diverged
                else "."
            )
        )
    return "\n".join(lines)
