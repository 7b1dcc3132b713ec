"""Study float_instability: one-bit errors amplified by training, and the restrained regime.

Sun, Lao, Sundaramoorthi & Yezzi (NeurIPS 2022). Claims F1–F3 are in claims.yaml. The skeleton
(stages/common/study.py) plus: perturbed_sgd (the k-scaled update that injects the one-bit error),
cnn (the lockstep CNN copies of F1), board (the one-layer model of F2/F3), copy_divergence (how far
apart two copies end up) and summaries (the table reductions that checks and figures share).
"""

from ...common.study import Study
from .config import SETTING_COLUMNS

STUDY = Study(
    name="float_instability",
    citation=(
        "Sun, Lao, Sundaramoorthi, Yezzi, Surprising Instabilities in Training Deep Networks and a "
        "Theoretical Analysis, NeurIPS 2022 (code: sunyx523/surprising-instabilities)"
    ),
    setting_columns=SETTING_COLUMNS,
    loss_curve_metric="train_loss",
)
