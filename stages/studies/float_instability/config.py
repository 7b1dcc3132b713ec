"""The validated `float_instability` section of params.yaml.

`setup` holds the first seed and two experiments; each variant (one train instance) names one:
- cnn:   a small CNN with BatchNorm on scikit-learn digits, SGD with Nesterov momentum; `seeds` seeds,
         each trained as a baseline (k = 1), an unperturbed twin (k = 1 again: the bitwise precondition)
         and one copy per perturbation k, all in lockstep on identical augmented batches (F1);
- board: the one-layer checkerboard model in float64, full-batch GD with weight decay α, a grid of
         learning rates given as fractions of the stability bound 2/α, baseline and one perturbed
         copy per learning rate (F2, F3).
Every check runs before any compute and names the bad key, the value and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...common.params import ParamError, Section

EXPERIMENTS = ("cnn", "board")
ACTIVATIONS = {
    "relu": "max",
    "silu": "avg",
}  # activation -> pooling: ReLU + max-pool, or the smooth control
# The table's `seed` column numbers the runs of a variant (one per copy, or per η); the settings say which
# run it is: the seed of its initialisation and batches, its perturbation k, its η and α.
SETTING_COLUMNS = {
    "experiment": "string",
    "activation": "string",
    "init_seed": "int64",
    "perturbation": "int64",
    "lr": "float64",
    "weight_decay": "float64",
}
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")
VARIANT_KEYS = {
    "cnn": ("activation", "seeds", "perturbations"),
    "board": ("weight_decay", "lr_fractions_of_bound"),
}


@dataclass(frozen=True)
class CNNSetup:
    test_fraction: float
    split_seed: int
    channels: tuple[int, int]
    epochs: int
    batch: int
    lr: float
    momentum: float
    weight_decay: float
    shift_pixels: int
    average_epochs: int


@dataclass(frozen=True)
class BoardSetup:
    image_side: int
    square_side: int
    kernel_side: int
    steps: int
    checkpoint_every: int
    perturbation: int
    divergence_norm: float


@dataclass(frozen=True)
class Variant:
    name: str
    experiment: str
    activation: str = "swish"  # the board model's activation (Sun et al. §4)
    seeds: int = 1
    perturbations: tuple[int, ...] = ()  # cnn: the odd k besides the baseline k = 1
    weight_decay: float = 0.0  # board: α
    lr_fractions_of_bound: tuple[float, ...] = ()  # board: η / (2/α)

    @property
    def lrs(self) -> list[float]:
        return [fraction * 2 / self.weight_decay for fraction in self.lr_fractions_of_bound]


@dataclass(frozen=True)
class Config:
    first_seed: int
    cnn: CNNSetup
    board: BoardSetup
    variants: dict[str, Variant]


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup")
    setup.only("first_seed", *EXPERIMENTS)
    variants = {}
    for name, entry in section.sections("variants").items():
        if not VARIANT_NAME.fullmatch(name):
            raise ParamError(
                entry.path,
                name,
                "a variant name of letters, digits, _ and - (DVC keys are dotted paths)",
            )
        variants[name] = parse_variant(name, entry)
    return Config(
        setup.integer("first_seed", minimum=0),
        parse_cnn(setup.section("cnn")),
        parse_board(setup.section("board")),
        variants,
    )


def parse_cnn(section: Section) -> CNNSetup:
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
    return CNNSetup(
        section.fraction("test_fraction"),
        section.integer("split_seed", minimum=0),
        tuple(channels),
        epochs,
        section.integer("batch", minimum=1),
        section.number("lr", positive=True),
        section.number("momentum", low=0.0, high=1.0, open_interval=False),
        section.number("weight_decay", low=0.0),
        section.integer("shift_pixels", minimum=0),
        average,
    )


def parse_board(section: Section) -> BoardSetup:
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


def parse_variant(name: str, section: Section) -> Variant:
    experiment = section.choice("experiment", EXPERIMENTS)
    section.only("experiment", *VARIANT_KEYS[experiment])
    if experiment == "cnn":
        ks = section.raw("perturbations")
        if not isinstance(ks, list) or not ks or len(set(map(str, ks))) != len(ks):
            raise ParamError(
                section.key("perturbations"), ks, "a non-empty list of distinct odd integers >= 3"
            )
        for k in ks:
            perturbation(section, "perturbations", k)
        return Variant(
            name,
            experiment,
            section.choice("activation", tuple(ACTIVATIONS)),
            seeds=section.integer("seeds", minimum=2),
            perturbations=tuple(ks),
        )
    return Variant(
        name,
        experiment,
        weight_decay=section.number("weight_decay", positive=True),
        lr_fractions_of_bound=tuple(
            section.numbers("lr_fractions_of_bound", positive=True, increasing=True)
        ),
    )


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)
