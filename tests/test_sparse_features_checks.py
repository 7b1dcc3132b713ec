"""Claim checks C1-C4 (stages/studies/sparse_features/checks.py) on constructed tidy tables, judged
by the one decision rule (stages/common/decision.py): one world where each claim holds (reproduced,
its control not_reproduced), one where it fails, one with diverged seeds (counted as failing, so
the survivors-only verdict differs), known answers for C3's statistic, and every control failing
on the study's real tiny-profile table (a train -> measure run through the Study API).

Roles, as checks.py reads them from the setting columns: the small-step baseline is SGD with NaN
decay_at; the decay variants are SGD with decay_at set (probed large steps win over fixed ones when
both exist); GD variants have optimizer `gd`. Values are per (variant, seed, step); only C1 reads
more than the last step (the second half of the large-step phase, [decay_step/2, decay_step)).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from stages.common.decision import NOT_REPRODUCED, REPRODUCED, judge
from stages.common.params import Section
from stages.common.study import Execution, load_study
from stages.profile import merge
from stages.studies.sparse_features.checks import CHECKS, _spearman_of_medians
from stages.studies.sparse_features.metrics import TEST_LOSS, TRAIN_LOSS

NAN = float("nan")
LAST = 1000
STEPS = list(range(0, LAST + 1, 50))
SEEDS = 12
SPARSITY = {
    "diag_net": ("effective_nonzeros",),
    "diag_table1": ("nonzeros_paper", "effective_nonzeros"),
    "relu_net": ("feature_sparsity",),
}

# name: (experiment, optimizer, decay_at, large_step), as measure.py writes the setting columns
VARIANTS = {
    "diag_sgd_small": ("diag_net", "sgd", NAN, "probe"),
    **{f"diag_sgd_decay{p}": ("diag_net", "sgd", p / 100, "probe") for p in (10, 30, 50, 70, 90)},
    "diag_gd_decay50": ("diag_net", "gd", 0.5, "probe"),
    "diag_gd_flow": ("diag_net", "gd", NAN, "fixed"),
    "diag_sgd_paper": ("diag_net", "sgd", 0.5, "fixed"),
    "diag_gd_paper": ("diag_net", "gd", 0.5, "fixed"),
    "t1_sgd_small": ("diag_table1", "sgd", NAN, "probe"),
    "t1_sgd_decay50": ("diag_table1", "sgd", 0.5, "probe"),
    "t1_sgd_paper_const": ("diag_table1", "sgd", NAN, "fixed"),
    "t1_sgd_paper_decay50": ("diag_table1", "sgd", 0.5, "fixed"),
    "relu_sgd_small": ("relu_net", "sgd", NAN, "probe"),
    **{f"relu_sgd_decay{p}": ("relu_net", "sgd", p / 100, "probe") for p in (10, 30, 50)},
}

REGISTRY = yaml.safe_load((REPO / "claims.yaml").read_text())["sparse_features"]
TOLERANCES = {entry["check"]: entry["tolerance"] for entry in REGISTRY.values()}

# the variants each check reads: claims.yaml's kind of list plus fixed-step distractors to ignore
CHECK_VARIANTS = {
    "loss_stabilization": [
        "diag_sgd_small",
        "diag_sgd_decay30",
        "diag_sgd_decay50",
        "diag_sgd_decay70",
        "diag_sgd_paper",
        "relu_sgd_small",
        "relu_sgd_decay30",
        "relu_sgd_decay50",
    ],
    "implicit_sparsity": [
        "diag_sgd_small",
        "diag_sgd_decay50",
        "diag_sgd_paper",
        "relu_sgd_small",
        "relu_sgd_decay50",
    ],
    "longer_large_step": [f"diag_sgd_decay{p}" for p in (10, 30, 50, 70, 90)]
    + ["diag_sgd_paper"]
    + [f"relu_sgd_decay{p}" for p in (10, 30, 50)],
    "sgd_noise_needed": [
        "diag_sgd_decay50",
        "diag_gd_decay50",
        "diag_gd_flow",
        "diag_sgd_paper",
        "diag_gd_paper",
    ],
}


def jitter(variant: str, seed: int) -> float:
    """A seed spread of a few percent, different for each variant."""
    return 1.0 + 0.03 * ((seed * (len(variant) + 3)) % 5)


def healthy(variant: str, metric: str, seed: int, step: int) -> float:
    """A world where the paper is right (every claim reproduced)."""
    experiment, optimizer, decay_at, large_step = VARIANTS[variant]
    j = jitter(variant, seed)
    kind = "train" if metric == TRAIN_LOSS[experiment] else metric
    kind = "test" if metric == TEST_LOSS[experiment] else kind
    if variant == "diag_sgd_paper":  # a fixed-step distractor that contradicts every claim
        return {"train": 1e-4, "test": 1e-2, "effective_nonzeros": 10.0}[kind] * j
    if kind == "train":
        if optimizer == "gd":
            return 5e-6 * j
        if math.isnan(decay_at):
            return 1e-4 * j  # the small step converges low
        return (1e-1 if step < round(decay_at * LAST) else 1e-6) * j  # plateau, then falls
    if kind == "test":
        if optimizer == "gd":
            return (1e-1 if not math.isnan(decay_at) else 1.5e-2) * j
        if math.isnan(decay_at):
            return 1e-2 * j
        return 10 ** (-2 - 4 * decay_at) * j  # the later the decay, the lower
    # sparsity measure: lower is sparser
    if experiment == "diag_net":
        if optimizer == "gd":
            return 20.0 * j
        return (10.0 if math.isnan(decay_at) else 5.0 - 3.0 * decay_at) * j
    return (0.3 if math.isnan(decay_at) else 0.15 - 0.1 * decay_at) * j


def build(
    variants, values=healthy, diverged: dict[str, int] | None = None, settings=None
) -> pd.DataFrame:
    """The tidy table measure+aggregate would write; `diverged` maps a variant to its number of
    diverged seeds (values NaN from step 100 on, metric `diverged` = 1)."""
    diverged = diverged or {}
    settings = {**VARIANTS, **(settings or {})}
    rows = []
    for variant in variants:
        experiment, optimizer, decay_at, large_step = settings[variant]
        base = {
            "study": "sparse_features",
            "variant": variant,
            "experiment": experiment,
            "optimizer": optimizer,
            "decay_at": decay_at,
            "large_step": large_step,
        }
        metrics = (TRAIN_LOSS[experiment], TEST_LOSS[experiment], *SPARSITY[experiment])
        for seed in range(SEEDS):
            lost = seed < diverged.get(variant, 0)
            for metric in metrics:
                for step in STEPS:
                    value = NAN if lost and step >= 100 else values(variant, metric, seed, step)
                    rows.append(
                        {**base, "seed": seed, "step": step, "metric": metric, "value": value}
                    )
            rows.append(
                {**base, "seed": seed, "step": LAST, "metric": "diverged", "value": float(lost)}
            )
    return pd.DataFrame(rows)


def judged(check: str, table: pd.DataFrame):
    evidence = CHECKS[check](
        table, Section(TOLERANCES[check], f"claims.yaml:sparse_features.{check}.tolerance")
    )
    return evidence, judge(evidence)


def test_tolerance_keys_match_the_registry():
    assert set(TOLERANCES) == set(CHECKS)
    for check, tolerance in TOLERANCES.items():
        evidence, _ = judged(check, build(CHECK_VARIANTS[check]))
        used = {part.tolerance for part in evidence.parts + evidence.control}
        assert used <= set(tolerance), check


# ------------------------------------------------------------------------------ C1 loss stabilization


def test_c1_holds_and_its_control_fails():
    evidence, judgement = judged("loss_stabilization", build(CHECK_VARIANTS["loss_stabilization"]))
    assert judgement.verdict == REPRODUCED and judgement.stable
    assert judgement.control.verdict == NOT_REPRODUCED
    # 5 probed decay variants x (over small step, over the final loss); the fixed-step distractor
    # is ignored; the control puts the small step in each decay variant's place
    assert len(evidence.parts) == len(evidence.control) == 10
    assert not any("diag_sgd_paper" in part.name for part in evidence.parts)
    small = next(p for p in evidence.control if p.name.endswith("over small step"))
    assert np.all(small.values == 1.0)


def no_plateau(variant, metric, seed, step):
    """The large step converges like the small one: the loss never sits far above it."""
    experiment, optimizer, decay_at, _ = VARIANTS[variant]
    if metric == TRAIN_LOSS[experiment] and optimizer == "sgd" and not math.isnan(decay_at):
        return (2e-4 if step < round(decay_at * LAST) else 1e-4) * jitter(variant, seed)
    return healthy(variant, metric, seed, step)


def test_c1_fails_without_a_plateau():
    _, judgement = judged(
        "loss_stabilization", build(CHECK_VARIANTS["loss_stabilization"], no_plateau)
    )
    assert judgement.verdict == NOT_REPRODUCED
    assert judgement.decision.deciding.p_holds == 0.0


def test_c1_diverged_seeds_count_as_failing():
    """10 of 12 decay-at-50% runs diverge: counted, the median fails; on survivors it holds."""
    table = build(CHECK_VARIANTS["loss_stabilization"], diverged={"diag_sgd_decay50": 10})
    _, judgement = judged("loss_stabilization", table)
    assert judgement.verdict == NOT_REPRODUCED
    assert judgement.survivors.verdict == REPRODUCED
    lost = {p.name: p.lost for p in judgement.decision.parts}
    assert lost["diag_sgd_decay50: plateau (train_loss_half_mse) over small step"] == 10


def test_c1_a_diverged_baseline_loses_the_pair():
    table = build(CHECK_VARIANTS["loss_stabilization"], diverged={"relu_sgd_small": 10})
    _, judgement = judged("loss_stabilization", table)
    assert judgement.verdict == NOT_REPRODUCED
    lost = {p.name: p.lost for p in judgement.decision.parts if p.name.startswith("relu")}
    assert len(lost) == 4  # the pair with the small step is lost; the run's own ratio is not
    assert all(n == (10 if name.endswith("over small step") else 0) for name, n in lost.items())


def plateau_in(first_half_high: bool):
    def values(variant, metric, seed, step):
        experiment, optimizer, decay_at, _ = VARIANTS[variant]
        if metric != TRAIN_LOSS[experiment] or optimizer != "sgd" or math.isnan(decay_at):
            return healthy(variant, metric, seed, step)
        decay_step = round(decay_at * LAST)
        if step >= decay_step:
            return 1e-6
        return 1e-1 if (step < decay_step // 2) == first_half_high else 1e-6

    return values


def test_c1_judges_the_second_half_of_the_large_step_phase():
    variants = CHECK_VARIANTS["loss_stabilization"]
    # high only early in the large-step phase, down to the small step's level before the decay
    _, early = judged("loss_stabilization", build(variants, plateau_in(first_half_high=True)))
    assert early.verdict == NOT_REPRODUCED
    # low early (transient) and high in the second half: a plateau
    _, late = judged("loss_stabilization", build(variants, plateau_in(first_half_high=False)))
    assert late.verdict == REPRODUCED


# --------------------------------------------------------------------------------- C2 implicit sparsity


def test_c2_holds_and_its_control_fails():
    evidence, judgement = judged("implicit_sparsity", build(CHECK_VARIANTS["implicit_sparsity"]))
    assert judgement.verdict == REPRODUCED and judgement.control.verdict == NOT_REPRODUCED
    statistics = {p.name: p.statistic for p in judgement.decision.parts}
    # diag: (5 - 1.5) / 10 = 0.35, relu: (0.15 - 0.05) / 0.3 = 0.33, before the seed jitter
    assert all(0.3 < value < 0.45 for value in statistics.values()) and len(statistics) == 2


def barely_sparser(variant, metric, seed, step):
    """Probed decay variants end only 5% sparser than the small constant step."""
    experiment, optimizer, decay_at, large_step = VARIANTS[variant]
    if metric in SPARSITY[experiment] and optimizer == "sgd" and not math.isnan(decay_at):
        return 0.95 * healthy(experiment.split("_")[0] + "_sgd_small", metric, seed, step)
    return healthy(variant, metric, seed, step)


def test_c2_fails_when_barely_sparser():
    _, judgement = judged(
        "implicit_sparsity", build(CHECK_VARIANTS["implicit_sparsity"], barely_sparser)
    )
    assert judgement.verdict == NOT_REPRODUCED


def test_c2_diverged_and_unfitted_seeds_count_as_failing():
    def unfitted(variant, metric, seed, step):
        if variant == "diag_sgd_decay50" and metric == "train_loss_half_mse" and seed < 4:
            return 1e-2  # above fit_train_loss_max = 1e-3: a lost pair
        return healthy(variant, metric, seed, step)

    table = build(CHECK_VARIANTS["implicit_sparsity"], unfitted, diverged={"relu_sgd_decay50": 10})
    _, judgement = judged("implicit_sparsity", table)
    assert judgement.verdict == NOT_REPRODUCED and judgement.survivors.verdict == REPRODUCED
    lost = {p.name.split(" /")[0]: p.lost for p in judgement.decision.parts}
    assert lost == {"diag_sgd_decay50": 4, "relu_sgd_decay50": 10}


# ----------------------------------------------------------------------------- C3 longer large step


def test_spearman_of_medians_known_answers():
    statistic = _spearman_of_medians([0.1, 0.3, 0.5])
    ordered = np.array([[3.0, 2.0, 1.0], [30.0, 20.0, 10.0], [3.5, 2.5, 0.5]])
    assert statistic(ordered[None])[0] == pytest.approx(-1.0)
    assert statistic(ordered[None, :, ::-1])[0] == pytest.approx(1.0)
    assert statistic(np.array([[[3.0, 1.0, 2.0]]]))[0] == pytest.approx(-0.5)
    assert np.isnan(statistic(np.ones((1, 3, 3)))[0])  # tied medians: no ordering
    # two lost seeds of three (their rows anti-ordered) turn the medians around
    lost = ordered.copy()
    lost[:2, 1] = np.inf
    assert statistic(lost[None])[0] == pytest.approx(1.0)
    # vectorised over resamples
    both = np.stack([ordered, ordered[:, ::-1]])
    np.testing.assert_allclose(statistic(both), [-1.0, 1.0])


def test_c3_holds_and_its_shuffled_control_fails():
    evidence, judgement = judged("longer_large_step", build(CHECK_VARIANTS["longer_large_step"]))
    assert judgement.verdict == REPRODUCED and judgement.control.verdict == NOT_REPRODUCED
    # per experiment: two Spearman parts and one factor
    assert len(evidence.parts) == len(evidence.control) == 6
    spearman = [p for p in judgement.decision.parts if "Spearman" in p.name]
    assert all(p.statistic == pytest.approx(-1.0) for p in spearman)
    diag = next(p for p in evidence.parts if p.name.startswith("diag_net: test_loss_half_mse"))
    assert np.median(diag.values) == pytest.approx(10**3.2, rel=0.2)


MIRROR = {
    "diag_sgd_decay10": "diag_sgd_decay90",
    "diag_sgd_decay30": "diag_sgd_decay70",
    "diag_sgd_decay70": "diag_sgd_decay30",
    "diag_sgd_decay90": "diag_sgd_decay10",
    "relu_sgd_decay10": "relu_sgd_decay50",
    "relu_sgd_decay50": "relu_sgd_decay10",
}


def reversed_trend(variant, metric, seed, step):
    """The later the decay, the denser and the worse: every variant takes its mirror's values."""
    if variant in MIRROR:
        return healthy(MIRROR[variant], metric, seed, step)
    return healthy(variant, metric, seed, step)


