"""The validated `edge_of_stability` section of params.yaml.

`setup` holds the data and four experiments; each variant (one train instance) names an
experiment and a method:
- cohen_gd / gd:                  full-batch GD on a digits MLP from initialisation, for the variant's own
  number of steps (E1, E2; the horizon rule: at least `min_steps_after_crossing` steps after 2/η);
- self_stabilization / gd, constrained, flow: from the step where GD first has S·η/2 ≥ 1, GD,
  the constrained trajectory θ† or gradient flow (E3b); θ† and the flow are measured against the
  run of the GD variant named by `gd_variant`;
- toy_cubic / gd:                 GD on Damian et al.'s two-variable cubic model (E3a);
- diagonal_net / sgd, gd:         the diagonal linear net, SGD at several η batched as one tensor
  program, or full-batch GD near its edge (E4).
`setup.first_seed` is added to every seed the study draws (the listed seeds are offsets from it), so a
reviewer reruns on a fresh block of seeds with `dvc exp run -S edge_of_stability.setup.first_seed=100`.
Every check runs before any compute and names the bad key, the value and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from ...common.params import ParamError, Section

DIGIT_PIXELS, CLASSES = 64, 10
DIGITS_AVAILABLE = 1797  # images in scikit-learn's bundled digits
ACTIVATIONS = ("tanh", "swish")  # smooth: ∇S = D³L[u, u] needs three derivatives
SETTING_COLUMNS = {
    "experiment": "string",
    "method": "string",
    "lr": "float64",
}  # the table's setting columns
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")  # DVC addresses params by dotted keys
METHODS = {
    "cohen_gd": ("gd",),
    "self_stabilization": ("gd", "constrained", "flow"),
    "toy_cubic": ("gd",),
    "diagonal_net": ("sgd", "gd"),
}
VARIANT_KEYS = {  # keys a variant may carry besides experiment and method
    ("cohen_gd", "gd"): {"lr", "steps"},
    ("self_stabilization", "gd"): set(),
    ("self_stabilization", "constrained"): {"projection_steps", "stop_lambda2_times_lr_over_2"},
    ("self_stabilization", "flow"): {"substeps"},
    ("toy_cubic", "gd"): {"lr", "steps"},
    ("diagonal_net", "sgd"): {"lrs", "seeds_per_lr", "batch", "steps"},
    ("diagonal_net", "gd"): {"lr", "steps"},
}


@dataclass(frozen=True)
class DataSetup:
    digits_examples: int
    diagonal_examples: int
    diagonal_dimension: int
    diagonal_support: int
    diagonal_teacher_value: float
    diagonal_seed: int


@dataclass(frozen=True)
class Network:
    """examples: the first `examples` generated digits (ten classes, one-hot targets), or, when
    `binary_labels` = (a, b), the first examples/2 digits of class a (target −1) and of class b (+1)
    with one output (Damian et al.'s binary-MSE set-up: their cifar10_binary is cat vs dog)."""

    examples: int
    hidden: tuple[int, ...]
    activation: str
    binary_labels: tuple[int, int] | None = None

    @property
    def outputs(self) -> int:
        return 1 if self.binary_labels else CLASSES

    @property
    def widths(self) -> tuple[int, ...]:
        return (DIGIT_PIXELS, *self.hidden, self.outputs)

    @property
    def parameter_count(self) -> int:
        return sum(inp * out + out for inp, out in pairwise(self.widths))


@dataclass(frozen=True)
class CohenGD:
    network: Network
    min_steps_after_crossing: int  # the horizon rule: each η runs at least this long past S·η/2 = 1
    checkpoint_every: int
    seeds: tuple[int, ...]
    lanczos_tolerance: float


@dataclass(frozen=True)
class SelfStabilization:
    lr: float
    network: Network
    seeds: tuple[int, ...]
    max_steps_to_edge: int
    edge_search_every: int
    track_steps: int
    checkpoint_every: int
    lanczos_tolerance: float
    gd_variant: str


@dataclass(frozen=True)
class ToyCubic:
    a: float
    b: float
    alpha: float
    epsilon: float
    initial_x_scale: float
    window: int
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class DiagonalNet:
    init_scale: float
    converged_loss_below: float
    lanczos_tolerance: float


@dataclass(frozen=True)
class Variant:
    """One train instance: an experiment, a method and the method's own settings."""

    name: str
    experiment: str
    method: str
    lr: float = 0.0  # cohen_gd, toy_cubic, diagonal_net gd
    steps: int = 0  # cohen_gd, toy_cubic, diagonal_net
    lrs: tuple[
        float, ...
    ] = ()  # diagonal_net sgd: run r uses lrs[r // seeds_per_lr] and seed first_seed + r
    seeds_per_lr: int = 0
    batch: int = 0
    projection_steps: int = 0  # self_stabilization constrained
    stop_lambda2_times_lr_over_2: float = 0.0
    substeps: int = 0  # self_stabilization flow

    def run_lrs(self) -> list[float]:
        return [lr for lr in self.lrs for _ in range(self.seeds_per_lr)]


@dataclass(frozen=True)
class Config:
    first_seed: int
    data: DataSetup
    cohen_gd: CohenGD
    self_stabilization: SelfStabilization
    toy_cubic: ToyCubic
    diagonal_net: DiagonalNet
    variants: dict[str, Variant]


def measure_reads(config: Config, variant_name: str) -> list[str]:
    """Other variants whose runs a variant's measure reads: θ† and the flow, the GD variant's run."""
    variant = config.variants[variant_name]
    compared = variant.experiment == "self_stabilization" and variant.method != "gd"
    return [config.self_stabilization.gd_variant] if compared else []


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup")
    setup.only("first_seed", "data", *METHODS)
    first_seed = setup.integer("first_seed", minimum=0)
    data = parse_data(setup.section("data"), first_seed)
    variants = {}
    for name, entry in section.sections("variants").items():
        if not VARIANT_NAME.fullmatch(name):
            raise ParamError(
                entry.path,
                name,
                "a variant name of letters, digits, _ and - (DVC keys are dotted paths)",
            )
        variants[name] = parse_variant(name, entry, data)
    config = Config(
        first_seed,
        data,
        parse_cohen_gd(setup.section("cohen_gd"), data, first_seed),
        parse_self_stabilization(setup.section("self_stabilization"), data, first_seed),
        parse_toy(setup.section("toy_cubic"), first_seed),
        parse_diagonal_net(setup.section("diagonal_net")),
        variants,
    )
    for name, variant in variants.items():
        if variant.experiment == "cohen_gd" and variant.steps < config.cohen_gd.checkpoint_every:
            raise ParamError(
                f"{section.path}.variants.{name}.steps",
                variant.steps,
                f"an integer >= setup.cohen_gd.checkpoint_every = {config.cohen_gd.checkpoint_every}",
            )
    gd_variant = variants.get(config.self_stabilization.gd_variant)
    if gd_variant is None or (gd_variant.experiment, gd_variant.method) != (
        "self_stabilization",
        "gd",
    ):
        raise ParamError(
            setup.key("self_stabilization.gd_variant"),
            config.self_stabilization.gd_variant,
            "the name of a variant with experiment self_stabilization and method gd",
        )
    return config


def parse_data(section: Section, first_seed: int) -> DataSetup:
    section.only(
        "digits_examples",
        "diagonal_examples",
        "diagonal_dimension",
        "diagonal_support",
        "diagonal_teacher_value",
        "diagonal_seed",
    )
    digits_examples = section.integer("digits_examples", minimum=CLASSES)
    if digits_examples > DIGITS_AVAILABLE:
        raise ParamError(
            section.key("digits_examples"), digits_examples, f"an integer <= {DIGITS_AVAILABLE}"
        )
    dimension = section.integer("diagonal_dimension", minimum=1)
    support = section.integer("diagonal_support", minimum=1)
    if support > dimension:
        raise ParamError(
            section.key("diagonal_support"),
            support,
            f"an integer <= diagonal_dimension = {dimension}",
        )
    return DataSetup(
        digits_examples,
        section.integer("diagonal_examples", minimum=1),
        dimension,
        support,
        section.number("diagonal_teacher_value", positive=True),
        first_seed + section.integer("diagonal_seed", minimum=0),
    )


def parse_cohen_gd(section: Section, data: DataSetup, first_seed: int) -> CohenGD:
    section.only(
        "network", "min_steps_after_crossing", "checkpoint_every", "seeds", "lanczos_tolerance"
    )
    return CohenGD(
        parse_network(section.section("network"), data),
        section.integer("min_steps_after_crossing", minimum=0),
        section.integer("checkpoint_every", minimum=1),
        seeds(section, first_seed),
        lanczos_tolerance(section),
    )


def parse_self_stabilization(
    section: Section, data: DataSetup, first_seed: int
) -> SelfStabilization:
    section.only(
        "lr",
        "network",
        "seeds",
        "max_steps_to_edge",
        "edge_search_every",
        "track_steps",
        "checkpoint_every",
        "lanczos_tolerance",
        "gd_variant",
    )
    track_steps = section.integer("track_steps", minimum=1)
    return SelfStabilization(
        section.number("lr", positive=True),
        parse_network(section.section("network"), data),
        seeds(section, first_seed),
        section.integer("max_steps_to_edge", minimum=1),
        section.integer("edge_search_every", minimum=1),
        track_steps,
        checkpoint_every(section, track_steps),
        lanczos_tolerance(section),
        section.text("gd_variant"),
    )


def parse_toy(section: Section, first_seed: int) -> ToyCubic:
    section.only("a", "b", "alpha", "epsilon", "initial_x_scale", "window", "seeds")
    window = section.integer("window", minimum=2)
    if window % 2:
        raise ParamError(
            section.key("window"), window, "an even integer >= 2 (whole period-2 oscillations)"
        )
    return ToyCubic(
        section.number("a", positive=True),
        section.number("b", positive=True),
        section.number("alpha", positive=True),
        section.number("epsilon"),
        section.number("initial_x_scale", low=0.0),
        window,
        seeds(section, first_seed),
    )


def parse_diagonal_net(section: Section) -> DiagonalNet:
    section.only("init_scale", "converged_loss_below", "lanczos_tolerance")
    return DiagonalNet(
        section.number("init_scale", positive=True),
        section.number("converged_loss_below", positive=True),
        lanczos_tolerance(section),
    )


def parse_variant(name: str, section: Section, data: DataSetup) -> Variant:
    experiment = section.choice("experiment", tuple(METHODS))
    method = section.choice("method", METHODS[experiment])
    section.only("experiment", "method", *sorted(VARIANT_KEYS[experiment, method]))
    if experiment == "self_stabilization":
        if method == "constrained":
            return Variant(
                name,
                experiment,
                method,
                projection_steps=section.integer("projection_steps", minimum=1),
                stop_lambda2_times_lr_over_2=section.number(
                    "stop_lambda2_times_lr_over_2", low=0.0, high=1.0, open_interval=True
                ),
            )
        if method == "flow":
            return Variant(
                name, experiment, method, substeps=section.integer("substeps", minimum=1)
            )
        return Variant(name, experiment, method)
    if (experiment, method) == ("diagonal_net", "sgd"):
        batch = section.integer("batch", minimum=1)
        if batch > data.diagonal_examples:
            raise ParamError(
                section.key("batch"),
                batch,
                f"an integer <= data.diagonal_examples = {data.diagonal_examples}",
            )
        return Variant(
            name,
            experiment,
            method,
            steps=section.integer("steps", minimum=1),
            lrs=tuple(section.numbers("lrs", positive=True, increasing=True)),
            seeds_per_lr=section.integer("seeds_per_lr", minimum=1),
            batch=batch,
        )
    return Variant(
        name,
        experiment,
        method,
        lr=section.number("lr", positive=True),
        steps=section.integer("steps", minimum=1),
    )


def parse_network(section: Section, data: DataSetup) -> Network:
    section.only("examples", "hidden", "activation", "binary_labels")
    examples = section.integer("examples", minimum=1)
    if examples > data.digits_examples:
        raise ParamError(
            section.key("examples"),
            examples,
            f"an integer <= setup.data.digits_examples = {data.digits_examples}",
        )
    labels = section.raw("binary_labels") if section.has("binary_labels") else None
    if labels is not None:
        if (
            not isinstance(labels, list)
            or len(labels) != 2
            or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c < CLASSES for c in labels
            )
            or labels[0] == labels[1]
        ):
            raise ParamError(
                section.key("binary_labels"),
                labels,
                f"two distinct class labels in 0..{CLASSES - 1}",
            )
        if examples % 2:
            raise ParamError(
                section.key("examples"),
                examples,
                "an even integer (half from each of binary_labels)",
            )
        labels = tuple(labels)
    hidden = section.raw("hidden")
    if (
        not isinstance(hidden, list)
        or not hidden
        or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in hidden)
    ):
        raise ParamError(
            section.key("hidden"), hidden, "a non-empty list of positive integer widths"
        )
    return Network(examples, tuple(hidden), section.choice("activation", ACTIVATIONS), labels)


def seeds(section: Section, first_seed: int) -> tuple[int, ...]:
    """The listed seeds are offsets from setup.first_seed."""
    value = section.raw("seeds")
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
        or len(set(value)) != len(value)
    ):
        raise ParamError(section.key("seeds"), value, "a non-empty list of distinct integers >= 0")
    return tuple(first_seed + s for s in value)


def checkpoint_every(section: Section, steps: int) -> int:
    every = section.integer("checkpoint_every", minimum=1)
    if every > steps:
        raise ParamError(
            section.key("checkpoint_every"), every, f"an integer <= the steps ({steps})"
        )
    return every


def lanczos_tolerance(section: Section) -> float:
    """ARPACK's relative accuracy of the Ritz values."""
    return section.number("lanczos_tolerance", positive=True, high=1e-2)


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)
