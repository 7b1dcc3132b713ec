"""The "setup we ran" paragraph of each claim's report section, and the paper's setting beside ours."""

from __future__ import annotations

from .config import BoardVariant, CNNVariant, Config

PAPER_F1 = (
    "Paper (Table 1): ResNet-56 on CIFAR-10, SGD lr 0.1, Nesterov 0.9, weight decay 5e-4, batch 128, "
    "200 epochs, float32 on GPU; k ∈ {1, 3, 5, 7, 9, 11}; spread = population std of the mean test "
    "accuracy over the last 10 epochs, across perturbations (seed fixed) and across seeds (perturbation "
    "fixed); the two spreads are of the same size (tenths of a percent)."
)
PAPER_F2 = (
    "Paper (§4): one 32×32 convolution kernel on a 256×256 ±1 checkerboard, Swish, mean pooling, "
    "sigmoid, binary cross-entropy, weight decay α, full-batch GD, float64; stable for small η, restrained "
    "(bounded loss, perturbation amplified to order one) in a band below the bound 2/α, divergent beyond."
)
DIFFERENCES = {
    CNNVariant: [
        "network: a two-conv CNN with BatchNorm (thousands of parameters) instead of ResNet-56 (0.85 M)",
        "data: scikit-learn 8×8 digits (≈1,400 train / 360 test) instead of CIFAR-10 (50k / 10k); "
        "augmentation: ±1-pixel shifts (shared by all copies) instead of crops and flips",
        "length: tens of epochs instead of 200; CPU float32 with one thread instead of GPU float32",
        "seeds × perturbations: fewer seeds than the paper's table; the unperturbed twin is our addition "
        "(it tests the precondition that k = 1 copies stay bitwise identical)",
    ],
    BoardVariant: [
        "image {image}×{image} with a {kernel}×{kernel} kernel instead of 256×256 with 32×32 (CPU time); "
        "checkerboard squares of {square} pixels",
        "weight decay α chosen so that the model has a non-trivial minimum at this size; learning rates "
        "given as fractions of the bound 2/α",
        "one perturbed copy (one k) per learning rate, float64 as the paper's analysis",
    ],
}


def variant_text(config: Config, name: str) -> str:
    match config.variants[name]:
        case CNNVariant() as v:
            return cnn_text(config, v)
        case BoardVariant() as v:
            return board_text(config, v)


def cnn_text(config: Config, v: CNNVariant) -> str:
    c = config.cnn
    role = "judged" if v.activation == "relu" else "smooth network, shown, not judged"
    return (
        f"`{v.name}` ({role}): CNN conv3×3({c.channels[0]})–BN–{v.activation}–{v.pooling}pool–conv3×3({c.channels[1]})–"
        f"BN–{v.activation}–{v.pooling}pool–linear, float32, digits split {1 - c.test_fraction:.0%}/"
        f"{c.test_fraction:.0%} (split seed {c.split_seed}); SGD lr {c.lr:g}, Nesterov {c.momentum:g}, "
        f"weight decay {c.weight_decay:g}, batch {c.batch}, {c.epochs} epochs, ±{c.shift_pixels}-pixel shifts "
        f"shared by all copies; seeds {config.first_seed}–{config.first_seed + v.seeds - 1}, copies per "
        f"seed k = {', '.join(str(k) for _, k in v.copies)} (the second k = 1 is the twin); test accuracy "
        f"(percent) = mean over the last {c.average_epochs} epochs."
    )


def board_text(config: Config, v: BoardVariant) -> str:
    b = config.board
    return (
        f"`{v.name}`: one-layer model, α = {v.weight_decay:g} (2/α = {v.stability_bound:g}), η = "
        f"{', '.join(f'{lr:g}' for lr in v.lrs)}; {b.image_side}×{b.image_side} checkerboard (squares of "
        f"{b.square_side}), {b.kernel_side}×{b.kernel_side} kernel from N(0, 1/{b.kernel_side}²) seed "
        f"{config.first_seed}, {b.steps} GD steps, baseline k = 1 and copy k = {b.perturbation}, checkpoints "
        f"every {b.checkpoint_every} steps; sharpness by the exact {b.kernel_side**2}×{b.kernel_side**2} "
        f"Hessian over the late half; diverged when ‖w‖ > {b.divergence_norm:g}."
    )


def describe(config: Config, variants: list[str], probe) -> str:
    lines = [f"- {variant_text(config, name)}" for name in variants]
    kinds = {type(config.variants[name]) for name in variants}
    for kind, paper in ((CNNVariant, PAPER_F1), (BoardVariant, PAPER_F2)):
        if kind in kinds:
            lines.append(f"- {paper}")
            sizes = {
                "image": config.board.image_side,
                "kernel": config.board.kernel_side,
                "square": config.board.square_side,
            }
            lines.append(
                "- Differences from the paper: "
                + "; ".join(
                    f"({i}) {text.format(**sizes)}" for i, text in enumerate(DIFFERENCES[kind], 1)
                )
                + "."
            )
    return "\n".join(lines)