def test_c3_fails_on_a_reversed_trend():
    _, judgement = judged(
        "longer_large_step", build(CHECK_VARIANTS["longer_large_step"], reversed_trend)
    )
    assert judgement.verdict == NOT_REPRODUCED
    spearman = [p for p in judgement.decision.parts if "Spearman" in p.name]
    assert all(p.statistic == pytest.approx(1.0) for p in spearman)


def test_c3_diverged_seeds_count_against_the_ordering():
    table = build(CHECK_VARIANTS["longer_large_step"], diverged={"diag_sgd_decay50": 10})
    _, judgement = judged("longer_large_step", table)
    assert judgement.verdict == NOT_REPRODUCED and judgement.survivors.verdict == REPRODUCED


def test_c3_factor_alone_can_fail_the_claim():
    def flat_factor(variant, metric, seed, step):
        if metric == "test_loss_mse" and variant.startswith("relu_sgd_decay"):
            # still in order, but the earliest decay is only 1.2x the latest
            return {0.1: 1.2e-3, 0.3: 1.1e-3, 0.5: 1.0e-3}[VARIANTS[variant][2]]
        return healthy(variant, metric, seed, step)

    _, judgement = judged(
        "longer_large_step", build(CHECK_VARIANTS["longer_large_step"], flat_factor)
    )
    assert judgement.verdict == NOT_REPRODUCED
    failing = [p.name for p in judgement.decision.parts if p.p_holds == 0.0]
    assert failing == ["relu_net: test_loss_mse relu_sgd_decay10 / relu_sgd_decay50"]


