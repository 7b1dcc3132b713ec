"""The metric vocabulary the checks and the figures share: each experiment's loss names (which say
their normalisation) and its judged sparsity measure (a figure must not import the checks: an edit
to a check reruns only the report)."""

# The public code's own losses: the diagonal nets ||X beta − y||²/(2n) (½·MSE, diag_nets.py `loss`),
# the ReLU net mean (f − y)² (MSE without ½, fc_nets.py `train_fc_net`).
TRAIN_LOSS = {
    "diag_net": "train_loss_half_mse",
    "diag_table1": "train_loss_half_mse",
    "relu_net": "train_loss_mse",
}
TEST_LOSS = {
    "diag_net": "test_loss_half_mse",
    "diag_table1": "test_loss_half_mse",
    "relu_net": "test_loss_mse",
}
LOSS_NAMES = {
    "diag_net": "½·mean squared error",
    "diag_table1": "½·mean squared error",
    "relu_net": "mean squared error (no ½)",
}
# The judged sparsity measure per experiment. At the paper's Table 1 setting it is the paper's own l0
# (|u_i v_i| > 1e-50, Table 1); effective non-zeros stay beside it as a second, threshold-free number.
SPARSITY_METRIC = {
    "diag_net": "effective_nonzeros",
    "diag_table1": "nonzeros_paper",
    "relu_net": "feature_sparsity",
}
SECOND_SPARSITY_METRIC = {"diag_table1": "effective_nonzeros"}
