"""Study edge_of_stability: progressive sharpening, the edge of stability and self-stabilization.

Cohen, Kaur, Li, Kolter & Talwalkar (ICLR 2021); Damian, Nichani & Lee (ICLR 2023); Wu & Su
(ICML 2023). Claims E1–E4 are in claims.yaml. The skeleton (stages/common/study.py) plus: mlp
(the digits MLP on a flat θ), objectives (the losses each experiment descends), descent (GD,
gradient flow, the search for the edge), constrained_trajectory (θ†), predicted_dynamics (Damian
et al.'s predicted deviation from θ† and its second-order twin), tracking (GD, θ†, the predictions
and the flow from the edge in one loop), cubic_toy (Damian et al.'s two-variable model),
diagonal_net (Wu & Su's diagonal linear net and its batched SGD).
"""

from ...common.study import Study
from .config import SETTING_COLUMNS

STUDY = Study(
    name="edge_of_stability",
    citation=(
        "Cohen, Kaur, Li, Kolter, Talwalkar, Gradient Descent on Neural Networks Typically Occurs at the Edge "
        "of Stability, ICLR 2021 (code: locuslab/edge-of-stability); Damian, Nichani, Lee, Self-Stabilization: "
        "The Implicit Bias of Gradient Descent at the Edge of Stability, ICLR 2023 (code: adamian98/EOS); "
        "Wu & Su, The Implicit Regularization of Dynamical Stability in SGD, ICML 2023"
    ),
    setting_columns=SETTING_COLUMNS,
    loss_curve_metric="loss_half_mse",
)
