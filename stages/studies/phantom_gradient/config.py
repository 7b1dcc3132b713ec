"""The validated `phantom_gradient` section of params.yaml, as frozen dataclasses.

`setup` holds the seeds, the digits split and one block per experiment's setting: the dense implicit
model and its training (`dense`, P1 and P3), the direction grid its checkpoints are measured on
(`direction`, P1) and the convolutional cell of the backward-cost claim (`conv_timing`, P2).
Variants are grouped by experiment, `variants.<experiment>.<variant>`, one dataclass per kind:
- `variants.dense`: `DenseVariant`, train the dense model on digits with one gradient (exact, a
  phantom gradient with k steps and damping λ, k = 1, λ = 1 being Jacobian-free backprop, or `none`:
  no gradient reaches the implicit layer, P3's control), and with `measure_direction` measure P1's
  cosines at its checkpoints;
- `variants.conv_timing`: `ConvTimingVariant`, the convolutional cell's backward pass, exact against
  both phantom forms with one (k, λ).
The gradient estimators (`ExactGradient`, `PhantomGradient`) and the solver's settings are typed here
too: the numerics (anderson.py, implicit_layer.py) take them as they come from params.yaml. Every
check runs before any compute and names the full key, the value and what is allowed.

SETTING_COLUMNS is the tidy table's schema beside the core columns (stages/common/tables.py); a
setting that does not apply to a row is null. `step` is an optimisation step: a dense row's numbers
come from the parameters after `epoch` epochs of minibatches, i.e. step = epoch × steps per epoch
(0 at initialisation; per-epoch means such as the training loss sit at the epoch's last step);
conv_timing rows are at step 0 (an untrained cell, nothing is optimised).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...common.params import ParamError, Section

DIGIT_PIXELS, CLASSES = 64, 10
SETTING_COLUMNS = {
    "experiment": "string",  # dense | conv_timing: the experiment the variant belongs to
    "epoch": "int64",  # dense: epochs of training behind the row's parameters; conv_timing: null
    "training_gradient": "string",  # what the dense variant trains with: exact | unrolled | neumann | none
    "training_k": "int64",  # its k (null for exact and for conv_timing)
    "training_damping": "float64",  # its λ (null for exact and for conv_timing)
    # the gradient estimator a row measures: exact | unrolled | neumann | random_direction (P1's
    # control); null on rows about training, about the solves, or comparing the two phantom forms
    # (unrolled_neumann_relative_difference)
    "estimator": "string",
    # k of the phantom gradient(s) the row measures (random_direction: the k it stands beside; null:
    # exact or none)
    "estimator_k": "int64",
    "estimator_damping": "float64",  # their λ (null: exact or none)
}
# what a dense run records per epoch (index 0: at initialisation, where only ‖W‖₂ and the test
# accuracy exist; the test accuracy only at checkpoint epochs, NaN between)
EPOCH_METRICS = (
    "train_loss_cross_entropy",
    "test_accuracy_percent",
    "spectral_norm_w",
    "forward_evaluations_per_step",
    "backward_passes_per_step",
    "backward_vjps_per_step",
    "unconverged_solves",
    "max_relative_residual",
)
PHANTOM_FORMS = ("unrolled", "neumann")
GRADIENT_FORMS = ("exact", *PHANTOM_FORMS)  # the backward passes P2 counts and times
TRAINING_FORMS = (*GRADIENT_FORMS, "none")  # what a dense variant may train with
EXPERIMENTS = ("dense", "conv_timing")
MAX_SPECTRAL_NORM = 0.999  # the cap must leave f a contraction


@dataclass(frozen=True)
class SolverSettings:
    """Anderson acceleration for one kind of fixed-point solve (anderson.py)."""

    memory: int  # m, the iterates Anderson mixes
    tolerance: (
        float  # stop when ‖f(z) − z‖ / ‖f(z)‖ ≤ tolerance (relative, Frobenius over the batch)
    )
    max_iterations: int  # evaluations of the map, the initial one included


@dataclass(frozen=True)
class ExactGradient:
    """The exact implicit gradient (implicit function theorem): ∂L/∂z · (I − J)⁻¹ · ∂f/∂θ at z*,
    from the adjoint fixed point g = g·J + ∂L/∂z and one VJP."""

    form: ClassVar[str] = "exact"


@dataclass(frozen=True)
class PhantomGradient:
    """A phantom gradient (Geng et al. 2021, §3): ∂L/∂z · A · ∂f/∂θ at z* with
    A = λ Σ_{t<k} ((1 − λ)I + λJ)^t, by k damped unrolling steps (`unrolled`) or a k-term Neumann
    series (`neumann`); k = 1, λ = 1 is Jacobian-free backprop (A = I)."""

    form: str  # unrolled | neumann: how A is computed (the same A at an exact fixed point)
    k: int  # k ≥ 1: unrolled steps, or terms of the Neumann series
    damping: float  # λ in (0, 1]: 1 is plain unrolling

    def __post_init__(self):
        if self.form not in PHANTOM_FORMS or self.k < 1 or not 0.0 < self.damping <= 1.0:
            raise ValueError(
                f"a phantom gradient is one of {PHANTOM_FORMS} with k >= 1 and λ in (0, 1], "
                f"got {self.form!r}, k={self.k}, λ={self.damping}"
            )

    @property
    def jacobian_free(self) -> bool:
        return self.k == 1 and self.damping == 1.0


@dataclass(frozen=True)
class NoGradient:
    """P3's deliberately poor estimator: A = 0 (a phantom gradient with k = 0), so no gradient
    reaches the implicit layer; its parameters stay at their initialisation and only the linear head
    trains (on random equilibrium features)."""

    form: ClassVar[str] = "none"


Gradient = ExactGradient | PhantomGradient | NoGradient


@dataclass(frozen=True)
class DenseSetup:
    """The dense implicit model z* = tanh(W z* + U x + b), logits V z* + c, and its training (P1, P3)."""

    width: int  # d, the dimension of z
    # c < 1: ‖W‖₂ is projected back to at most c after every step; None: no cap (MDEQ has none)
    max_spectral_norm: float | None
    seeds: int  # seeds first_seed, first_seed + 1, ...: initialisation and minibatch order
    epochs: int  # passes over the training split
    batch_size: int  # digits per minibatch (the last of an epoch may be short)
    lr: float  # Adam's step size
    checkpoint_every: int  # epochs between saved parameter vectors (epoch 0 and the last always)
    forward_solver: SolverSettings  # the forward solves during training and testing
    adjoint_solver: SolverSettings  # the exact gradient's adjoint solves during training

    def checkpoint_epochs(self) -> list[int]:
        return sorted({*range(0, self.epochs + 1, self.checkpoint_every), self.epochs})


@dataclass(frozen=True)
class DirectionGrid:
    """P1's measurement at every checkpoint: both phantom forms on a grid of k and λ against the exact
    gradient of a tight reference solve."""

    ks: tuple[int, ...]  # k values, increasing, at least two (the rise with k is judged)
    dampings: tuple[float, ...]  # λ values in (0, 1], increasing
    examples: int  # the first `examples` training digits form the batch the gradients are taken on
    reference_solver: SolverSettings  # forward and adjoint solves of the exact reference
    spectral_samples: int  # examples whose ρ(J) is computed (dense eigenvalues)


@dataclass(frozen=True)
class ConvTimingSetup:
    """The convolutional cell f(z, x) = tanh(GroupNorm(conv₃ₓ₃(z) + U∗x)) on 8×8 maps (P2)."""

    channels: int  # channels of z
    groups: int  # GroupNorm groups, a divisor of channels
    recurrent_gain: float  # factor on the recurrent convolution's default init range
    batch_size: int  # training digits drawn per seed
    seeds: int  # seeds first_seed, first_seed + 1, ...: cell, head and batch
    forward_solver: SolverSettings  # the forward solve (untimed; a seed whose solve fails is lost)
    adjoint_solver: SolverSettings  # the exact backward's adjoint solve (timed; capped as MDEQ's)
    warmup: int  # untimed rounds
    repeats: int  # timed rounds; every round times each backward once, interleaved


@dataclass(frozen=True)
class DenseVariant:
    """Train the dense model with one gradient (P3), keeping checkpoints for P1."""

    name: str
    gradient: Gradient  # what training follows: params `gradient` (exact | unrolled | neumann | none), k, damping
    measure_direction: bool  # P1's cosines at this variant's checkpoints (measure's main cost)


@dataclass(frozen=True)
class ConvTimingVariant:
    """Count (and time) the convolutional cell's exact backward against both phantom forms (P2)."""

    name: str
    k: int  # k of both phantom forms
    damping: float  # λ of both phantom forms

    def estimators(self) -> dict[str, Gradient]:
        """The three backward passes, in the order the table and the timing use."""
        return {
            "exact": ExactGradient(),
            **{form: PhantomGradient(form, self.k, self.damping) for form in PHANTOM_FORMS},
        }


