"""Study sparse_features: Andriushchenko, Varre, Pillaud-Vivien, Flammarion, "SGD with Large Step
Sizes Learns Sparse Features", ICML 2023 (arXiv 2210.05337).

Experiments: a diagonal linear network on sparse regression (§3) and a two-layer ReLU
teacher-student network (§4.1), each under a small constant step and a large step decayed at
several points, plus full-batch GD with the same shape (C4). The skeleton (stages/common/study.py)
plus: diag_net and diag_sgd_kernel (the diagonal net in torch and as a compiled SGD loop), relu_net,
batched_snapshots (parameters of batched runs at evaluation steps, divergence as data), sparsity
(the paper's sparsity measures), metrics (the metric names checks and figures share) and per_seed
(per-seed values of a variant from the table, the checks' inputs).
"""

from ...common.study import Study
from .config import SETTING_COLUMNS

STUDY = Study(
    name="sparse_features",
    citation="Andriushchenko, Varre, Pillaud-Vivien, Flammarion, SGD with Large Step Sizes Learns Sparse "
    "Features, ICML 2023 (arXiv 2210.05337); public code tml-epfl/sgd-sparse-features",
    setting_columns=SETTING_COLUMNS,
    loss_curve_metric="train_loss_half_mse",  # the diagonal nets; the ReLU net's is MSE
    probes=True,
)