# ------------------------------------------------------------------------------- C4 SGD noise needed


def test_c4_holds_and_its_gradient_flow_control_fails():
    evidence, judgement = judged("sgd_noise_needed", build(CHECK_VARIANTS["sgd_noise_needed"]))
    assert judgement.verdict == REPRODUCED and judgement.control.verdict == NOT_REPRODUCED
    assert [p.name for p in evidence.control] == [
        "test_loss_half_mse: diag_gd_flow / diag_gd_decay50",
        "effective_nonzeros: diag_gd_flow / diag_gd_decay50",
    ]
    # the notebook's fixed-step reference runs, seed 0, beside its printout
    assert {row["reference, seed 0"].split(" ")[0] for row in evidence.rows} == {
        "diag_gd_flow",
        "diag_sgd_paper",
        "diag_gd_paper",
    }


def sgd_like_gd(variant, metric, seed, step):
    """SGD with the large step ends where GD does: no benefit from the noise."""
    if variant == "diag_sgd_decay50" and metric in ("test_loss_half_mse", "effective_nonzeros"):
        return 0.9 * healthy("diag_gd_decay50", metric, seed, step)
    return healthy(variant, metric, seed, step)


def test_c4_fails_when_sgd_matches_gd():
    _, judgement = judged(
        "sgd_noise_needed", build(CHECK_VARIANTS["sgd_noise_needed"], sgd_like_gd)
    )
    assert judgement.verdict == NOT_REPRODUCED
    assert all(p.p_holds == 0.0 for p in judgement.decision.parts)