Variant = DenseVariant | ConvTimingVariant


@dataclass(frozen=True)
class Config:
    first_seed: int  # the first seed of every experiment
    test_fraction: float  # share of the 1,797 digits held out as the one fixed test split
    split_seed: int  # seed of that split
    dense: DenseSetup
    direction: DirectionGrid
    conv_timing: ConvTimingSetup
    variants: dict[str, Variant]  # by name, unique across experiments, in params order

    def seeds(self, count: int) -> list[int]:
        return list(range(self.first_seed, self.first_seed + count))


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup").only("first_seed", "data", "dense", "direction", "conv_timing")
    data = setup.section("data").only("test_fraction", "split_seed")
    parsers = {"dense": parse_dense_variant, "conv_timing": parse_conv_timing_variant}
    variants: dict[str, Variant] = {
        name: parsers[experiment](name, entry)
        for experiment, name, entry in section.variant_entries(EXPERIMENTS)
    }
    return Config(
        setup.integer("first_seed", minimum=0),
        data.fraction("test_fraction"),
        data.integer("split_seed", minimum=0),
        parse_dense(setup.section("dense")),
        parse_direction(setup.section("direction")),
        parse_conv_timing(setup.section("conv_timing")),
        variants,
    )


def parse_solver(section: Section) -> SolverSettings:
    section.only("memory", "tolerance", "max_iterations")
    return SolverSettings(
        section.integer("memory", minimum=2),
        section.number("tolerance", positive=True, high=1e-2),
        section.integer("max_iterations", minimum=2),
    )


