"""Study edge_of_stability: progressive sharpening, the edge of stability and self-stabilization.

Cohen, Kaur, Li, Kolter & Talwalkar (ICLR 2021); Damian, Nichani & Lee (ICLR 2023); Wu & Su
(ICML 2023). Claims E1–E4 are in claims.yaml; the modules, one job each:
data (digits, Cohen's loss), models (MLP and diagonal net on flat θ), descent (GD, gradient flow,
the search for the edge), constrained (θ†), toy (the cubic model), diagonal (batched SGD),
training, measurement, claims, figures, describe, config (params).
"""
from stages.common.study import Study

from .claims import CHECKS
from .config import parse
from .data import generate
from .describe import describe
from .figures import figures
from .measurement import measure, measure_reads
from .training import train

STUDY = Study(
    name="edge_of_stability",
    citation=("Cohen et al., Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability, ICLR 2021; "
              "Damian, Nichani & Lee, Self-Stabilization: The Implicit Bias of Gradient Descent at the Edge of "
              "Stability, ICLR 2023; Wu & Su, The Implicit Regularization of Dynamical Stability in SGD, ICML 2023"),
    parse=parse,
    variant_names=lambda config: list(config.variants),
    generate=generate,
    train=train,
    measure=measure,
    setting_columns={"method": "string", "lr": "float64"},
    figures=figures,
    checks=CHECKS,
    describe=describe,
    loss_curve_metric="loss_half_mse",
    extra={"measure_reads": measure_reads},
)
