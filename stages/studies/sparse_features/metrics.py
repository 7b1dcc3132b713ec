"""The metric vocabulary the checks and the figures share: each experiment's loss normalisation and
its judged sparsity measure (a figure must not import the checks: an edit to a check reruns only the
report)."""

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
