"""Study float_instability: one-bit errors amplified by training, and the restrained regime.

Sun, Lao, Sundaramoorthi & Yezzi (NeurIPS 2022). Claims F1–F3 are in claims.yaml. Modules, one job
each: config (params), data (digits split, checkerboard), cnn (the lockstep CNN copies of F1), board
(the one-layer model of F2/F3), training, measurement, claims, figures, describe. The perturbation
and the divergence measures are shared: stages/common/perturbation.py and divergence.py. Torch and
seaborn load lazily.
"""

from ...common.study import Study, lazy
from . import claims, config, describe

STUDY = Study(
    name="float_instability",
    citation=(
        "Sun, Lao, Sundaramoorthi, Yezzi, Surprising Instabilities in Training Deep Networks and a "
        "Theoretical Analysis, NeurIPS 2022 (code: sunyx523/surprising-instabilities)"
    ),
    parse=config.parse,
    variant_names=lambda cfg: list(cfg.variants),
    generate=lazy(f"{__name__}.data", "generate"),
    train=lazy(f"{__name__}.training", "train"),
    measure=lazy(f"{__name__}.measurement", "measure"),
    setting_columns=config.SETTING_COLUMNS,
    figures=lazy(f"{__name__}.figures", "figures"),
    checks=claims.CHECKS,
    describe=describe.describe,
    loss_curve_metric="train_loss",  # the CNN copies' train loss per epoch
)
