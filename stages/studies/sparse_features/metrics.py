"""The metric vocabulary the checks and the figures share: each experiment's loss names (which say
their normalisation) and its judged sparsity measure (a figure must not import the checks: an edit
to a check reruns only the report)."""

# The public code's own losses: the diagonal nets ||X beta − y||²/(2n) (½·MSE, diag_nets.py `loss`),
# the ReLU net mean (f − y)² (MSE without ½, fc_nets.py `train_fc_net`).
DIAGONAL_NETS = ("diag_net", "diag_table1", "diag_gd_stabilises")
TRAIN_LOSS = {**dict.fromkeys(DIAGONAL_NETS, "train_loss_half_mse"), "relu_net": "train_loss_mse"}
TEST_LOSS = {**dict.fromkeys(DIAGONAL_NETS, "test_loss_half_mse"), "relu_net": "test_loss_mse"}
LOSS_NAMES = {
    **dict.fromkeys(DIAGONAL_NETS, "½·mean squared error"),
    "relu_net": "mean squared error (no ½)",
}
# The judged sparsity measure per experiment: the notebooks' own l0 (|u_i v_i| > 1e-50, as
# diag_nets.ipynb prints it) where they print it; the threshold-free effective non-zeros in the
# 2-D setting, where the notebook prints none (and beside l0 at n=80, d=200); the feature sparsity
# coefficient of the ReLU net (fc_nets.py `feature_sparsity`).
SPARSITY_METRIC = {
    "diag_net": "effective_nonzeros",
    "diag_table1": "nonzeros_paper",
    "diag_gd_stabilises": "nonzeros_paper",
    "relu_net": "feature_sparsity",
}
SECOND_SPARSITY_METRIC = {"diag_table1": "effective_nonzeros"}
