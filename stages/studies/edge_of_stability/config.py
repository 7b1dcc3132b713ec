"""The study's params section, validated in full before any compute.

Each variant is one train instance and names its `kind`:
- gd:               full-batch GD on a digits MLP from initialisation (E1, E2);
- edge_gd:          GD from the point where S first reaches 2/η, for `track_steps` (E3b);
- edge_constrained: the constrained trajectory θ† from that same point (E3b);
- edge_flow:        gradient flow from that same point, by Euler sub-steps (E3b);
- toy:              GD on Damian et al.'s two-variable cubic model (E3a);
- diagonal_sgd:     SGD on the diagonal linear net, several η batched as one tensor program (E4);
- diagonal_gd:      full-batch GD on the same net near its edge (E4).
edge_constrained and edge_flow name a `reference` edge_gd variant: their distances to GD are
measured against that variant's run, which must share its seeds, network, η and tracking settings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stages.common.params import ParamError, Section

from .models import ACTIVATIONS, MLP
from .data import CLASSES

DIGIT_PIXELS = 64
DIGITS_AVAILABLE = 1797  # images in scikit-learn's bundled digits
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class DataConfig:
    digits_examples: int
    diagonal_examples: int
    diagonal_dimension: int
    diagonal_support: int
    diagonal_teacher_value: float
    diagonal_seed: int


@dataclass(frozen=True)
class Network:
    examples: int  # the first `examples` digits of the generated set
    hidden: tuple[int, ...]
    activation: str

    @property
    def mlp(self) -> MLP:
        return MLP((DIGIT_PIXELS, *self.hidden, CLASSES), self.activation)


@dataclass(frozen=True)
class GradientDescent:
    kind: str
    lr: float
    steps: int
    checkpoint_every: int
    seeds: tuple[int, ...]
    network: Network


@dataclass(frozen=True)
class EdgeRun:
    """A run that starts where GD from initialisation first has S·η/2 ≥ 1 (Damian et al.'s
    `find_instability`), then follows its own dynamics for `track_steps` steps of size η."""

    kind: str
    lr: float
    seeds: tuple[int, ...]
    network: Network
    max_steps_to_edge: int
    edge_search_every: int
    track_steps: int
    checkpoint_every: int
    projection_steps: int = 0  # edge_constrained
    stop_lambda2_times_lr_over_2: float = 0.0  # edge_constrained
    substeps: int = 0  # edge_flow
    reference: str = ""  # edge_constrained, edge_flow


@dataclass(frozen=True)
class Toy:
    kind: str
    lr: float
    a: float
    b: float
    alpha: float
    epsilon: float
    steps: int
    initial_x_scale: float
    window: int
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class DiagonalSGD:
    kind: str
    lrs: tuple[float, ...]
    seeds_per_lr: int
    batch: int
    steps: int
    init_scale: float
    converged_loss_below: float

    def run_lrs(self) -> list[float]:
        """Run r uses lrs[r // seeds_per_lr] and seed r: every run has its own seed."""
        return [lr for lr in self.lrs for _ in range(self.seeds_per_lr)]


@dataclass(frozen=True)
class DiagonalGD:
    kind: str
    lr: float
    steps: int
    init_scale: float
    converged_loss_below: float


@dataclass(frozen=True)
class Sharpness:
    lanczos_tolerance: float


@dataclass(frozen=True)
class Config:
    data: DataConfig
    sharpness: Sharpness
    variants: dict[str, object]


KINDS = ("gd", "edge_gd", "edge_constrained", "edge_flow", "toy", "diagonal_sgd", "diagonal_gd")
KNOWN_KEYS = {
    "gd": {"kind", "lr", "steps", "checkpoint_every", "seeds", "network"},
    "edge_gd": {"kind", "lr", "seeds", "network", "max_steps_to_edge", "edge_search_every", "track_steps",
                "checkpoint_every"},
    "toy": {"kind", "lr", "a", "b", "alpha", "epsilon", "steps", "initial_x_scale", "window", "seeds"},
    "diagonal_sgd": {"kind", "lrs", "seeds_per_lr", "batch", "steps", "init_scale", "converged_loss_below"},
    "diagonal_gd": {"kind", "lr", "steps", "init_scale", "converged_loss_below"},
}
KNOWN_KEYS["edge_constrained"] = KNOWN_KEYS["edge_gd"] | {"projection_steps", "stop_lambda2_times_lr_over_2",
                                                          "reference"}
KNOWN_KEYS["edge_flow"] = KNOWN_KEYS["edge_gd"] | {"substeps", "reference"}
TOP_KEYS = {"data", "sharpness", "variants"}
DATA_KEYS = {"digits_examples", "diagonal_examples", "diagonal_dimension", "diagonal_support",
             "diagonal_teacher_value", "diagonal_seed"}


def reject_unknown(section: Section, known: set[str]) -> None:
    unknown = sorted(str(key) for key in section.mapping if key not in known)
    if unknown:
        raise ParamError(section.key(unknown[0]), section.mapping[unknown[0]],
                         "no such key; known keys: " + ", ".join(sorted(known)))


def parse(section: Section) -> Config:
    reject_unknown(section, TOP_KEYS)
    data = parse_data(section.section("data"))
    sharp = section.section("sharpness")
    reject_unknown(sharp, {"lanczos_tolerance"})
    sharpness = Sharpness(sharp.number("lanczos_tolerance", positive=True, high=1e-2))
    variants = {}
    for name, inner in section.sections("variants").items():
        if not VARIANT_NAME.fullmatch(name):
            raise ParamError(inner.path, name, "a variant name of letters, digits, _ and - (DVC keys are dotted paths)")
        variants[name] = parse_variant(inner, data)
    for name, variant in variants.items():
        if isinstance(variant, EdgeRun) and variant.reference:
            check_reference(section.section("variants").section(name), variant, variants)
    return Config(data, sharpness, variants)


def parse_data(section: Section) -> DataConfig:
    reject_unknown(section, DATA_KEYS)
    digits_examples = section.integer("digits_examples", minimum=CLASSES)
    if digits_examples > DIGITS_AVAILABLE:
        raise ParamError(section.key("digits_examples"), digits_examples, f"an integer <= {DIGITS_AVAILABLE}")
    dimension = section.integer("diagonal_dimension", minimum=1)
    support = section.integer("diagonal_support", minimum=1)
    if support > dimension:
        raise ParamError(section.key("diagonal_support"), support, f"an integer <= diagonal_dimension = {dimension}")
    return DataConfig(digits_examples, section.integer("diagonal_examples", minimum=1), dimension, support,
                      section.number("diagonal_teacher_value", positive=True), section.integer("diagonal_seed", minimum=0))


def parse_variant(section: Section, data: DataConfig):
    kind = section.choice("kind", KINDS)
    reject_unknown(section, KNOWN_KEYS[kind])
    if kind == "toy":
        return Toy(kind, section.number("lr", positive=True), section.number("a", positive=True),
                   section.number("b", positive=True), section.number("alpha", positive=True),
                   section.number("epsilon"), section.integer("steps", minimum=2),
                   section.number("initial_x_scale", low=0.0), even_window(section), seeds(section))
    if kind == "diagonal_sgd":
        return DiagonalSGD(kind, tuple(section.numbers("lrs", positive=True, increasing=True)),
                           section.integer("seeds_per_lr", minimum=1), batch(section, data),
                           section.integer("steps", minimum=1), section.number("init_scale", positive=True),
                           section.number("converged_loss_below", positive=True))
    if kind == "diagonal_gd":
        return DiagonalGD(kind, section.number("lr", positive=True), section.integer("steps", minimum=1),
                          section.number("init_scale", positive=True),
                          section.number("converged_loss_below", positive=True))
    lr, network = section.number("lr", positive=True), parse_network(section.section("network"), data)
    if kind == "gd":
        steps = section.integer("steps", minimum=1)
        return GradientDescent(kind, lr, steps, checkpoint_every(section, steps), seeds(section), network)
    track_steps = section.integer("track_steps", minimum=1)
    common = dict(kind=kind, lr=lr, seeds=seeds(section), network=network,
                  max_steps_to_edge=section.integer("max_steps_to_edge", minimum=1),
                  edge_search_every=section.integer("edge_search_every", minimum=1),
                  track_steps=track_steps, checkpoint_every=checkpoint_every(section, track_steps))
    if kind == "edge_gd":
        return EdgeRun(**common)
    if kind == "edge_flow":
        return EdgeRun(**common, substeps=section.integer("substeps", minimum=1), reference=section.text("reference"))
    return EdgeRun(**common, projection_steps=section.integer("projection_steps", minimum=1),
                   stop_lambda2_times_lr_over_2=section.number("stop_lambda2_times_lr_over_2", low=0.0, high=1.0,
                                                               open_interval=True),
                   reference=section.text("reference"))


def parse_network(section: Section, data: DataConfig) -> Network:
    reject_unknown(section, {"examples", "hidden", "activation"})
    examples = section.integer("examples", minimum=1)
    if examples > data.digits_examples:
        raise ParamError(section.key("examples"), examples,
                         f"an integer <= data.digits_examples = {data.digits_examples}")
    hidden = section.raw("hidden")
    if not isinstance(hidden, list) or not hidden or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in hidden):
        raise ParamError(section.key("hidden"), hidden, "a non-empty list of positive integer widths")
    return Network(examples, tuple(hidden), section.choice("activation", tuple(ACTIVATIONS)))


