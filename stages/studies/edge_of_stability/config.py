"""The validated `edge_of_stability` section of params.yaml, as frozen dataclasses.

`setup` holds the data and one section per experiment; `variants` holds one group per experiment,
each variant (one train instance) naming its method, and each (experiment, method) pair is a kind
of variant with a dataclass of its own, holding only the fields that kind reads:
- cohen_gd / gd (`CohenGD`): full-batch GD on a digits MLP from initialisation, for the variant's
  own number of steps (E1, E2; the horizon rule: at least `min_steps_after_crossing` steps after 2/η);
- self_stabilization / tracking (`SelfStabilizationTracking`): from the step where GD first has
  S·η/2 ≥ 1, GD, the constrained trajectory θ†, Damian et al.'s predicted dynamics around it (and
  its second-order twin, the control) and gradient flow, in one loop (E2's control, E3);
- toy_cubic / gd (`ToyCubicGD`): GD on Damian et al.'s two-variable cubic model (E3a);
- diagonal_net / sgd, gd (`DiagonalSGD`, `DiagonalGD`): the diagonal linear net, SGD at several η
  batched as one tensor program, or full-batch GD at SGD's η and near its own edge (E4).
Code dispatches on a variant's type; its `experiment` and `method` (class constants) only label the
table's rows. `setup.first_seed` is added to every seed the study draws (the listed seeds are
offsets from it), so a reviewer reruns on a fresh block of seeds with
`dvc exp run -S edge_of_stability.setup.first_seed=100`.
Every check runs before any compute and names the bad key, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import ClassVar

from ...common.params import ParamError, Section

DIGIT_PIXELS, CLASSES = 64, 10
DIGITS_AVAILABLE = 1797  # images in scikit-learn's bundled digits
ACTIVATIONS = ("tanh", "swish")  # smooth: ∇S = D³L[u, u] needs three derivatives
SETTING_COLUMNS = {  # the table's setting columns (stages/common/tables.py); null where one does not apply
    "experiment": "string",  # the variant's experiment: cohen_gd, self_stabilization, toy_cubic, diagonal_net
    "method": "string",  # gd, constrained (θ†), flow (gradient flow) or sgd
    "lr": "float64",  # η, the step size of the row's run
    "batch_size": "int64",  # B, examples per SGD step; null for full-batch methods
    "steps_since_edge": "int64",  # self_stabilization: steps since GD first had S·η/2 ≥ 1
}
EXPERIMENTS = ("cohen_gd", "self_stabilization", "toy_cubic", "diagonal_net")


# --- setup ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSetup:
    """What stage generate writes once: the digits, and the diagonal net's teacher data."""

    digits_examples: int  # the first N scikit-learn digits; every network trains on a prefix
    diagonal_examples: int  # n, examples of the diagonal net's data
    diagonal_dimension: int  # d, the input dimension (the net has 2d parameters θ = [u, v])
    diagonal_support: int  # non-zero entries of the teacher w* (its leading ones)
    diagonal_teacher_value: float  # w*_i on the support
    diagonal_seed: int  # seed of x ~ N(0, I_d): first_seed + the listed offset


@dataclass(frozen=True)
class Network:
    """An MLP on digits. examples: the first `examples` generated digits (ten classes, one-hot
    targets), or, when `binary_labels` = (a, b), the first examples/2 digits of class a (target −1)
    and of class b (+1) with one output (Damian et al.'s binary-MSE set-up: their cifar10_binary is
    cat vs dog)."""

    examples: int  # training examples (full batch)
    hidden: tuple[int, ...]  # hidden widths, input to output
    activation: str  # tanh or swish, after every layer but the last
    binary_labels: (
        tuple[int, int] | None
    )  # (a, b) for two classes with ±1 targets; None: ten classes

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
class CohenGDSetup:
    """Cohen et al. (2021) §3 at CPU size: what every cohen_gd variant shares."""

    network: Network
    min_steps_after_crossing: (
        int  # horizon rule: each η runs at least this many steps past S·η/2 = 1
    )
    checkpoint_every: int  # steps between saved θ, where S = λ1 and λ2 are measured
    seeds: tuple[int, ...]  # initialisation seeds: first_seed + the listed offsets
    lanczos_tolerance: float  # ARPACK's relative accuracy of λ1, λ2


