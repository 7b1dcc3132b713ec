"""Study phantom_gradient: training implicit models with phantom gradients.

Geng, Zhang, Bai, Wang, Lin, "On Training Implicit Models", NeurIPS 2021. Claims P1–P3 are in
claims.yaml. The skeleton (stages/common/study.py) plus: anderson (the fixed-point solver),
implicit_layer (the equilibrium layer and its gradients: exact, unrolled and Neumann phantom
gradients, with cost counts), models (the dense and convolutional cells, the digits classifier),
direction (P1: cosines with the exact gradient at a checkpoint), backward_timing (P2: the
convolutional cell's backward passes, counted and timed) and table_rows (the table's rows that the
checks and the figures share).
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
    loss_curve_metric="train_loss_cross_entropy",
)
