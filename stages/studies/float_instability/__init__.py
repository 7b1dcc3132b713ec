"""Study float_instability: one-bit errors amplified by training, and the restrained regime.

Sun, Lao, Sundaramoorthi & Yezzi (NeurIPS 2022). Claims F1–F3 are in claims.yaml. The skeleton
(stages/common/study.py) plus: cnn (the lockstep CNN copies of F1), board (the one-layer model of
F2/F3).
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