@dataclass(frozen=True)
class SelfStabilizationSetup:
    """Damian et al. (2023) §4–5 at CPU size: GD from init to the edge, then the variant's tracking."""

    lr: float  # η of GD to the edge and of every trajectory from it (2/η the edge)
    network: Network
    seeds: tuple[int, ...]  # initialisation seeds: first_seed + the listed offsets
    max_steps_to_edge: int  # GD steps allowed to reach S·η/2 ≥ 1; a seed that does not is lost
    edge_search_every: int  # S checked every this many steps, then every step after an overshoot
    lanczos_tolerance: float  # ARPACK's relative accuracy; also used by θ†'s projections


@dataclass(frozen=True)
class ToyCubicSetup:
    """Damian et al. (2023) §3: L(x, y) = ½(a + b·y)x² + εx − αy (cubic_toy.py)."""

    a: float  # a, the sharpness at y = 0
    b: float  # b, how fast the sharpness grows with y
    alpha: float  # α, the drift of y (the speed of progressive sharpening)
    epsilon: float  # ε, the x-gradient that seeds the oscillation
    initial_x_scale: float  # x0 ~ U(−s, s) per seed (y0 = 0)
    window: int  # steps per window mean (even: whole period-2 oscillations)
    seeds: tuple[int, ...]  # seeds of x0: first_seed + the listed offsets


@dataclass(frozen=True)
class DiagonalNetSetup:
    """Wu & Su (2023): f(x) = ⟨u⊙u − v⊙v, x⟩ on the teacher data (diagonal_net.py)."""

    init_scale: float  # u = v = init_scale·1 at the start (f ≡ 0)
    converged_loss_below: float  # a run converged when its final loss is below this
    lanczos_tolerance: float  # ARPACK's relative accuracy of λ1, λ2


# --- variants: one dataclass per kind ------------------------------------------------------------


@dataclass(frozen=True)
class CohenGD:
    """Full-batch GD θ_{t+1} = θ_t − η∇L(θ_t) on the digits MLP from init (Cohen et al. §3)."""

    experiment: ClassVar[str] = "cohen_gd"
    method: ClassVar[str] = "gd"
    name: str
    lr: float  # η (the edge is S = 2/η)
    steps: int  # GD steps from initialisation (≥ checkpoint_every)
    checkpoint_every: int  # steps between saved θ: the variant's own, else setup.cohen_gd's


@dataclass(frozen=True)
class SelfStabilizationTracking:
    """From the edge, one loop as Damian et al.'s `track_dynamics` (adamian98/EOS, taylor.py): GD;
    θ†, projected GD onto {S ≤ 2/η, ∇L·u = 0} (constrained_trajectory.py); the predicted dynamics
    θ† + v_t and its second-order twin θ† + w_t (predicted_dynamics.py); gradient flow at equal
    times t = kη."""

    experiment: ClassVar[str] = "self_stabilization"
    method: ClassVar[str] = "tracking"
    name: str
    track_steps: int  # steps tracked from the edge (Damian: 2000; for the flow, units η of time)
    checkpoint_every: int  # steps between saved θ of GD and the flow, where S is measured
    projection_steps: int  # linearised projections per θ† step (Damian et al.'s code: 3)
    stop_lambda2_times_lr_over_2: float  # θ† is tracked while λ2(θ†)·η/2 ≤ this (theirs: 0.95)
    eigengap_check_every: int  # steps between λ2(θ†) checks (theirs: 50)
    flow_substeps: int  # Euler steps of η/flow_substeps per unit η of time


@dataclass(frozen=True)
class ToyCubicGD:
    """GD on the cubic toy from y0 = 0 (S ≈ a below 2/η) and x0 drawn from each seed."""

    experiment: ClassVar[str] = "toy_cubic"
    method: ClassVar[str] = "gd"
    name: str
    lr: float  # η
    steps: int  # GD steps


