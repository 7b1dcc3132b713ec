"""Study gpfq: post-training quantization with the greedy path-following quantizer (GPFQ).

Zhang, Zhou & Saab (SIMODS 2023); Lybrand & Saab (JMLR 2021). Claims G1–G3 are in claims.yaml.
The skeleton (stages/common/study.py) plus: quantizer (GPFQ, MSQ, alphabets, bias correction,
errors), models (MLP and CNN as layer lists; convolutions as unfolded patches),
network_quantization (layer by layer on the quantized network's own inputs), idx_datasets (MNIST
from local IDX files), summaries (table reductions the checks and figures share). Float networks
are variants of their own; quantization variants read their runs (config.train_reads).
"""

from ...common.study import Study
from .config import SETTING_COLUMNS

STUDY = Study(
    name="gpfq",
    citation=(
        "Zhang, Zhou, Saab, Post-training Quantization for Neural Networks with Provable Guarantees, SIAM J. "
        "Math. Data Sci. 5(2), 2023 (arXiv 2201.11113; code: YixuanSeanZhou/Quantized_Neural_Nets); Lybrand & "
        "Saab, A Greedy Algorithm for Quantizing Neural Networks, JMLR 22, 2021 (code: "
        "elybrand/quantized_neural_networks)"
    ),
    setting_columns=SETTING_COLUMNS,
    loss_curve_metric="train_loss",
)
