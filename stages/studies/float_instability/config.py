"""The validated `float_instability` section of params.yaml, as frozen dataclasses.

    float_instability.setup.first_seed        Config.first_seed: the first seed of every experiment
    float_instability.setup.cnn               CNNSetup: the Table-1 analogue (Sun et al. §3, F1)
    float_instability.setup.board             BoardSetup: the one-layer model of §4 (F2, F3)
    float_instability.variants.cnn.<name>     CNNVariant: one activation, its seeds and perturbations
    float_instability.variants.board.<name>   BoardVariant: one weight decay α and its grid of η

- cnn:   a small CNN with BatchNorm on scikit-learn digits, SGD with Nesterov momentum; each seed is
         trained as a baseline (k = 1), an unperturbed twin (k = 1 again: the bitwise precondition)
         and one copy per perturbation k, all in lockstep on identical augmented batches;
- board: the checkerboard model in float64, full-batch GD with weight decay α over a grid of
         learning rates given as fractions of the stability bound 2/α; per η a baseline and one
         perturbed copy.
A variant name is unique across both experiments (claims.yaml names variants alone). Every check
runs before any compute and names the full key, the value and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ...common.params import ParamError, Section, require_memory

# the experiments: the groups of params.yaml's variants and the values of the table's `experiment`
CNN, BOARD = "cnn", "board"
EXPERIMENTS = (CNN, BOARD)
# the copies of one run (same seed, same batches), the values of the table's `copy`
BASELINE, TWIN, PERTURBED = "baseline", "twin", "perturbed"
POOLING = {"relu": "max", "silu": "avg"}  # a CNN's activation -> its pooling
SETTING_COLUMNS = {
    "experiment": "string",  # cnn or board
    "activation": "string",  # the nonlinearity: relu or silu (CNN), swish (the board model)
    # which copy the row measures: baseline (k = 1), twin (k = 1 again) or perturbed (k >= 3); a
    # comparison with the baseline (weight difference, disagreement, divergence) is the other copy's
    "copy": "string",
    "perturbation": "int64",  # k of that copy's update θ − (η·k)·(d/k)
    "lr": "float64",  # η: the CNN's SGD step, or one point of the board's grid
    "weight_decay": "float64",  # the CNN's L2 coefficient λ, or the board loss's α
}
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class CNNSetup:
    """float_instability.setup.cnn: the recipe every CNN variant shares (the paper's Table 1, on
    digits instead of CIFAR-10)."""

    test_fraction: float  # share of the 1,797 digits held out as the test split
    split_seed: int  # seed of the train/test split (not of the runs)
    channels: tuple[int, int]  # c1, c2: output channels of the two 3×3 conv layers
    epochs: int  # passes over the training split
    batch: int  # minibatch size (the paper's 128)
    lr: float  # η, the constant SGD learning rate (the paper's 0.1)
    momentum: float  # μ, Nesterov momentum (the paper's 0.9)
    weight_decay: float  # λ, L2 weight decay added to the gradient, g = ∇L + λθ (the paper's 5e-4)
    shift_pixels: int  # ±pixels of the random-shift augmentation, the same for every copy
    average_epochs: int  # test accuracy is averaged over these last epochs (the paper's 10)


@dataclass(frozen=True)
class BoardSetup:
    """float_instability.setup.board: the one-layer convolutional model of §4, CPU-sized."""

    image_side: int  # n: the ±1 checkerboard image I is n × n pixels (the paper's 256)
    square_side: int  # side of one ±1 square of I, in pixels
    kernel_side: int  # m: the kernel w is m × m (the paper's 32)
    steps: int  # full-batch gradient-descent steps per run
    checkpoint_every: int  # steps between saved kernels (the steps that are measured)
    perturbation: int  # k of the perturbed copy, odd >= 3 (the baseline is k = 1)
    divergence_norm: float  # a run counts as diverged once ‖w‖₂ exceeds this


@dataclass(frozen=True)
class CNNVariant:
    """float_instability.variants.cnn.<name>: one CNN, trained per seed as a baseline, its
    unperturbed twin and one copy per perturbation k, in lockstep (F1)."""

    experiment: ClassVar[str] = CNN
    name: str  # unique in the study
    activation: str  # relu (with max-pool: the judged network) or silu (avg-pool: smooth control)
    seeds: int  # number of seeds: first_seed, first_seed + 1, ... (initialisation and batch order)
    perturbations: tuple[int, ...]  # the distinct odd k >= 3 of the perturbed copies

    @property
    def pooling(self) -> str:
        return POOLING[self.activation]

    @property
    def copies(self) -> tuple[tuple[str, int], ...]:
        """(copy, k) of the copies trained per seed, in training order: the baseline k = 1, its
        unperturbed twin (k = 1 again), then each perturbation."""
        return ((BASELINE, 1), (TWIN, 1), *((PERTURBED, k) for k in self.perturbations))


@dataclass(frozen=True)
class BoardVariant:
    """float_instability.variants.board.<name>: one weight decay α and a grid of learning rates η
    below and beyond the bound 2/α; per η a baseline and one perturbed copy (F2, F3)."""

    experiment: ClassVar[str] = BOARD
    name: str  # unique in the study
    weight_decay: float  # α in L(w) = −log σ(mean swish(I ⊛ w)) + (α/2)·‖w‖²
    lr_fractions_of_bound: tuple[float, ...]  # the η grid as fractions η / (2/α), increasing

    @property
    def stability_bound(self) -> float:
        """2/α: the largest step at which the weight-decay term alone is stable (§4)."""
        return 2 / self.weight_decay

    @property
    def lrs(self) -> list[float]:
        """The η grid: fraction · 2/α, one run pair per η."""
        return [fraction * 2 / self.weight_decay for fraction in self.lr_fractions_of_bound]


Variant = CNNVariant | BoardVariant


@dataclass(frozen=True)
class Config:
    """The whole float_instability section: the shared setup of each experiment and the variants."""

    first_seed: int  # CNN seeds count up from it; the board's kernel is drawn with it
    cnn: CNNSetup
    board: BoardSetup
    variants: dict[str, Variant]  # by name, in params order (the cnn group, then the board group)


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup")
    setup.only("first_seed", *EXPERIMENTS)
    groups = section.section("variants")
    groups.only(*EXPERIMENTS)
    variants: dict[str, Variant] = {}
    for experiment, parse_variant in ((CNN, parse_cnn_variant), (BOARD, parse_board_variant)):
        for name, entry in groups.sections(experiment).items():
            if not VARIANT_NAME.fullmatch(name):
                raise ParamError(
                    entry.path,
                    name,
                    "a variant name of letters, digits, _ and - (DVC keys are dotted paths)",
                )
            if name in variants:
                raise ParamError(
                    entry.path,
                    name,
                    f"a variant name unused elsewhere in the study (claims.yaml names variants "
                    f"alone): {groups.key(variants[name].experiment)}.{name} has it",
                )
            variants[name] = parse_variant(name, entry)
    return Config(
        setup.integer("first_seed", minimum=0),
        parse_cnn_setup(setup.section(CNN)),
        parse_board_setup(setup.section(BOARD)),
        variants,
    )


def parse_cnn_setup(section: Section) -> CNNSetup:
    section.only(
        "test_fraction",
        "split_seed",
        "channels",
        "epochs",
        "batch",
        "lr",
        "momentum",
        "weight_decay",
        "shift_pixels",
        "average_epochs",
    )
    channels = section.raw("channels")
    if (
        not isinstance(channels, list)
        or len(channels) != 2
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)
    ):
        raise ParamError(
            section.key("channels"),
            channels,
            "two positive integers (channels of the two conv layers)",
        )
    epochs = section.integer("epochs", minimum=1)
    average = section.integer("average_epochs", minimum=1)
    if average > epochs:
        raise ParamError(section.key("average_epochs"), average, f"an integer <= epochs ({epochs})")
    batch = section.integer("batch", minimum=1)
    require_memory(  # one copy's weights and one batch's activations on 8 x 8 digits, float32
        section.path,
        4 * (9 * channels[0] * (1 + channels[1]) + batch * 64 * sum(channels)),
        "4 bytes x (9 c1 (1 + c2) + batch x 64 (c1 + c2))",
    )
    return CNNSetup(
        section.fraction("test_fraction"),
        section.integer("split_seed", minimum=0),
        tuple(channels),
        epochs,
        batch,
        section.number("lr", positive=True),
        section.number("momentum", low=0.0, high=1.0, open_interval=False),
        section.number("weight_decay", low=0.0),
        section.integer("shift_pixels", minimum=0),
        average,
    )


def parse_board_setup(section: Section) -> BoardSetup:
    section.only(
        "image_side",
        "square_side",
        "kernel_side",
        "steps",
        "checkpoint_every",
        "perturbation",
        "divergence_norm",
    )
    image = section.integer("image_side", minimum=2)
    kernel = section.integer("kernel_side", minimum=1)
    if kernel > image:
        raise ParamError(section.key("kernel_side"), kernel, f"an integer <= image_side ({image})")
    steps = section.integer("steps", minimum=1)
    every = section.integer("checkpoint_every", minimum=1)
    if every > steps:
        raise ParamError(section.key("checkpoint_every"), every, f"an integer <= steps ({steps})")
    require_memory(  # the image and its FFT buffers, and the kernels a run pair saves, float64
        section.path,
        8 * (4 * image**2 + 2 * (steps // every + 1) * kernel**2),
        "8 bytes x (4 image_side^2 + 2 (steps / checkpoint_every + 1) kernel_side^2)",
    )
    return BoardSetup(
        image,
        section.integer("square_side", minimum=1),
        kernel,
        steps,
        every,
        perturbation(section, "perturbation"),
        section.number("divergence_norm", positive=True),
    )


def perturbation(section: Section, key: str, value=None) -> int:
    value = section.raw(key) if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 3 or value % 2 == 0:
        raise ParamError(
            section.key(key),
            value,
            "an odd integer >= 3 (k = 1 is the baseline; powers of 2 are exact)",
        )
    return value


def parse_cnn_variant(name: str, section: Section) -> CNNVariant:
    section.only("activation", "seeds", "perturbations")
    ks = section.raw("perturbations")
    if not isinstance(ks, list) or not ks or len(set(map(str, ks))) != len(ks):
        raise ParamError(
            section.key("perturbations"), ks, "a non-empty list of distinct odd integers >= 3"
        )
    for k in ks:
        perturbation(section, "perturbations", k)
    return CNNVariant(
        name,
        section.choice("activation", tuple(POOLING)),
        section.integer("seeds", minimum=2),
        tuple(ks),
    )


def parse_board_variant(name: str, section: Section) -> BoardVariant:
    section.only("weight_decay", "lr_fractions_of_bound")
    return BoardVariant(
        name,
        section.number("weight_decay", positive=True),
        tuple(section.numbers("lr_fractions_of_bound", positive=True, increasing=True)),
    )


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)