@dataclass(frozen=True)
class DiagonalSGD:
    """SGD with replacement on the diagonal net, every (η, seed) run batched as one tensor program;
    seed k (first_seed + k) draws one batch order and uses it at every η, so the runs at different
    η are paired by seed (a trend over η per seed)."""

    experiment: ClassVar[str] = "diagonal_net"
    method: ClassVar[str] = "sgd"
    name: str
    lrs: tuple[float, ...]  # the step sizes η, increasing
    seeds: int  # batch orders first_seed + 0 … seeds − 1, each run at every η
    batch: int  # B, examples per step (Wu & Su's trace bound is for B = 1)
    steps: int  # SGD steps per run

    def run_lrs(self) -> list[float]:
        """η of every run, in run order (all seeds of the first η, then of the next, …)."""
        return [lr for lr in self.lrs for _ in range(self.seeds)]

    def run_seeds(self, first_seed: int) -> list[int]:
        """The seed (batch order) of every run, in run order."""
        return [first_seed + k for _ in self.lrs for k in range(self.seeds)]


@dataclass(frozen=True)
class DiagonalGD:
    """Full-batch GD on the diagonal net from u = v = init_scale·1 at each η, batched (deterministic:
    one run per η, seed 0)."""

    experiment: ClassVar[str] = "diagonal_net"
    method: ClassVar[str] = "gd"
    name: str
    lrs: tuple[
        float, ...
    ]  # the step sizes η, increasing: SGD's grid to compare at equal η, and GD's edge
    steps: int  # GD steps per run


Variant = CohenGD | SelfStabilizationTracking | ToyCubicGD | DiagonalSGD | DiagonalGD


@dataclass(frozen=True)
class Config:
    first_seed: int  # added to every seed the study draws (the listed seeds are offsets)
    data: DataSetup
    cohen_gd: CohenGDSetup
    self_stabilization: SelfStabilizationSetup
    toy_cubic: ToyCubicSetup
    diagonal_net: DiagonalNetSetup
    variants: dict[str, Variant]  # every experiment group's variants, in params order


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)


# --- parsing -------------------------------------------------------------------------------------


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup")
    setup.only("first_seed", "data", *EXPERIMENTS)
    first_seed = setup.integer("first_seed", minimum=0)
    data = parse_data(setup.section("data"), first_seed)
    setups = Config(
        first_seed,
        data,
        parse_cohen_gd(setup.section("cohen_gd"), data, first_seed),
        parse_self_stabilization(setup.section("self_stabilization"), data, first_seed),
        parse_toy(setup.section("toy_cubic"), first_seed),
        parse_diagonal_net(setup.section("diagonal_net")),
        variants={},
    )
    variants = {
        name: parse_variant(experiment, name, entry, setups)
        for experiment, name, entry in section.variant_entries(EXPERIMENTS)
    }
    return replace(setups, variants=variants)


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


def parse_cohen_gd(section: Section, data: DataSetup, first_seed: int) -> CohenGDSetup:
    section.only(
        "network", "min_steps_after_crossing", "checkpoint_every", "seeds", "lanczos_tolerance"
    )
    return CohenGDSetup(
        parse_network(section.section("network"), data),
        section.integer("min_steps_after_crossing", minimum=0),
        section.integer("checkpoint_every", minimum=1),
        seeds(section, first_seed),
        lanczos_tolerance(section),
    )


def parse_self_stabilization(
    section: Section, data: DataSetup, first_seed: int
) -> SelfStabilizationSetup:
    section.only(
        "lr", "network", "seeds", "max_steps_to_edge", "edge_search_every", "lanczos_tolerance"
    )
    return SelfStabilizationSetup(
        section.number("lr", positive=True),
        parse_network(section.section("network"), data),
        seeds(section, first_seed),
        section.integer("max_steps_to_edge", minimum=1),
        section.integer("edge_search_every", minimum=1),
        lanczos_tolerance(section),
    )


