"""The validated `float_instability` section of params.yaml, as frozen dataclasses.

    float_instability.setup.first_seed        Config.first_seed: the first seed of every experiment
    float_instability.setup.cnn               CNNSetup: the Table-1 analogue (Sun et al. §3, F1)
    float_instability.setup.board             BoardSetup: the one-layer model of §4 (F2, F3), with
                                              its named sizes (BoardSize)
    float_instability.variants.cnn.<name>     CNNVariant: one activation, its seeds and perturbations
    float_instability.variants.board.<name>   BoardVariant: one size, its weight decays α, an η grid

- cnn:   a small CNN with BatchNorm on scikit-learn digits, SGD with Nesterov momentum and the
         paper's step schedule; each seed is trained as a baseline (k = 1), an unperturbed twin
         (k = 1 again: the bitwise precondition and F1's control) and one copy per perturbation k,
         all in lockstep on identical augmented batches;
- board: the checkerboard model in float64, full-batch GD with weight decay α over a grid of
         learning rates given as fractions of the stability bound 2/α; per η a baseline and one
         perturbed copy.
A variant name is unique across both experiments (claims.yaml names variants alone). Every check
runs before any compute and names the full key, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...common.params import ParamError, Section, require_memory

# the experiments: the groups of params.yaml's variants and the values of the table's `experiment`
CNN, BOARD = "cnn", "board"
EXPERIMENTS = (CNN, BOARD)
# the copies of one run (same seed, same batches), the values of the table's `copy`
BASELINE, TWIN, PERTURBED = "baseline", "twin", "perturbed"
POOLING = {"relu": "max", "swish5": "avg"}  # a CNN's activation -> its pooling (swish5: x·σ(5x))
SETTING_COLUMNS = {
    "experiment": "string",  # cnn or board
    "activation": "string",  # relu or swish5 = x·σ(5x) (CNN); swish = x·σ(x) (the board model)
    # which copy the row measures: baseline (k = 1), twin (k = 1 again) or perturbed (k >= 3); a
    # comparison with the baseline (weight difference, disagreement, divergence) is the other copy's
    "copy": "string",
    "perturbation": "int64",  # k of that copy's update θ − (η·k)·(d/k)
    "lr": "float64",  # η: the CNN's SGD step, or one point of the board's grid
    "weight_decay": "float64",  # the CNN's L2 coefficient λ, or the board loss's α
    "image_side": "int64",  # the board model's n (null on CNN rows)
    "kernel_side": "int64",  # the board model's m (null on CNN rows)
}


@dataclass(frozen=True)
class CNNSetup:
    """float_instability.setup.cnn: the recipe every CNN variant shares (the paper's Table 1, on
    digits instead of CIFAR-10)."""

    test_fraction: float  # share of the 1,797 digits held out as the test split
    split_seed: int  # seed of the train/test split (not of the runs)
    channels: tuple[int, int]  # c1, c2: output channels of the two 3×3 conv layers
    epochs: int  # passes over the training split
    batch: int  # minibatch size (the paper's 128)
    lr: float  # η, the initial SGD learning rate (the paper's 0.1)
    lr_decay_factor: float  # η is divided by this at each of lr_decay_at (the paper's 10)
    lr_decay_at: tuple[float, ...]  # fractions of the epochs (the paper's 40/80/120/160 of 200)
    momentum: float  # μ, Nesterov momentum (the paper's 0.9)
    weight_decay: float  # λ, L2 weight decay added to the gradient, g = ∇L + λθ (the paper's 5e-4)
    shift_pixels: int  # ±pixels of the random-shift augmentation, the same for every copy
    average_epochs: int  # test accuracy is averaged over these last epochs (the paper's 10 of 200)


CONVOLUTIONS = ("circular", "valid")  # how the kernel meets the image (BoardSize.convolution)
# the kernel the descent starts from: N(0, 1/m²) from torch's generator seeded with first_seed
# (our small map), or the public code's own draw (single_layer/PySun.py: np.random.seed(7), then
# np.random.randn of the kernel's shape, N(0, 1))
INITIAL_KERNELS = ("scaled_normal", "public_code")
PUBLIC_CODE_SEED = 7  # single_layer/PySun.py: np.random.seed(7)


@dataclass(frozen=True)
class BoardSize:
    """float_instability.setup.board.sizes.<name>: one size of the one-layer model of §4."""

    image_side: int  # n: the ±1 checkerboard image I is n × n pixels (the paper's 256)
    square_side: int  # side of one ±1 square of I, in pixels (the paper's 1)
    kernel_side: int  # m: the kernel w is m × m (the paper's 32)
    convolution: str  # circular (n × n responses) or valid (the paper's (n − m + 1)², no padding)
    initial_kernel: str  # one of INITIAL_KERNELS
    steps: int  # full-batch gradient-descent steps per run (the paper's 1,000)
    checkpoint_every: int  # steps between saved kernels of both copies (trajectory difference)

    @property
    def label(self) -> str:
        return f"{self.image_side}×{self.image_side} {self.convolution}, {self.kernel_side}×{self.kernel_side} kernel"


@dataclass(frozen=True)
class BoardSetup:
    """float_instability.setup.board: what every one-layer run shares, and the model sizes."""

    perturbation: int  # k of the perturbed copy, odd >= 3 (the baseline is k = 1)
    divergence_norm: float  # a run counts as diverged once ‖w‖₂ exceeds this
    sizes: dict[str, BoardSize]  # by name


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
    """float_instability.variants.board.<name>: one model size, its weight decays α and one grid of
    learning rates η, given as fractions of each α's bound 2/α (below, at and beyond it); per (α, η)
    a baseline and one perturbed copy (F2, F3)."""

    experiment: ClassVar[str] = BOARD
    name: str  # unique in the study
    size: str  # a key of setup.board.sizes
    weight_decays: tuple[float, ...]  # α in L(w) = −log σ(mean swish(I ⋆ w)) + (α/2)·‖w‖²
    lr_fractions_of_bound: tuple[float, ...]  # the η grid as fractions η / (2/α), increasing

    @property
    def runs(self) -> list[tuple[float, float]]:
        """(α, η) of every run pair, α by α: η = fraction · 2/α."""
        return [
            (alpha, fraction * 2 / alpha)
            for alpha in self.weight_decays
            for fraction in self.lr_fractions_of_bound
        ]


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
    cnn, board = parse_cnn_setup(setup.section(CNN)), parse_board_setup(setup.section(BOARD))
    parsers = {
        CNN: parse_cnn_variant,
        BOARD: lambda name, entry: parse_board_variant(name, entry, board.sizes),
    }
    variants: dict[str, Variant] = {
        name: parsers[experiment](name, entry)
        for experiment, name, entry in section.variant_entries(EXPERIMENTS)
    }
    return Config(setup.integer("first_seed", minimum=0), cnn, board, variants)


def parse_cnn_setup(section: Section) -> CNNSetup:
    section.only(
        "test_fraction",
        "split_seed",
        "channels",
        "epochs",
        "batch",
        "lr",
        "lr_decay_factor",
        "lr_decay_at",
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
    decays = decay_fractions(section, "lr_decay_at")
    starts = [int(round(f * epochs)) for f in decays]
    if len(set(starts)) != len(starts) or min(starts) < 1:
        raise ParamError(
            section.key("lr_decay_at"),
            list(decays),
            f"fractions that fall on distinct epochs from 1 of {epochs} (they give {starts})",
        )
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
        section.number("lr_decay_factor", low=1.0),
        decays,
        section.number("momentum", low=0.0, high=1.0, open_interval=False),
        section.number("weight_decay", low=0.0),
        section.integer("shift_pixels", minimum=0),
        average,
    )


def decay_fractions(section: Section, key: str) -> tuple[float, ...]:
    fractions = section.numbers(key, positive=True, increasing=True)
    if fractions[-1] >= 1.0:
        raise ParamError(section.key(key), section.raw(key), "increasing fractions in (0, 1)")
    return tuple(fractions)


def parse_board_setup(section: Section) -> BoardSetup:
    section.only("perturbation", "divergence_norm", "sizes")
    sizes = {name: parse_board_size(entry) for name, entry in section.sections("sizes").items()}
    if not sizes:
        raise ParamError(section.key("sizes"), {}, "at least one named model size")
    return BoardSetup(
        perturbation(section, "perturbation"),
        section.number("divergence_norm", positive=True),
        sizes,
    )


def parse_board_size(section: Section) -> BoardSize:
    section.only(
        "image_side",
        "square_side",
        "kernel_side",
        "convolution",
        "initial_kernel",
        "steps",
        "checkpoint_every",
    )
    image = section.integer("image_side", minimum=2)
    square = section.integer("square_side", minimum=1)
    kernel = section.integer("kernel_side", minimum=1)
    convolution = section.choice("convolution", CONVOLUTIONS)
    period = 2 * square  # the checkerboard repeats every two squares
    if convolution == "circular" and image % period:
        raise ParamError(
            section.key("image_side"), image, f"a multiple of 2·square_side = {period} (circular)"
        )
    if kernel > image - (period - 1 if convolution == "valid" else 0):
        raise ParamError(
            section.key("kernel_side"),
            kernel,
            f"an integer <= image_side{' − 2·square_side + 1' if convolution == 'valid' else ''}"
            " (every window phase must occur)",
        )
    steps = section.integer("steps", minimum=1)
    every = section.integer("checkpoint_every", minimum=1)
    if every > steps:
        raise ParamError(section.key("checkpoint_every"), every, f"an integer <= steps ({steps})")
    windows = (2 * square) ** 2  # q: the distinct windows of the checkerboard (board.py)
    require_memory(  # the image, its windows, the kernels and responses a run pair saves, float64
        section.path,
        8
        * (
            image**2
            + windows * kernel**2
            + 2 * (steps // every + 1) * kernel**2
            + 2 * (steps + 1) * windows
        ),
        "8 bytes x (image_side^2 + q kernel_side^2 + 2 (steps / checkpoint_every + 1) "
        "kernel_side^2 + 2 (steps + 1) q), q = (2 square_side)^2",
    )
    return BoardSize(
        image,
        square,
        kernel,
        convolution,
        section.choice("initial_kernel", INITIAL_KERNELS),
        steps,
        every,
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


def parse_board_variant(name: str, section: Section, sizes: dict[str, BoardSize]) -> BoardVariant:
    section.only("size", "weight_decays", "lr_fractions_of_bound")
    alphas = section.numbers("weight_decays", positive=True, increasing=True)
    return BoardVariant(
        name,
        section.choice("size", tuple(sizes)),
        tuple(alphas),
        tuple(section.numbers("lr_fractions_of_bound", positive=True, increasing=True)),
    )


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)
