"""The study's setup, printed once under its heading in the report: each variant the claims read,
the paper's setting, and what differs."""

from __future__ import annotations

import math

from ...common.schedules import multi_step_rates
from .config import BoardVariant, CNNVariant, Config

DIGITS = 1797  # scikit-learn's digits
# main6.py: CIFAR-10's 50,000 training images in batches of 128, 200 epochs, the first decay at 40
PAPER_EPOCH_STEPS, PAPER_EPOCHS, PAPER_FIRST_DECAY = -(-50_000 // 128), 200, 40
PAPER_F1 = (
    "Paper (Table 1; public code instability/main6.py, scripts/mean_variance.py): ResNet-56 on "
    "CIFAR-10 with ReLU or Swish x·σ(5x), SGD lr 0.1 divided by 10 at epochs 40 / 80 / 120 / 160 of "
    "200, Nesterov 0.9, weight decay 5e-4, batch 128, float32 on GPU; k ∈ {1, 3, 5, 7, 9, 11}, six "
    "seeds; accuracy = mean test accuracy over the last 10 epochs; spread = population std across "
    "perturbations (seed fixed) and across seeds (perturbation fixed), called comparable."
)
PAPER_BOARD = (
    "Paper (§4; public code single_layer/PySun.py, PySun2.py): one 32×32 kernel, valid convolution "
    "on a 256×256 checkerboard of 1-pixel squares, Swish x·σ(x), mean pooling, sigmoid, binary "
    "cross-entropy, weight decay α = 20, 1,000 full-batch GD steps from the kernel of "
    "np.random.seed(7), float64, copies k = 1 and k = 3; η = 0.01, 0.03 stable, 0.05–0.09 "
    "restrained, 0.1 the bound 2/α, 0.11 and 0.13 beyond."
)
DIFFERENCES = {
    CNNVariant: [
        "network: a two-conv CNN with BatchNorm ({c1}/{c2} channels, thousands of parameters) instead "
        "of ResNet-56 (0.85 M); 16/32 channels and the paper's 200 epochs and 6 seeds in the paper "
        "profile (profiles/paper.yaml)",
        "data: scikit-learn 8×8 digits (≈1,400 train / 360 test; one test image = {image:.2f} "
        "points) instead of CIFAR-10 (50k / 10k); augmentation: ±1-pixel shifts shared by all "
        "copies instead of crops and flips",
        "length: {epochs} epochs with the paper's schedule scaled (the step divided by 10 from "
        "epochs {decays}) and accuracy averaged over the last {average} instead of 200 and the "
        "last 10; with {epoch_steps} minibatches per epoch that is {steps:,} SGD steps, {top_steps:,} "
        "of them at the largest step, against the paper's {paper_steps:,} and {paper_top_steps:,} "
        "(391 per epoch); CPU float32 with one thread instead of GPU float32",
        "the copies of one seed are computed side by side in one module; the unperturbed twin is "
        "our addition (the precondition that k = 1 copies stay bitwise identical, and F1's control)",
        "prediction disagreement (copy vs baseline, and seed vs seed) is judged beside the accuracy "
        "spread: it resolves far below one test image",
    ],
    BoardVariant: [
        "the loss is computed exactly from the checkerboard's distinct windows (it repeats every two "
        "squares) instead of a full convolution; the Hessian's extreme eigenvalues come from the "
        "same closed form at every step of the late half",
        "beside the paper's size, our small map (circular convolution, squares of 2, a 64×64 image, "
        "an 8×8 kernel, α = 0.5 and 1 below its α_min, α = 20 above it as F2's control)",
        "one perturbed copy (k = 3) per learning rate, as PySun2.py",
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
    activation = {"relu": "ReLU", "swish5": "Swish x·σ(5x)"}[v.activation]
    rates = multi_step_rates(c.lr, c.lr_decay_factor, c.lr_decay_at, c.epochs)
    return (
        f"`{v.name}`: CNN conv3×3({c.channels[0]})–BN–{activation}–{v.pooling}pool–"
        f"conv3×3({c.channels[1]})–BN–{activation}–{v.pooling}pool–linear, float32, digits split "
        f"{1 - c.test_fraction:.0%}/{c.test_fraction:.0%} (split seed {c.split_seed}); SGD lr "
        f"{c.lr:g} down to {rates[-1]:g} (÷{c.lr_decay_factor:g} at "
        f"{', '.join(f'{f:.0%}' for f in c.lr_decay_at)} of {c.epochs} epochs), Nesterov "
        f"{c.momentum:g}, weight decay {c.weight_decay:g}, batch {c.batch}, ±{c.shift_pixels}-pixel "
        f"shifts shared by all copies; seeds {config.first_seed}–{config.first_seed + v.seeds - 1}, "
        f"copies per seed k = {', '.join(str(k) for _, k in v.copies)} (the second k = 1 is the "
        f"twin); test accuracy (percent) = mean over the last {c.average_epochs} epochs."
    )


def board_text(config: Config, v: BoardVariant) -> str:
    b, size = config.board, config.board.sizes[v.size]
    start = (
        "the public code's kernel (np.random.seed(7), N(0, 1))"
        if size.initial_kernel == "public_code"
        else f"a kernel from N(0, 1/{size.kernel_side}²), seed {config.first_seed}"
    )
    fractions = ", ".join(f"{f:g}" for f in v.lr_fractions_of_bound)
    return (
        f"`{v.name}`: one-layer model, {size.image_side}×{size.image_side} checkerboard of "
        f"{size.square_side}-pixel squares, {size.kernel_side}×{size.kernel_side} kernel, "
        f"{size.convolution} convolution, from {start}; α = "
        f"{', '.join(f'{a:g}' for a in v.weight_decays)}, η = ({fractions}) × 2/α; {size.steps} GD "
        f"steps, baseline k = 1 and copy k = {b.perturbation}, both kernels every "
        f"{size.checkpoint_every} steps, λmax and λmin of the Hessian at every step of the late "
        f"half; diverged when ‖w‖ > {b.divergence_norm:g}."
    )


def describe(config: Config, variants: list[str], probe) -> str:
    lines = [f"- {variant_text(config, name)}" for name in variants]
    kinds = {type(config.variants[name]) for name in variants}
    c = config.cnn
    test_count = round(DIGITS * c.test_fraction)  # as stages/common/digits.split rounds it
    epoch_steps = math.ceil((DIGITS - test_count) / c.batch)  # the last minibatch may be short
    first_decay = int(round(c.lr_decay_at[0] * c.epochs))
    fill = {
        "c1": c.channels[0],
        "c2": c.channels[1],
        "image": 100 / test_count,
        "epoch_steps": epoch_steps,
        "steps": epoch_steps * c.epochs,
        "top_steps": epoch_steps * first_decay,
        "paper_steps": PAPER_EPOCH_STEPS * PAPER_EPOCHS,
        "paper_top_steps": PAPER_EPOCH_STEPS * PAPER_FIRST_DECAY,
        "epochs": c.epochs,
        "decays": ", ".join(str(int(round(f * c.epochs))) for f in c.lr_decay_at),
        "average": c.average_epochs,
    }
    for kind, paper in ((CNNVariant, PAPER_F1), (BoardVariant, PAPER_BOARD)):
        if kind in kinds:
            lines.append(f"- {paper}")
            lines.append(
                "- Differences from the paper: "
                + "; ".join(
                    f"({i}) {text.format(**fill)}" for i, text in enumerate(DIFFERENCES[kind], 1)
                )
                + "."
            )
    return "\n".join(lines)
