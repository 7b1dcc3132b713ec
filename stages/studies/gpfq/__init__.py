"""Study gpfq: post-training quantization with the greedy path-following quantizer (GPFQ).

Zhang, Zhou & Saab (SIMODS 2023); Lybrand & Saab (JMLR 2021). Claims G1–G3 are in claims.yaml.
Modules, one job each: quantizer (GPFQ, MSQ, alphabets, bias correction, errors), models (MLP and
CNN as layer lists; convolutions as unfolded patches), network_quantization (layer by layer on the
quantized network's own inputs), config (params), data (digits or local MNIST IDX), training (float
networks, the single-layer sweep, the quantization grid), measurement, checks, figures, describe.
Float networks are variants of their own; quantization variants read their runs (`train_reads`).
Torch and seaborn load lazily.
"""

from ...common.study import Study, lazy
from . import checks, config, describe

STUDY = Study(
    name="gpfq",
    citation=(
        "Zhang, Zhou, Saab, Post-training Quantization for Neural Networks with Provable Guarantees, SIAM J. "
        "Math. Data Sci. 5(2), 2023 (arXiv 2201.11113; code: YixuanSeanZhou/Quantized_Neural_Nets); Lybrand & "
        "Saab, A Greedy Algorithm for Quantizing Neural Networks, JMLR 22, 2021 (code: "
        "elybrand/quantized_neural_networks)"
    ),
    parse=config.parse,
    variant_names=config.variant_names,
    generate=lazy(f"{__name__}.data", "generate"),
    train=lazy(f"{__name__}.training", "train"),
    measure=lazy(f"{__name__}.measurement", "measure"),
    train_reads=config.train_reads,
    setting_columns=config.SETTING_COLUMNS,
    figures=lazy(f"{__name__}.figures", "figures"),
    checks=checks.CHECKS,
    describe=describe.describe,
    loss_curve_metric="train_loss",
)
