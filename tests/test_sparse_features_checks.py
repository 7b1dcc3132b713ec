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
from stages.studies.sparse_features.checks import CHECKS
from stages.studies.sparse_features.metrics import TEST_LOSS, TRAIN_LOSS
from stages.studies.sparse_features.orderings import (
    matched_steps,
    mean_order,
    rank_correlation,
    values_at,
)

NAN = float("nan")
LAST = 1000
STEPS = list(range(0, LAST + 1, 50))
SEEDS = 12
SPARSITY = {
    "diag_net": ("effective_nonzeros",),
    "diag_table1": ("nonzeros_paper", "effective_nonzeros"),
    "relu_net": ("feature_sparsity",),
    "diag_gd_stabilises": ("nonzeros_paper",),
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
    **{f"t1_sgd_decay{p}": ("diag_table1", "sgd", p / 100, "probe") for p in (10, 30, 50)},
    "t1_sgd_paper_const": ("diag_table1", "sgd", NAN, "fixed"),
    "t1_sgd_paper_decay50": ("diag_table1", "sgd", 0.5, "fixed"),
    "relu_sgd_small": ("relu_net", "sgd", NAN, "probe"),
    **{f"relu_sgd_decay{p}": ("relu_net", "sgd", p / 100, "probe") for p in (10, 30, 50)},
    "relu_sgd_paper_small": ("relu_net", "sgd", NAN, "fixed"),
    "gds_gd_small": ("diag_gd_stabilises", "gd", NAN, "probe"),
    "gds_gd_decay50": ("diag_gd_stabilises", "gd", 0.5, "probe"),
    "gds_sgd_decay50": ("diag_gd_stabilises", "sgd", 0.5, "probe"),
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
    "longer_large_step": [f"t1_sgd_decay{p}" for p in (10, 30, 50)]
    + ["t1_sgd_paper_decay50"]
    + [f"relu_sgd_decay{p}" for p in (10, 30, 50)],
    "sgd_noise_needed": [
        "diag_sgd_decay50",
        "diag_gd_decay50",
        "diag_gd_flow",
        "diag_sgd_paper",
        "diag_gd_paper",
        "gds_gd_small",
        "gds_gd_decay50",
        "gds_sgd_decay50",
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
    if experiment == "diag_gd_stabilises":  # the notebook's l0: GD 100 (small) and 78, SGD 33
        return (33.0 if optimizer == "sgd" else 100.0 if math.isnan(decay_at) else 78.0) * j
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
            for metric, value in (
                ("diverged", float(lost)),
                ("lr_large", 0.3),
                ("large_step_reruns", float(lost)),  # a lost run was rerun once, in vain
            ):
                rows.append({**base, "seed": seed, "step": LAST, "metric": metric, "value": value})
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


def test_rank_correlation_known_answers():
    points = [0.1, 0.3, 0.5]
    rows = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    rho = rank_correlation(points, rows)
    np.testing.assert_allclose(rho, [-1.0, 1.0, -0.5, 0.0])  # all tied: no order, 0
    assert np.isnan(rank_correlation(points, np.array([[3.0, np.nan, 1.0]]))[0])
    np.testing.assert_allclose(rank_correlation(points, np.array([[2.0, 2.0, 1.0]])), [-0.8660254])


def test_matched_steps_read_each_run_where_it_first_reaches_the_common_level():
    """Seed 0: the 10% run ends at 4e-5, the 50% run at 1e-5: the common level is 4e-5, which the
    10% run reaches at step 600 and the 50% run at 700 (its first step after the decay below it).
    Seed 1: the 50% run diverged: no level, no steps."""
    steps = [0, 100, 500, 600, 700, 800, 1000]
    curves = {
        ("a", 0): [1, 1e-1, 1e-3, 4e-5, 3e-5, 2e-5, 4e-5],  # decay at 100: 4e-5 last at 1000
        ("b", 0): [1, 1e-1, 1e-1, 1e-1, 3e-5, 2e-5, 1e-5],  # decay at 500
        ("a", 1): [1, 1e-1, 1e-3, 4e-5, 3e-5, 2e-5, 4e-5],
        ("b", 1): [1, 1e-1, 1e-1, 1e-1, NAN, NAN, NAN],
    }
    rows = []
    for (variant, seed), values in curves.items():
        for step, value in zip(steps, values, strict=True):
            rows.append(
                {"variant": variant, "seed": seed, "step": step, "metric": "loss", "value": value}
            )
            rows.append(
                {
                    "variant": variant,
                    "seed": seed,
                    "step": step,
                    "metric": "test",
                    "value": 10 * step + seed,
                }
            )
        lost = variant == "b" and seed == 1
        rows.append(
            {
                "variant": variant,
                "seed": seed,
                "step": 1000,
                "metric": "diverged",
                "value": float(lost),
            }
        )
    table = pd.DataFrame(rows)
    level, matched = matched_steps(table, ["a", "b"], "loss", [100, 500], [0, 1])
    assert level[0] == 4e-5 and np.isnan(level[1])
    np.testing.assert_array_equal(matched[0], [600, 700])
    assert np.isnan(matched[1]).all()
    np.testing.assert_array_equal(
        values_at(table, ["a", "b"], "test", matched, [0, 1])[0], [6000, 7000]
    )


def test_mean_order_counts_a_lost_seed_as_the_worst_order():
    values = np.array([[-1.0, -1.0, -0.5, np.inf]])  # the last seed lost (the rule's failing fill)
    assert mean_order(values)[0] == pytest.approx((-1 - 1 - 0.5 + 1) / 4)


def test_c3_holds_and_its_every_labelling_control_fails():
    evidence, judgement = judged("longer_large_step", build(CHECK_VARIANTS["longer_large_step"]))
    assert judgement.verdict == REPRODUCED and judgement.control.verdict == NOT_REPRODUCED
    # per experiment: the per-seed order of sparsity (first) and of test loss
    assert len(evidence.parts) == len(evidence.control) == 4
    assert all(np.all(p.values == -1.0) for p in evidence.parts)
    assert (
        "feature_sparsity" in evidence.parts[2].name and "test_loss_mse" in evidence.parts[3].name
    )
    # the null table: every seed under all 6 labellings, mean order exactly 0
    null = evidence.control[0]
    assert len(null.seeds) == 6 * SEEDS and np.mean(null.values) == pytest.approx(0.0)
    assert judgement.control.parts[0].p_holds == 0.0


MIRROR = {
    "t1_sgd_decay10": "t1_sgd_decay50",
    "t1_sgd_decay50": "t1_sgd_decay10",
    "relu_sgd_decay10": "relu_sgd_decay50",
    "relu_sgd_decay50": "relu_sgd_decay10",
}


def reversed_trend(variant, metric, seed, step):
    """The later the decay, the denser and the worse (the train loss keeps each run's own shape)."""
    experiment = VARIANTS[variant][0]
    if variant in MIRROR and metric != TRAIN_LOSS[experiment]:
        return healthy(MIRROR[variant], metric, seed, step)
    return healthy(variant, metric, seed, step)


def test_c3_fails_on_a_reversed_trend():
    _, judgement = judged(
        "longer_large_step", build(CHECK_VARIANTS["longer_large_step"], reversed_trend)
    )
    assert judgement.verdict == NOT_REPRODUCED
    orders = [p for p in judgement.decision.parts if "Spearman" in p.name]
    assert all(p.statistic == pytest.approx(1.0) for p in orders)


def test_c3_compares_at_matched_training_loss_not_at_the_end():
    """The earliest decay trains longest after its decay and ends lowest in everything; read where
    each run first reaches the common level, the latest decay is the better one."""

    def longer_after_decay_looks_better(variant, metric, seed, step):
        experiment, optimizer, decay_at, _ = VARIANTS[variant]
        if experiment != "relu_net" or math.isnan(decay_at):
            return healthy(variant, metric, seed, step)
        decay = round(decay_at * LAST)
        if metric == "train_loss_mse":
            return 1e-1 if step < decay else 1e-4 * 10 ** (-(step - decay) / 250)
        since = max(step - decay, 0)
        if metric == "test_loss_mse":  # at the match (step = decay) lower for a later decay
            return (1e-3 - 1e-3 * decay_at) * 10 ** (-since / 250)
        return (0.15 - 0.1 * decay_at) * 10 ** (-since / 1000)

    table = build(CHECK_VARIANTS["longer_large_step"], longer_after_decay_looks_better)
    evidence, judgement = judged("longer_large_step", table)
    relu = [p for p in judgement.decision.parts if p.name.startswith("relu_net")]
    assert all(p.p_holds == 1.0 for p in relu)
    # the same runs compared at the end of training give the reverse order
    finals = np.array(
        [
            table[(table.variant == v) & (table.metric == "test_loss_mse") & (table.step == LAST)]
            .sort_values("seed")
            .value.to_numpy()
            for v in ("relu_sgd_decay10", "relu_sgd_decay30", "relu_sgd_decay50")
        ]
    ).T
    assert np.all(rank_correlation([0.1, 0.3, 0.5], finals) == 1.0)


def test_c3_a_seed_lost_at_one_decay_point_loses_its_row():
    table = build(CHECK_VARIANTS["longer_large_step"], diverged={"t1_sgd_decay50": 10})
    _, judgement = judged("longer_large_step", table)
    assert judgement.verdict == NOT_REPRODUCED and judgement.survivors.verdict == REPRODUCED
    assert all(p.lost == 10 for p in judgement.decision.parts if p.name.startswith("diag_table1"))


def test_c3_the_test_loss_order_alone_can_fail_the_claim():
    def unordered_test_loss(variant, metric, seed, step):
        if metric == "test_loss_mse" and variant.startswith("relu_sgd_decay"):
            # each seed in a random order of the three decay points
            order = np.random.default_rng(seed).permutation(3)
            return 1e-3 * (1 + order[[0.1, 0.3, 0.5].index(VARIANTS[variant][2])])
        return healthy(variant, metric, seed, step)

    _, judgement = judged(
        "longer_large_step", build(CHECK_VARIANTS["longer_large_step"], unordered_test_loss)
    )
    assert judgement.verdict == NOT_REPRODUCED
    failing = [p.name for p in judgement.decision.parts if p.p_holds < 0.05]
    assert failing == [
        "relu_net: Spearman(decay point, test_loss_mse) per seed at matched training loss, mean"
    ]


# ------------------------------------------------------------------------------- C4 SGD noise needed


def test_c4_holds_and_its_gradient_flow_control_fails():
    evidence, judgement = judged("sgd_noise_needed", build(CHECK_VARIANTS["sgd_noise_needed"]))
    assert judgement.verdict == REPRODUCED and judgement.control.verdict == NOT_REPRODUCED
    assert [p.name for p in evidence.control] == [
        "test_loss_half_mse: diag_gd_flow / diag_gd_decay50",
        "effective_nonzeros: diag_gd_flow / diag_gd_decay50",
        "nonzeros_paper: gds_gd_small / gds_gd_decay50",
    ]
    assert [p.tolerance for p in evidence.parts] == [
        "test_loss_ratio_min",
        "sparsity_ratio_min",
        "l0_ratio_min",
    ]
    cell = judgement.decision.parts[2]
    assert cell.statistic == pytest.approx(78 / 33, rel=0.15)  # the notebook's l0 78 over 33
    # seed 0 of the variants with a printout, beside it
    assert {row["seed 0"].split(" ")[0] for row in evidence.rows} == {
        "diag_gd_flow",
        "diag_sgd_paper",
        "diag_gd_paper",
        "diag_sgd_decay50",
        "diag_gd_decay50",
        "gds_gd_small",
        "gds_gd_decay50",
        "gds_sgd_decay50",
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
    p_holds = {p.name: p.p_holds for p in judgement.decision.parts}
    assert p_holds == {
        "test_loss_half_mse: diag_gd_decay50 / diag_sgd_decay50": 0.0,
        "effective_nonzeros: diag_gd_decay50 / diag_sgd_decay50": 0.0,
        "nonzeros_paper: gds_gd_decay50 / gds_sgd_decay50": 1.0,  # the other setting still holds
    }


def test_c4_is_unfalsifiable_when_the_large_step_alone_gives_the_benefit():
    """GD with the large step ends as well as SGD: the control (gradient flow over large-step GD)
    holds, so GD against SGD cannot speak for the noise."""

    def large_step_alone(variant, metric, seed, step):
        if variant == "diag_gd_decay50" and metric in ("test_loss_half_mse", "effective_nonzeros"):
            return 1.5 * healthy("diag_sgd_decay50", metric, seed, step)
        return healthy(variant, metric, seed, step)

    two_d = [v for v in CHECK_VARIANTS["sgd_noise_needed"] if not v.startswith("gds_")]
    _, judgement = judged("sgd_noise_needed", build(two_d, large_step_alone))
    assert judgement.control.verdict == REPRODUCED and judgement.verdict == "unfalsifiable"


def test_c4_fails_where_gd_ends_as_sparse_as_sgd():
    def gd_sparse(variant, metric, seed, step):
        if variant == "gds_gd_decay50" and metric == "nonzeros_paper":
            return 1.2 * healthy("gds_sgd_decay50", metric, seed, step)
        return healthy(variant, metric, seed, step)

    _, judgement = judged("sgd_noise_needed", build(CHECK_VARIANTS["sgd_noise_needed"], gd_sparse))
    assert judgement.verdict == NOT_REPRODUCED
    assert judgement.decision.deciding.name == "nonzeros_paper: gds_gd_decay50 / gds_sgd_decay50"


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
