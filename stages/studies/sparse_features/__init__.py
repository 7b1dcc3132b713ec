"""Study sparse_features: Andriushchenko, Varre, Pillaud-Vivien, Flammarion, "SGD with Large Step
Sizes Learns Sparse Features", ICML 2023 (arXiv 2210.05337).

Experiments: a diagonal linear network on sparse regression (§3) and a two-layer ReLU
teacher-student network (§4.1), each under a small constant step and a large step decayed at
several points, plus full-batch GD with the same shape (C4), all at the public notebooks' settings.
The skeleton (stages/common/study.py) plus: diag_net, diag_sgd_kernel and diag_gd_kernel (the
diagonal net in torch and as compiled SGD and GD loops), relu_net, public_code_draws (the public
code's torch draws for the ReLU net), batched_snapshots (parameters of batched runs at evaluation
steps, divergence as data), sparsity (the paper's sparsity measures), metrics (the metric names
checks and figures share), per_seed (per-seed values of a variant from the table, the checks'
inputs), orderings (C3's matched training loss and per-seed orders) and printouts (the notebooks'
printed numbers, beside our seed 0).
"""

from ...common.study import Study
from .config import SETTING_COLUMNS

STUDY = Study(
    name="sparse_features",
    citation="Andriushchenko, Varre, Pillaud-Vivien, Flammarion, SGD with Large Step Sizes Learns Sparse "
    "Features, ICML 2023 (arXiv 2210.05337); public code tml-epfl/sgd-sparse-features",
    setting_columns=SETTING_COLUMNS,
    loss_curve_metric="train_loss_half_mse",  # the diagonal nets'; the ReLU net's is train_loss_mse
    probes=True,
)
