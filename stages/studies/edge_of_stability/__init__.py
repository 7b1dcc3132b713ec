"""Study edge_of_stability: progressive sharpening, the edge of stability and self-stabilization.

Cohen, Kaur, Li, Kolter & Talwalkar (ICLR 2021); Damian, Nichani & Lee (ICLR 2023); Wu & Su
(ICML 2023). Claims E1–E4 are in claims.yaml. Modules, one job each: config (params), data
(digits, Cohen's loss), models (MLP and diagonal net on a flat θ), descent (GD, gradient flow, the
search for the edge), constrained (θ†), toy (the cubic model), diagonal (batched SGD), training,
measurement, claims, figures, describe. Torch and seaborn load lazily (stages that only parse or
check never import them).
"""

from ...common.study import Study, lazy
from . import claims, config, describe

STUDY = Study(
    name="edge_of_stability",
    citation=(
        "Cohen, Kaur, Li, Kolter, Talwalkar, Gradient Descent on Neural Networks Typically Occurs at the Edge "
        "of Stability, ICLR 2021 (code: locuslab/edge-of-stability); Damian, Nichani, Lee, Self-Stabilization: "
        "The Implicit Bias of Gradient Descent at the Edge of Stability, ICLR 2023 (code: adamian98/EOS); "
        "Wu & Su, The Implicit Regularization of Dynamical Stability in SGD, ICML 2023"
    ),
    parse=config.parse,
    variant_names=lambda cfg: list(cfg.variants),
    generate=lazy(f"{__name__}.data", "generate"),
    train=lazy(f"{__name__}.training", "train"),
    measure=lazy(f"{__name__}.measurement", "measure"),
    measure_reads=config.measure_reads,
    setting_columns=config.SETTING_COLUMNS,
    figures=lazy(f"{__name__}.figures", "figures"),
    checks=claims.CHECKS,
    describe=describe.describe,
    loss_curve_metric="loss_half_mse",
)
