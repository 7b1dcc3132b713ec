"""Study sparse_features: Andriushchenko, Varre, Pillaud-Vivien, Flammarion, "SGD with Large Step
Sizes Learns Sparse Features", ICML 2023 (arXiv 2210.05337).

Experiments: a diagonal linear network on sparse regression (§3) and a two-layer ReLU
teacher-student network (§4.1), each under a small constant step and a large step decayed at
several points, plus full-batch GD with the same shape (C4).
"""

from ...common.study import Study, lazy
from . import checks, config, describe, measure

STUDY = Study(
    name="sparse_features",
    citation="Andriushchenko, Varre, Pillaud-Vivien, Flammarion, SGD with Large Step Sizes Learns Sparse "
    "Features, ICML 2023 (arXiv 2210.05337); public code tml-epfl/sgd-sparse-features",
    parse=config.parse,
    variant_names=lambda cfg: list(cfg.variants),
    generate=lazy(f"{__name__}.runs", "generate"),
    probe=lazy(f"{__name__}.runs", "probe"),
    train=lazy(f"{__name__}.runs", "train"),
    measure=measure.measure,
    setting_columns=measure.SETTING_COLUMNS,
    figures=lazy(f"{__name__}.figures", "figures"),
    checks=checks.CHECKS,
    describe=describe.describe,
    loss_curve_metric="train_loss",
)
