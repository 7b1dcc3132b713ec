"""The validated `sparse_features` section of params.yaml.

Experiments, each with its model, data and run counts: the diagonal net at the 2-D notebook's small
setting (`diag_net`) and at the paper's Table 1 setting (`diag_table1`), and the ReLU
teacher-student (`relu_net`). Variants name an experiment, an optimizer and a schedule. Every
check runs before any compute and names the bad key.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...common.params import ParamError, Section
from ...common.schedules import Schedule, parse_schedule
from .data import RECIPES

# the tidy table's setting columns (stages/common/tables.py): what tells the variants' rows apart
SETTING_COLUMNS = {
    "experiment": "string",
    "optimizer": "string",
    "decay_at": "float64",
    "large_step": "string",
}

MODELS = {
    "diag_net": "diag_net",
    "diag_table1": "diag_net",
    "relu_net": "relu_net",
}  # experiment -> model
EXPERIMENTS = tuple(MODELS)
OPTIMIZERS = {
    "diag_net": ("sgd", "gd"),
    "diag_table1": ("sgd",),
    "relu_net": ("sgd",),
}  # SGD batch 1; full-batch GD


@dataclass(frozen=True)
class Probe:
    """Large-step probe: per data set, the largest grid step with at most `max_diverged_share` of
    `sampling_seeds` SGD orders diverging (GD, deterministic: the largest grid step that does not
    diverge), then `refine_rounds` bisections between it and the next grid step by the same rule.
    `grids` maps an optimizer to its grid of step sizes."""

    grids: dict[str, list[float]]
    horizon: float  # fraction of the experiment's steps the probe holds the step for
    sampling_seeds: int
    first_sampling_seed: int
    max_diverged_share: float
    refine_rounds: int = 0


@dataclass(frozen=True)
class Experiment:
    name: str
    model: str  # diag_net or relu_net
    recipe: str
    n_train: int
    n_test: int
    dim: int
    steps: int
    seeds: int
    sampling_seed_offset: int
    eval_points: int
    divergence_threshold: float
    support: int = 0  # diag_net: non-zeros of beta*
    init_scale: float = 0.0  # diag_net: u0 = init_scale·1; relu_net: W0 = init_scale·N(0, 1)
    teacher_width: int = 0  # relu_net
    student_width: int = 0  # relu_net
    probe: Probe | None = None
    first_seed: int = 0  # data seeds first_seed, ..., first_seed + seeds − 1

    @property
    def data_seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


@dataclass(frozen=True)
class Variant:
    name: str
    experiment: str
    optimizer: str
    schedule: Schedule


@dataclass(frozen=True)
class Config:
    experiments: dict[str, Experiment]
    variants: dict[str, Variant]


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup").only("first_seed", *EXPERIMENTS)
    first_seed = setup.integer("first_seed", minimum=0)
    experiments = {name: _experiment(setup.section(name), name, first_seed) for name in EXPERIMENTS}
    variants = {}
    for name, entry in section.sections("variants").items():
        entry.only("experiment", "optimizer", "schedule")
        experiment = entry.choice("experiment", EXPERIMENTS)
        optimizer = entry.choice("optimizer", OPTIMIZERS[experiment])
        schedule = parse_schedule(entry.section("schedule"))
        probe = experiments[experiment].probe
        if schedule.probed and schedule.decay_at is not None and schedule.decay_at > probe.horizon:
            raise ParamError(
                entry.key("schedule.decay_at"),
                schedule.decay_at,
                f"at most the probe's horizon {probe.horizon:g} (setup.{experiment}.probe.horizon): "
                "the probe must test the step for the whole large-step phase",
            )
        variants[name] = Variant(name, experiment, optimizer, schedule)
    return Config(experiments, variants)


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


def _experiment(section: Section, name: str, first_seed: int) -> Experiment:
    build = _diag_net if MODELS[name] == "diag_net" else _relu_net
    return build(section, name, first_seed)


def _common(section: Section, name: str, first_seed: int) -> dict:
    return dict(
        name=name,
        model=MODELS[name],
        first_seed=first_seed,
        recipe=section.choice("recipe", RECIPES),
        n_train=section.integer("n_train", minimum=2),
        n_test=section.integer("n_test", minimum=1),
        dim=section.integer("dim", minimum=1),
        steps=section.integer("steps", minimum=1),
        seeds=section.integer("seeds", minimum=1),
        sampling_seed_offset=section.integer("sampling_seed_offset", minimum=0),
        eval_points=section.integer("eval_points", minimum=2),
        divergence_threshold=section.number("divergence_threshold", positive=True),
    )


def _diag_net(section: Section, name: str, first_seed: int) -> Experiment:
    section.only(*COMMON_KEYS, "support", "init_scale")
    common = _common(section, name, first_seed)
    support = section.integer("support", minimum=1)
    if support > common["dim"]:
        raise ParamError(section.key("support"), support, f"an integer <= dim = {common['dim']}")
    return Experiment(
        **common,
        support=support,
        init_scale=section.number("init_scale", positive=True),
        probe=_probe(section.section("probe"), OPTIMIZERS[name]),
    )


def _relu_net(section: Section, name: str, first_seed: int) -> Experiment:
    section.only(*COMMON_KEYS, "init_scale", "teacher_width", "student_width")
    return Experiment(
        **_common(section, name, first_seed),
        init_scale=section.number("init_scale", positive=True),
        teacher_width=section.integer("teacher_width", minimum=1),
        student_width=section.integer("student_width", minimum=1),
        probe=_probe(section.section("probe"), OPTIMIZERS[name]),
    )


def _probe(section: Section, optimizers: tuple[str, ...]) -> Probe:
    section.only(
        *(f"{o}_grid" for o in optimizers),
        "horizon",
        "sampling_seeds",
        "first_sampling_seed",
        "max_diverged_share",
        "refine_rounds",
    )
    return Probe(
        grids={o: section.numbers(f"{o}_grid", positive=True, increasing=True) for o in optimizers},
        horizon=section.number("horizon", low=0.0, high=1.0, open_interval=True),
        sampling_seeds=section.integer("sampling_seeds", minimum=1),
        first_sampling_seed=section.integer("first_sampling_seed", minimum=0),
        max_diverged_share=section.number("max_diverged_share", low=0.0, high=1.0),
        refine_rounds=section.integer("refine_rounds", minimum=0)
        if section.has("refine_rounds")
        else 0,
    )


def variant_names(config: Config) -> list[str]:
    """The variants, in params order: one train instance each."""
    return list(config.variants)