def seeds(section: Section) -> tuple[int, ...]:
    value = section.raw("seeds")
    if not isinstance(value, list) or not value or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value) or len(set(value)) != len(value):
        raise ParamError(section.key("seeds"), value, "a non-empty list of distinct integers >= 0")
    return tuple(value)


def checkpoint_every(section: Section, steps: int) -> int:
    every = section.integer("checkpoint_every", minimum=1)
    if every > steps:
        raise ParamError(section.key("checkpoint_every"), every, f"an integer <= the steps ({steps})")
    return every


def even_window(section: Section) -> int:
    """Windows of an even number of steps average whole period-2 oscillations."""
    window = section.integer("window", minimum=2)
    if window % 2:
        raise ParamError(section.key("window"), window, "an even integer >= 2 (whole period-2 oscillations)")
    return window


def batch(section: Section, data: DataConfig) -> int:
    size = section.integer("batch", minimum=1)
    if size > data.diagonal_examples:
        raise ParamError(section.key("batch"), size, f"an integer <= data.diagonal_examples = {data.diagonal_examples}")
    return size


def check_reference(section: Section, variant: EdgeRun, variants: dict[str, object]) -> None:
    """The reference must be an edge_gd variant from the same start with the same time grid."""
    reference = variants.get(variant.reference)
    if not isinstance(reference, EdgeRun) or reference.kind != "edge_gd":
        allowed = [n for n, v in variants.items() if isinstance(v, EdgeRun) and v.kind == "edge_gd"]
        raise ParamError(section.key("reference"), variant.reference,
                         "the name of an edge_gd variant: " + (", ".join(allowed) or "none is declared"))
    for field in ("lr", "seeds", "network", "max_steps_to_edge", "edge_search_every", "track_steps",
                  "checkpoint_every"):
        if getattr(reference, field) != getattr(variant, field):
            raise ParamError(section.key(field), getattr(variant, field),
                             f"the value of its reference {variant.reference!r} ({getattr(reference, field)!r})")
