"""The validated `phantom_gradient` section of params.yaml.

`setup` holds the seeds, the digits split, the dense implicit model and its training (P1, P3), the
direction measurement (P1: cosine of each phantom gradient with the exact one, on a grid of k and λ)
and the convolutional cell of the timing claim (P2). Each variant names an experiment:
- dense: train the dense model on digits with one backward choice (exact, unrolled or neumann, with
  k steps and damping λ for the phantom forms; k = 1, λ = 1 is Jacobian-free backprop), and with
  `measure_direction` measure P1's cosines at its checkpoints;
- conv_timing: the convolutional cell's backward pass, exact against both phantom forms (k, λ).
Every check runs before any compute and names the bad key, the value and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...common.params import ParamError, Section
from .settings import FORMS, Backward, SolverSettings

DIGIT_PIXELS, CLASSES = 64, 10
SETTING_COLUMNS = {"experiment": "string", "backward": "string", "k": "int64", "damping": "float64"}
EXPERIMENTS = ("dense", "conv_timing")
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")  # DVC addresses params by dotted keys
MAX_SPECTRAL_NORM = 0.999  # the cap must leave f a contraction


@dataclass(frozen=True)
class Dense:
    width: int
    max_spectral_norm: float  # ‖W‖₂ is projected back to at most this after every step
    seeds: int
    epochs: int
    batch_size: int
    lr: float  # Adam
    checkpoint_every: int  # epochs between saved parameter vectors (epoch 0 and the last always)
    solver: SolverSettings  # forward and adjoint solves during training

    def checkpoint_epochs(self) -> list[int]:
        return sorted({*range(0, self.epochs + 1, self.checkpoint_every), self.epochs})


@dataclass(frozen=True)
class Direction:
    ks: tuple[int, ...]
    dampings: tuple[float, ...]
    examples: int  # the first `examples` training digits form the batch the gradients are taken on
    reference_solver: SolverSettings  # forward and adjoint solves of the exact reference
    spectral_samples: int  # examples whose ρ(J) is computed (dense eigenvalues)


@dataclass(frozen=True)
class ConvTiming:
    channels: int
    groups: int
    recurrent_gain: float
    batch_size: int
    seeds: int
    solver: SolverSettings
    warmup: int  # untimed rounds
    repeats: int  # timed rounds; every round times each backward once, interleaved


@dataclass(frozen=True)
class Variant:
    name: str
    experiment: str
    backward: Backward  # dense: the training gradient; conv_timing: the phantom timed against exact
    measure_direction: bool = (
        False  # dense: P1's cosines at this variant's checkpoints (measure's main cost)
    )


@dataclass(frozen=True)
class Config:
    first_seed: int
    test_fraction: float
    split_seed: int
    dense: Dense
    direction: Direction
    conv_timing: ConvTiming
    variants: dict[str, Variant]

    def seeds(self, count: int) -> list[int]:
        return list(range(self.first_seed, self.first_seed + count))


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup").only("first_seed", "data", "dense", "direction", "conv_timing")
    data = setup.section("data").only("test_fraction", "split_seed")
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
        data.fraction("test_fraction"),
        data.integer("split_seed", minimum=0),
        parse_dense(setup.section("dense")),
        parse_direction(setup.section("direction")),
        parse_conv(setup.section("conv_timing")),
        variants,
    )


def parse_solver(section: Section) -> SolverSettings:
    section.only("memory", "tolerance", "max_iterations")
    return SolverSettings(
        section.integer("memory", minimum=2),
        section.number("tolerance", positive=True, high=1e-2),
        section.integer("max_iterations", minimum=2),
    )


def parse_dense(section: Section) -> Dense:
    section.only(
        "width",
        "max_spectral_norm",
        "seeds",
        "epochs",
        "batch_size",
        "lr",
        "checkpoint_every",
        "solver",
    )
    epochs = section.integer("epochs", minimum=1)
    every = section.integer("checkpoint_every", minimum=1)
    if every > epochs:
        raise ParamError(section.key("checkpoint_every"), every, f"an integer <= epochs ({epochs})")
    return Dense(
        section.integer("width", minimum=1),
        section.number("max_spectral_norm", low=0.0, high=MAX_SPECTRAL_NORM, open_interval=True),
        section.integer("seeds", minimum=1),
        epochs,
        section.integer("batch_size", minimum=1),
        section.number("lr", positive=True),
        every,
        parse_solver(section.section("solver")),
    )


def parse_direction(section: Section) -> Direction:
    section.only("ks", "dampings", "examples", "reference_solver", "spectral_samples")
    ks = section.numbers("ks", positive=True, increasing=True)
    if not all(k == int(k) for k in ks) or len(ks) < 2:
        raise ParamError(
            section.key("ks"), section.raw("ks"), "at least two increasing positive integers"
        )
    dampings = section.numbers("dampings", positive=True, increasing=True)
    if max(dampings) > 1:
        raise ParamError(
            section.key("dampings"), section.raw("dampings"), "increasing numbers in (0, 1]"
        )
    examples = section.integer("examples", minimum=1)
    return Direction(
        tuple(int(k) for k in ks),
        tuple(dampings),
        examples,
        parse_solver(section.section("reference_solver")),
        section.integer("spectral_samples", minimum=1),
    )


def parse_conv(section: Section) -> ConvTiming:
    section.only(
        "channels", "groups", "recurrent_gain", "batch_size", "seeds", "solver", "warmup", "repeats"
    )
    channels, groups = section.integer("channels", minimum=1), section.integer("groups", minimum=1)
    if channels % groups:
        raise ParamError(section.key("groups"), groups, f"a divisor of channels ({channels})")
    return ConvTiming(
        channels,
        groups,
        section.number("recurrent_gain", positive=True),
        section.integer("batch_size", minimum=1),
        section.integer("seeds", minimum=1),
        parse_solver(section.section("solver")),
        section.integer("warmup", minimum=0),
        section.integer("repeats", minimum=1),
    )


def parse_variant(name: str, section: Section) -> Variant:
    experiment = section.choice("experiment", EXPERIMENTS)
    if experiment == "conv_timing":
        section.only("experiment", "k", "damping")
        return Variant(name, experiment, phantom(section, "unrolled"))
    form = section.choice("backward", FORMS)
    section.only(
        "experiment",
        "backward",
        "measure_direction",
        *(() if form == "exact" else ("k", "damping")),
    )
    return Variant(
        name,
        experiment,
        Backward("exact") if form == "exact" else phantom(section, form),
        section.boolean("measure_direction"),
    )


def phantom(section: Section, form: str) -> Backward:
    return Backward(form, section.integer("k", minimum=1), damping(section))


def damping(section: Section) -> float:
    """λ in (0, 1]: 1 is plain unrolling."""
    value = section.number("damping", positive=True)
    if value > 1:
        raise ParamError(section.key("damping"), value, "a number in (0, 1]")
    return value


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)
