"""What the public notebooks print (tml-epfl/sgd-sparse-features, seed 0 of each), and rows that put
our seed 0 beside it: the numbers shown next to the verdicts, never judged.

Every number here is a notebook's printout, labelled by notebook and cell. The paper's own tables
and figures were not readable here, so nothing is labelled as the paper's Table 1: the numbers the
report used to call "Table 1" are diag_nets.ipynb's printout (the notebook was called
diag_nets_level_set_stabilization.ipynb before the repository renamed it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import per_seed
from .metrics import SPARSITY_METRIC, TEST_LOSS, TRAIN_LOSS

# diag_nets.ipynb cell 1 (n=80, d=200, r=20, 10^5 steps): decay point (None: constant) ->
# (the run, its train and test loss (½·MSE), its l0 at 1e-50)
DIAG_NETS_CELL1 = {
    None: ("SGD 0.25 constant", 1.4216162873995314e-06, 0.003528621943603826, 200),
    0.1: ("SGD 0.282, /4.8 at 10%", 6.255816023616457e-05, 0.0006594051602101788, 156),
    0.3: ("SGD 0.282, /3.4 at 30%", 5.97536626918197e-05, 0.0002847392808476946, 89),
    0.5: ("SGD 0.282, /1.5 at 50%", 6.698997999358844e-05, 0.00015373111459504016, 71),
}
# diag_nets.ipynb cell 2 (n=40, d=100, r=20, 10^5 steps): (optimizer, decay point) -> the same fields
DIAG_NETS_CELL2 = {
    ("gd", None): ("GD 2.0 constant", 4.429638872090642e-34, 0.16824144824688475, 100),
    ("gd", 0.1): ("GD 3.53, /4.8 at 10%", 7.2084668923497655e-31, 0.44924758807701687, 86),
    ("gd", 0.3): ("GD 3.53, /3.4 at 30%", 2.655953689807218e-31, 0.4380760171039043, 80),
    ("gd", 0.5): ("GD 3.53, /1.5 at 50%", 2.330375232708555e-33, 0.49728716986921523, 78),
    ("sgd", 0.5): ("SGD 0.272, /20 at 50%", 0.0008896430460425727, 0.03851229274577084, 33),
}
# diag_nets_2d_loss_surface.ipynb (n=20, d=30, r=3, 10^4 steps): (optimizer, decay point) ->
# (the run, its train and test loss (½·MSE))
DIAG_NETS_2D = {
    ("gd", None): ("GF (GD 0.03)", 4.902335457375223e-06, 0.014909591370857017),
    ("gd", 0.5): ("GD 3.0, /3 at T/2", 1.6436803027068225e-10, 0.12648761921433635),
    ("sgd", 0.5): ("SGD 0.6, /3 at T/2", 3.8729665455897834e-08, 3.982127812000106e-08),
}
# fc_nets_two_layer.ipynb cell 1 (n=15, d=2, m=20, 14126 steps, losses at step 14032): decay point
# (None: constant) -> (the run, its train and test loss (MSE, no ½))
FC_NETS_TWO_LAYER = {
    None: ("SGD 0.13 constant", 1.353839979856275e-05, 0.000609822163823992),
    0.1: ("SGD 0.455, /2 at 10%", 1.0185355677094776e-05, 0.0001622068084543571),
    0.3: ("SGD 0.455, /4 at 30%", 1.1195015758858062e-05, 0.0001382110349368304),
    0.5: ("SGD 0.455, /5 at 50%", 1.1127009202027693e-05, 5.4106094466988e-05),
}


def _point(decay_at) -> float | None:
    """A decay point as the printouts key it (10, 30 or 50%); None for a constant step."""
    return None if pd.isna(decay_at) else round(float(decay_at), 1)


def _seed0(table: pd.DataFrame, variant: str, metric: str) -> float:
    """Seed 0's value at the last step (NaN where the run diverged)."""
    return float(per_seed.final(table, variant, metric).get(0, np.nan))


def _ours(table: pd.DataFrame, variant: str, experiment: str, l0: bool) -> str:
    """Seed 0 of `variant`: its large step, train and test loss (and l0), or that it diverged."""
    rows = table[(table.variant == variant) & (table.metric == "lr_large") & (table.seed == 0)]
    step = float(rows.value.iloc[0]) if len(rows) else np.nan
    train = _seed0(table, variant, TRAIN_LOSS[experiment])
    if not np.isfinite(train):
        return f"diverged (large step {step:.4g})"
    text = f"step {step:.4g}: train {train:.4g}, test {_seed0(table, variant, TEST_LOSS[experiment]):.4g}"
    if l0:
        text += f", l0 {_seed0(table, variant, SPARSITY_METRIC[experiment]):.0f}"
    return text


def seed0_rows(table: pd.DataFrame, settings: pd.DataFrame) -> list[dict]:
    """For every variant of the claim whose experiment has a printout: our seed 0 (with the large
    step it used: the notebook's where the variant's step is fixed, else the probe's) beside the
    notebook's printed run of the same schedule."""
    rows = []
    for variant, row in settings.iterrows():
        experiment, point = row.experiment, _point(row.decay_at)
        if experiment == "diag_table1":
            printed, source, l0 = DIAG_NETS_CELL1.get(point), "diag_nets.ipynb cell 1", True
        elif experiment == "diag_gd_stabilises":
            printed = DIAG_NETS_CELL2.get((row.optimizer, point))
            source, l0 = "diag_nets.ipynb cell 2", True
        elif experiment == "diag_net":
            printed = DIAG_NETS_2D.get((row.optimizer, point))
            source, l0 = "diag_nets_2d_loss_surface.ipynb", False
        else:
            printed, source, l0 = (
                FC_NETS_TWO_LAYER.get(point),
                "fc_nets_two_layer.ipynb cell 1",
                False,
            )
        if printed is None:
            continue
        label, train, test, *sparsity = printed
        rows.append(
            {
                "seed 0": f"{variant} ({row.large_step} step)",
                "ours": _ours(table, variant, experiment, l0),
                "notebook printout": f"{label}: train {train:.4g}, test {test:.4g}"
                + (f", l0 {sparsity[0]}" if sparsity else "")
                + f" ({source})",
            }
        )
    return rows


def reference_rows(table: pd.DataFrame, settings: pd.DataFrame, experiment: str) -> list[dict]:
    """The notebook's own (fixed) steps on every data set: how often they diverge there and the
    medians over the runs that did not (shown, not judged)."""
    rows = []
    fixed = settings[(settings.experiment == experiment) & (settings.large_step == "fixed")]
    for variant in fixed.sort_values("decay_at", na_position="first").index:
        lost = per_seed.diverged(table, variant)
        test = per_seed.final(table, variant, TEST_LOSS[experiment])
        sparsity = per_seed.final(table, variant, SPARSITY_METRIC[experiment])
        rows.append(
            {
                "seed 0": f"{variant} on every data set",
                "ours": f"diverged {int(lost.sum())} of {len(lost)}; survivors' median test "
                f"{test.median():.3g}, {SPARSITY_METRIC[experiment]} {sparsity.median():.3g}",
                "notebook printout": "(one data set: see its seed-0 row)",
            }
        )
    return rows