def parse_dense(section: Section) -> DenseSetup:
    section.only(
        "width",
        "max_spectral_norm",
        "seeds",
        "epochs",
        "batch_size",
        "lr",
        "checkpoint_every",
        "forward_solver",
        "adjoint_solver",
    )
    epochs = section.integer("epochs", minimum=1)
    every = section.integer("checkpoint_every", minimum=1)
    if every > epochs:
        raise ParamError(section.key("checkpoint_every"), every, f"an integer <= epochs ({epochs})")
    return DenseSetup(
        section.integer("width", minimum=1),
        spectral_cap(section),
        section.integer("seeds", minimum=1),
        epochs,
        section.integer("batch_size", minimum=1),
        section.number("lr", positive=True),
        every,
        parse_solver(section.section("forward_solver")),
        parse_solver(section.section("adjoint_solver")),
    )


def spectral_cap(section: Section) -> float | None:
    """max_spectral_norm: null (no cap, as MDEQ) or a number in (0, MAX_SPECTRAL_NORM)."""
    cap = section.raw("max_spectral_norm")
    if cap is None:
        return None
    if isinstance(cap, bool) or not isinstance(cap, int | float) or not 0 < cap < MAX_SPECTRAL_NORM:
        raise ParamError(
            section.key("max_spectral_norm"),
            cap,
            f"null (no cap) or a number in (0, {MAX_SPECTRAL_NORM}) (the cap keeps f a contraction)",
        )
    return float(cap)


def parse_direction(section: Section) -> DirectionGrid:
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
    return DirectionGrid(
        tuple(int(k) for k in ks),
        tuple(dampings),
        examples,
        parse_solver(section.section("reference_solver")),
        section.integer("spectral_samples", minimum=1),
    )


def parse_conv_timing(section: Section) -> ConvTimingSetup:
    section.only(
        "channels",
        "groups",
        "recurrent_gain",
        "batch_size",
        "seeds",
        "forward_solver",
        "adjoint_solver",
        "warmup",
        "repeats",
    )
    channels, groups = section.integer("channels", minimum=1), section.integer("groups", minimum=1)
    if channels % groups:
        raise ParamError(section.key("groups"), groups, f"a divisor of channels ({channels})")
    return ConvTimingSetup(
        channels,
        groups,
        section.number("recurrent_gain", positive=True),
        section.integer("batch_size", minimum=1),
        section.integer("seeds", minimum=1),
        parse_solver(section.section("forward_solver")),
        parse_solver(section.section("adjoint_solver")),
        section.integer("warmup", minimum=0),
        section.integer("repeats", minimum=1),
    )


def parse_dense_variant(name: str, section: Section) -> DenseVariant:
    form = section.choice("gradient", TRAINING_FORMS)
    phantom_keys = ("k", "damping") if form in PHANTOM_FORMS else ()
    section.only("gradient", "measure_direction", *phantom_keys)
    gradients = {"exact": ExactGradient, "none": NoGradient}
    gradient = gradients[form]() if form in gradients else phantom(section, form)
    return DenseVariant(name, gradient, section.boolean("measure_direction"))


def parse_conv_timing_variant(name: str, section: Section) -> ConvTimingVariant:
    section.only("k", "damping")
    return ConvTimingVariant(name, section.integer("k", minimum=1), damping(section))


def phantom(section: Section, form: str) -> PhantomGradient:
    return PhantomGradient(form, section.integer("k", minimum=1), damping(section))


def damping(section: Section) -> float:
    """λ in (0, 1]: 1 is plain unrolling."""
    value = section.number("damping", positive=True)
    if value > 1:
        raise ParamError(section.key("damping"), value, "a number in (0, 1]")
    return value


def variant_names(config: Config) -> list[str]:
    """The variants, dense then conv_timing, each in params order: one train instance each."""
    return list(config.variants)
