"""Study phantom_gradient: training implicit models with phantom gradients.

Geng, Zhang, Bai, Wang, Lin, "On Training Implicit Models", NeurIPS 2021. Claims P1–P3 are in
claims.yaml. The skeleton (stages/common/study.py) plus: solver (Anderson), implicit (the
equilibrium layer and its backward choices: exact, unrolled and Neumann phantom gradients, with
cost counts), cells (dense and convolutional cells), timing (the convolutional cell's backward
passes, P2), direction (cosines with the exact gradient).
"""

from ...common.study import Study
from .config import SETTING_COLUMNS

STUDY = Study(
    name="phantom_gradient",
    citation=(
        "Geng, Zhang, Bai, Wang, Lin, On Training Implicit Models, NeurIPS 2021 (arXiv 2111.05177; code: "
        "Gsunshine/phantom_grad, the method also in locuslab/torchdeq)"
    ),
    setting_columns=SETTING_COLUMNS,
    loss_curve_metric="train_loss",
)
