"""Study phantom_gradient: training implicit models with phantom gradients.

Geng, Zhang, Bai, Wang, Lin, "On Training Implicit Models", NeurIPS 2021. Claims P1–P3 are in
claims.yaml. Modules, one job each: config (params), solver (Anderson), implicit (the equilibrium
layer and its backward choices: exact, unrolled and Neumann phantom gradients, with cost counts),
cells (dense and convolutional cells), data (the digits split), training (dense model, P1/P3 runs),
timing (the convolutional cell's backward passes, P2), direction (cosines with the exact gradient),
measurement, claims, figures, describe. Torch and seaborn load lazily.
"""

from ...common.study import Study, lazy
from . import claims, config, describe

STUDY = Study(
    name="phantom_gradient",
    citation=(
        "Geng, Zhang, Bai, Wang, Lin, On Training Implicit Models, NeurIPS 2021 (arXiv 2111.05177; code: "
        "Gsunshine/phantom_grad, the method also in locuslab/torchdeq)"
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
    loss_curve_metric="train_loss",
)
