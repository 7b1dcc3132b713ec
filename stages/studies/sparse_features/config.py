"""The validated `sparse_features` section of params.yaml, as frozen dataclasses.

    setup.first_seed                      the first data seed of every experiment
    setup.<experiment>                    the experiment's data, model, run counts and probe:
                                          `DiagonalNetSetup` (diag_net, diag_table1,
                                          diag_gd_stabilises: §3) or `ReluNetSetup` (relu_net: §4.1)
    variants.<experiment>.<variant>       an optimizer and a step-size schedule (`Variant`); a
                                          variant's name is unique across the study

Code that depends on the model dispatches on the type of the variant's setup, never on the
experiment's name. Every check runs before any compute and names the full key, the value and what
is allowed; a key of another kind of setup (a ReLU width under a diagonal net) is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...common.params import ParamError, Section, require_memory
from ...common.schedules import Schedule, parse_schedule

# the tidy table's setting columns (stages/common/tables.py): what tells the variants' rows apart
SETTING_COLUMNS = {
    "experiment": "string",  # the variant's group: a key of EXPERIMENTS
    "optimizer": "string",  # sgd (batch 1) or gd (full batch)
    "decay_at": "float64",  # fraction of the steps at the large step; null for a constant step
    "large_step": "string",  # "probe": chosen per data set by the probe; "fixed": given in params
}
# data recipes (data.py): the public code's own draws (NumPy legacy seeding; torch's generator for
# the ReLU teacher), or default_rng
RECIPES = ("public_code", "generator")
PRECISIONS = ("float32", "float64")  # the ReLU net's training precision (the public code: float32)


@dataclass(frozen=True)
class Probe:
    """The large-step probe (training.probe), run per data set before the runs: the largest grid
    step γ at which at most `max_diverged_share` of the probe's SGD orders diverge within
    round(horizon·T) steps at constant γ (GD is deterministic: one order), then `refine_rounds`
    bisections between it and the next grid step by the same rule."""

    grids: dict[str, tuple[float, ...]]  # optimizer -> candidate steps γ, increasing
    horizon: float  # fraction of T each candidate is held for: >= every probed variant's decay_at
    sampling_seeds: int  # probe SGD orders per data set and candidate
    first_sampling_seed: int  # the first probe order's seed (+ first_seed), far from the runs'
    max_diverged_share: float  # in [0, 1]: the share of probe orders allowed to diverge
    refine_rounds: int  # bisections after the grid (0: the grid's choice; params may omit it)
    rerun_diverged: bool  # a probed run that diverges is rerun at its data set's next lower step
    # that passed the probe, until one does not diverge or none is left (params may omit it: false)


@dataclass(frozen=True)
class Setup:
    """What every experiment declares: its data, run counts and probe (the model's own fields are
    in the subclasses)."""

    name: str  # the experiment: its key under setup and variants, its `experiment` column
    recipe: str  # data recipe, one of RECIPES
    n_train: int  # n, training examples per data set
    n_test: int  # test examples per data set
    dim: int  # d, input dimension
    steps: int  # T, optimisation steps per run
    first_seed: int  # setup.first_seed: data seeds first_seed .. first_seed + seeds − 1
    seeds: int  # data sets, one run each per variant
    sampling_seed_offset: int  # SGD order seed = data seed + this (public_code: the notebook's)
    eval_points: int  # log-spaced and evenly spaced evaluation steps (evaluation_steps)
    divergence_threshold: float  # a recorded |parameter| above this (or non-finite): diverged
    probe: Probe

    @property
    def data_seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


@dataclass(frozen=True)
class DiagonalNetSetup(Setup):
    """Diagonal linear network β = u ⊙ v on noiseless sparse regression y = <β*, x> (§3)."""

    support: int  # r, non-zeros of β* (<= d)
    init_scale: float  # α: u0 = α·1, v0 = 0


@dataclass(frozen=True)
class ReluNetSetup(Setup):
    """Two-layer ReLU student f(x) = Σ_j a_j ReLU(<w_j, x>) of a teacher of the same form (§4.1)."""

    teacher_width: int  # neurons of the teacher (unit-norm w_j, a_j = ±1)
    student_width: int  # m, neurons of the student
    init_scale: float  # W0 = init_scale·N(0, 1), a0 = 0
    precision: str  # training dtype, one of PRECISIONS


# experiment -> (the kind of its setup, the optimizers its variants may use); every experiment
# must be set up (the probe and generate cover all of them), variants may leave one out
EXPERIMENTS: dict[str, tuple[type[Setup], tuple[str, ...]]] = {
    "diag_net": (DiagonalNetSetup, ("sgd", "gd")),
    "diag_table1": (DiagonalNetSetup, ("sgd",)),
    "relu_net": (ReluNetSetup, ("sgd",)),
    "diag_gd_stabilises": (DiagonalNetSetup, ("sgd", "gd")),
}
COMMON_KEYS = (
    "recipe",
    "n_train",
    "n_test",
    "dim",
    "steps",
    "seeds",
    "sampling_seed_offset",
    "eval_points",
    "divergence_threshold",
    "probe",
)
MODEL_KEYS = {
    DiagonalNetSetup: ("support", "init_scale"),
    ReluNetSetup: ("init_scale", "teacher_width", "student_width", "precision"),
}


@dataclass(frozen=True)
class Variant:
    """One train instance: every data set of one experiment under one optimizer and schedule."""

    name: str
    experiment: str  # its group under variants: a key of Config.experiments
    optimizer: str  # sgd: batch 1, one example order per data seed; gd: full batch
    schedule: Schedule  # step size γ_t; lr "probe": the probe's large step of each data set


@dataclass(frozen=True)
class Config:
    experiments: dict[str, Setup]  # experiment -> its setup (a DiagonalNetSetup or ReluNetSetup)
    variants: dict[str, Variant]  # in params order, group by group

    def setup_of(self, variant: str) -> Setup:
        return self.experiments[self.variants[variant].experiment]

    def variants_of(self, experiment: str) -> list[str]:
        return [name for name, v in self.variants.items() if v.experiment == experiment]


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup").only("first_seed", *EXPERIMENTS)
    first_seed = setup.integer("first_seed", minimum=0)
    experiments = {name: _setup(setup.section(name), name, first_seed) for name in EXPERIMENTS}
    variants: dict[str, Variant] = {
        name: _variant(entry, name, experiment, experiments[experiment])
        for experiment, name, entry in section.variant_entries(
            tuple(EXPERIMENTS), every_experiment=False
        )
    }
    return Config(experiments, variants)


def _variant(entry: Section, name: str, experiment: str, setup: Setup) -> Variant:
    entry.only("optimizer", "schedule")
    optimizer = entry.choice("optimizer", EXPERIMENTS[experiment][1])
    schedule = parse_schedule(entry.section("schedule"))
    horizon = setup.probe.horizon
    if schedule.probed and schedule.decay_at is not None and schedule.decay_at > horizon:
        raise ParamError(
            entry.key("schedule.decay_at"),
            schedule.decay_at,
            f"at most the probe's horizon {horizon:g} (setup.{experiment}.probe.horizon): "
            "the probe must test the step for the whole large-step phase",
        )
    return Variant(name, experiment, optimizer, schedule)


def _setup(section: Section, name: str, first_seed: int) -> Setup:
    kind, optimizers = EXPERIMENTS[name]
    section.only(*COMMON_KEYS, *MODEL_KEYS[kind])
    common = dict(
        name=name,
        recipe=section.choice("recipe", RECIPES),
        n_train=section.integer("n_train", minimum=2),
        n_test=section.integer("n_test", minimum=1),
        dim=section.integer("dim", minimum=1),
        steps=section.integer("steps", minimum=1),
        first_seed=first_seed,
        seeds=section.integer("seeds", minimum=1),
        sampling_seed_offset=section.integer("sampling_seed_offset", minimum=0),
        eval_points=section.integer("eval_points", minimum=2),
        divergence_threshold=section.number("divergence_threshold", positive=True),
    )
    if kind is DiagonalNetSetup:
        support = section.integer("support", minimum=1)
        if support > common["dim"]:
            raise ParamError(
                section.key("support"), support, f"an integer <= dim = {common['dim']}"
            )
        model = dict(support=support, init_scale=section.number("init_scale", positive=True))
    else:
        model = dict(
            init_scale=section.number("init_scale", positive=True),
            teacher_width=section.integer("teacher_width", minimum=1),
            student_width=section.integer("student_width", minimum=1),
            precision=section.choice("precision", PRECISIONS),
        )
    parameters = (
        common["dim"] if kind is DiagonalNetSetup else model["student_width"] * (common["dim"] + 1)
    )
    require_memory(  # the SGD orders and step sizes, the snapshots and the data of one variant
        section.path,
        8
        * common["seeds"]
        * (
            2 * common["steps"]
            + 2 * common["eval_points"] * parameters
            + (common["n_train"] + common["n_test"]) * common["dim"]
        ),
        "8 bytes x seeds x (2 steps + 2 eval_points x parameters + (n_train + n_test) x dim)",
    )
    return kind(**common, **model, probe=_probe(section.section("probe"), optimizers))


def _probe(section: Section, optimizers: tuple[str, ...]) -> Probe:
    section.only(
        *(f"{o}_grid" for o in optimizers),
        "horizon",
        "sampling_seeds",
        "first_sampling_seed",
        "max_diverged_share",
        "refine_rounds",
        "rerun_diverged",
    )
    return Probe(
        grids={
            o: tuple(section.numbers(f"{o}_grid", positive=True, increasing=True))
            for o in optimizers
        },
        horizon=section.number("horizon", low=0.0, high=1.0, open_interval=True),
        sampling_seeds=section.integer("sampling_seeds", minimum=1),
        first_sampling_seed=section.integer("first_sampling_seed", minimum=0),
        max_diverged_share=section.number("max_diverged_share", low=0.0, high=1.0),
        refine_rounds=(
            section.integer("refine_rounds", minimum=0) if section.has("refine_rounds") else 0
        ),
        rerun_diverged=(
            section.boolean("rerun_diverged") if section.has("rerun_diverged") else False
        ),
    )


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)