def parse_toy(section: Section, first_seed: int) -> ToyCubicSetup:
    section.only("a", "b", "alpha", "epsilon", "initial_x_scale", "window", "seeds")
    window = section.integer("window", minimum=2)
    if window % 2:
        raise ParamError(
            section.key("window"), window, "an even integer >= 2 (whole period-2 oscillations)"
        )
    return ToyCubicSetup(
        section.number("a", positive=True),
        section.number("b", positive=True),
        section.number("alpha", positive=True),
        section.number("epsilon"),
        section.number("initial_x_scale", low=0.0),
        window,
        seeds(section, first_seed),
    )


def parse_diagonal_net(section: Section) -> DiagonalNetSetup:
    section.only("init_scale", "converged_loss_below", "lanczos_tolerance")
    return DiagonalNetSetup(
        section.number("init_scale", positive=True),
        section.number("converged_loss_below", positive=True),
        lanczos_tolerance(section),
    )


def parse_cohen_gd_variant(name: str, section: Section, setups: Config) -> CohenGD:
    section.only("method", "lr", "steps", "checkpoint_every")
    lr, steps = section.number("lr", positive=True), section.integer("steps", minimum=1)
    if section.has("checkpoint_every"):
        return CohenGD(name, lr, steps, checkpoint_every(section, steps))
    every = setups.cohen_gd.checkpoint_every
    if steps < every:
        raise ParamError(
            section.key("steps"), steps, f"an integer >= setup.cohen_gd.checkpoint_every = {every}"
        )
    return CohenGD(name, lr, steps, every)


def parse_tracking(name: str, section: Section, setups: Config) -> SelfStabilizationTracking:
    section.only(
        "method",
        "track_steps",
        "checkpoint_every",
        "projection_steps",
        "stop_lambda2_times_lr_over_2",
        "eigengap_check_every",
        "flow_substeps",
    )
    track_steps = section.integer("track_steps", minimum=1)
    return SelfStabilizationTracking(
        name,
        track_steps,
        checkpoint_every(section, track_steps),
        section.integer("projection_steps", minimum=1),
        section.number("stop_lambda2_times_lr_over_2", low=0.0, high=1.0, open_interval=True),
        section.integer("eigengap_check_every", minimum=1),
        section.integer("flow_substeps", minimum=1),
    )


def parse_toy_gd(name: str, section: Section, setups: Config) -> ToyCubicGD:
    section.only("method", "lr", "steps")
    return ToyCubicGD(
        name, section.number("lr", positive=True), section.integer("steps", minimum=1)
    )


def parse_diagonal_sgd(name: str, section: Section, setups: Config) -> DiagonalSGD:
    section.only("method", "lrs", "seeds", "batch", "steps")
    batch = section.integer("batch", minimum=1)
    if batch > setups.data.diagonal_examples:
        raise ParamError(
            section.key("batch"),
            batch,
            f"an integer <= setup.data.diagonal_examples = {setups.data.diagonal_examples}",
        )
    return DiagonalSGD(
        name,
        tuple(section.numbers("lrs", positive=True, increasing=True)),
        section.integer("seeds", minimum=1),
        batch,
        section.integer("steps", minimum=1),
    )


def parse_diagonal_gd(name: str, section: Section, setups: Config) -> DiagonalGD:
    section.only("method", "lrs", "steps")
    return DiagonalGD(
        name,
        tuple(section.numbers("lrs", positive=True, increasing=True)),
        section.integer("steps", minimum=1),
    )


VARIANT_PARSERS: dict[str, dict[str, Callable[[str, Section, Config], Variant]]] = {
    "cohen_gd": {"gd": parse_cohen_gd_variant},
    "self_stabilization": {"tracking": parse_tracking},
    "toy_cubic": {"gd": parse_toy_gd},
    "diagonal_net": {"sgd": parse_diagonal_sgd, "gd": parse_diagonal_gd},
}


def parse_variant(experiment: str, name: str, section: Section, setups: Config) -> Variant:
    """One variant of an experiment group: its method picks the kind, which takes only its keys
    (`setups` is the config without its variants, for checks against the experiment's setup)."""
    methods = VARIANT_PARSERS[experiment]
    return methods[section.choice("method", tuple(methods))](name, section, setups)


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