def test_c4_is_unfalsifiable_when_the_large_step_alone_gives_the_benefit():
    """GD with the large step ends as well as SGD: the control (gradient flow over large-step GD)
    holds, so GD against SGD cannot speak for the noise."""

    def large_step_alone(variant, metric, seed, step):
        if variant == "diag_gd_decay50" and metric in ("test_loss_half_mse", "effective_nonzeros"):
            return 1.5 * healthy("diag_sgd_decay50", metric, seed, step)
        return healthy(variant, metric, seed, step)

    _, judgement = judged(
        "sgd_noise_needed", build(CHECK_VARIANTS["sgd_noise_needed"], large_step_alone)
    )
    assert judgement.control.verdict == REPRODUCED and judgement.verdict == "unfalsifiable"


def test_c4_diverged_sgd_seeds_count_as_failing():
    table = build(CHECK_VARIANTS["sgd_noise_needed"], diverged={"diag_sgd_decay50": 10})
    _, judgement = judged("sgd_noise_needed", table)
    assert judgement.verdict == NOT_REPRODUCED and judgement.survivors.verdict == REPRODUCED


# ------------------------------------------------- every control fails on the real tiny-profile table


@pytest.fixture(scope="module")
def tiny_table() -> pd.DataFrame:
    """The study's tiny profile (tests/profiles/tiny.yaml) through probe, train and measure, in
    memory (the Study API; the stages only add file I/O around it)."""
    study = load_study("sparse_features")
    raw = merge(
        yaml.safe_load((REPO / "params.yaml").read_text()),
        yaml.safe_load((REPO / "tests/profiles/tiny.yaml").read_text()),
    )["sparse_features"]
    config = study.parse(Section(raw, "sparse_features"))
    data = study.module("data").generate(config)
    training, measurement = study.module("training"), study.module("measurement")
    probe = training.probe(config, data)
    frames = []
    for variant in study.variant_names(config):
        arrays = training.train(
            config, variant, data, probe=probe, execution=Execution(), reads={}
        ).arrays
        frame = measurement.measure(config, variant, data, arrays, reads={})
        frame.insert(0, "variant", variant)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("claim", sorted(REGISTRY))
def test_every_control_fails_on_the_tiny_table(tiny_table, claim):
    entry = REGISTRY[claim]
    rows = tiny_table[tiny_table["variant"].isin(entry["variants"])]
    evidence = CHECKS[entry["check"]](
        rows, Section(entry["tolerance"], f"claims.yaml:sparse_features.{claim}.tolerance")
    )
    assert judge(evidence).control.verdict == NOT_REPRODUCED, claim
