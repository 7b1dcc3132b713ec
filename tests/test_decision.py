"""The one decision rule (stages/common/decision.py) on constructed seed samples with known answers:
a clear effect, no effect, half an effect with a wide spread, diverged runs counted both ways, a
control that does not fail, split halves, deterministic parts, pairing across parts."""

from __future__ import annotations

import numpy as np
import pytest

from stages.common.decision import (
    EXCLUDED,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    UNFALSIFIABLE,
    Evidence,
    Part,
    at_least,
    at_most,
    decide,
    halves,
    judge,
    within,
)

SEEDS = list(range(24))


def sample(center: float, spread: float, seeds=SEEDS, seed: int = 0) -> np.ndarray:
    return center + spread * np.random.default_rng(seed).standard_normal(len(seeds))


def ratio_part(values, threshold=2.0, seeds=SEEDS, **extra) -> Part:
    """'The treatment at least doubles the metric': per-seed ratios, median >= threshold."""
    return Part("ratio", seeds, values, at_least(threshold), "ratio_min", **extra)


def null_control(seeds=SEEDS) -> list[Part]:
    """The same criterion on ratios of 1 (the treatment against itself)."""
    return [
        Part(
            "ratio, treatment against itself",
            seeds,
            np.ones(len(seeds)),
            at_least(2.0),
            "ratio_min",
        )
    ]


def evidence(parts, control=None) -> Evidence:
    return Evidence(parts, control or null_control(), "the treatment against itself")


def test_a_clear_effect_is_reproduced():
    judgement = judge(evidence([ratio_part(sample(4.0, 0.5))]))
    assert judgement.verdict == REPRODUCED
    assert judgement.decision.p_holds == 1.0 and judgement.control.verdict == NOT_REPRODUCED
    part = judgement.decision.parts[0]
    assert part.interval[0] < part.statistic < part.interval[1]
    assert part.interval[0] > 3.5 and part.interval[1] < 4.5


def test_no_effect_is_not_reproduced():
    judgement = judge(evidence([ratio_part(sample(1.0, 0.5))]))
    assert judgement.verdict == NOT_REPRODUCED and judgement.decision.p_holds == 0.0


def test_half_the_effect_with_a_wide_spread_is_inconclusive():
    """Median ratio at the threshold with seeds spread wide: the resamples fall on both sides."""
    values = sample(2.0, 2.0)
    values += 2.0 - np.median(values)  # the median sits exactly on the threshold
    judgement = judge(evidence([ratio_part(values)]))
    assert judgement.verdict == INCONCLUSIVE
    assert 0.2 < judgement.decision.p_holds < 0.8


def test_diverged_runs_count_as_failing_unless_excluded():
    """14 seeds with a clear effect and 10 diverged: counted as failing, the median fails; left out,
    the survivors reproduce. The report then shows both."""
    values = sample(4.0, 0.3)
    values[:10] = np.nan
    counted = judge(evidence([ratio_part(values)]))
    assert counted.decision.verdict != REPRODUCED
    assert counted.decision.parts[0].lost == 10
    assert counted.survivors.verdict == REPRODUCED
    excluded = judge(evidence([ratio_part(values, diverged=EXCLUDED)]))
    assert excluded.verdict == REPRODUCED


def test_all_runs_diverged_fails_both_ways():
    values = np.full(len(SEEDS), np.nan)
    for criterion in (at_least(2.0), at_most(2.0), within(1.0, 3.0)):
        part = Part("all lost", SEEDS, values, criterion, "t")
        assert decide([part]).verdict == NOT_REPRODUCED
        assert decide([part], survivors_only=True).verdict == NOT_REPRODUCED


def test_a_control_that_does_not_fail_makes_the_claim_unfalsifiable():
    clear = ratio_part(sample(4.0, 0.5))
    judgement = judge(evidence([clear], control=[ratio_part(sample(4.0, 0.5, seed=1))]))
    assert judgement.decision.verdict == REPRODUCED
    assert judgement.control.verdict == REPRODUCED
    assert judgement.verdict == UNFALSIFIABLE


def test_every_part_must_hold_in_the_same_resample():
    clear, failing = ratio_part(sample(4.0, 0.5)), ratio_part(sample(1.0, 0.5))
    assert decide([clear]).verdict == REPRODUCED
    assert decide([clear, failing]).verdict == NOT_REPRODUCED
    assert decide([clear, failing]).deciding.p_holds == 0.0


def test_parts_of_one_group_are_resampled_together():
    """Two parts on the same seeds, one the mirror of the other, each holding in about half of the
    resamples: paired, they hold together exactly when they hold alone (the same draws); drawn
    independently, together only about a quarter of the time."""
    values = sample(0.0, 1.0)
    values -= np.median(values)
    up = Part("up", SEEDS, values, at_least(0.0), "t", group="g")
    same = Part("same", SEEDS, values, at_least(0.0), "t", group="g")
    alone = decide([up]).p_holds
    assert decide([up, same]).p_holds == alone
    apart = Part("same", SEEDS, values, at_least(0.0), "t", group="h")
    assert decide([up, apart]).p_holds < 0.75 * alone


def test_split_halves_tell_stable_from_fragile():
    consistent = judge(evidence([ratio_part(sample(4.0, 0.5))]))
    assert consistent.halves == (REPRODUCED, REPRODUCED) and consistent.stable
    values = np.concatenate([np.full(12, 4.0), np.full(12, 1.0)])  # seeds 0-11 show it, 12-23 not
    values[[5, 17]] = [2.1, 2.1]
    split = judge(evidence([ratio_part(values)]))
    assert split.halves == (REPRODUCED, NOT_REPRODUCED) and not split.stable


def test_halves_follow_seed_order_not_list_order():
    seeds = [7, 3, 5, 1]
    part = Part("p", seeds, [70.0, 30.0, 50.0, 10.0], at_least(0.0), "t")
    first, second = halves([part])
    assert first[0].seeds == (1, 3) and list(first[0].values) == [10.0, 30.0]
    assert second[0].seeds == (5, 7) and list(second[0].values) == [50.0, 70.0]


def test_a_deterministic_part_is_not_resampled():
    exact = Part("closed form", [0], [1.01], within(0.95, 1.05), "band", deterministic=True)
    outside = Part("closed form", [0], [1.2], within(0.95, 1.05), "band", deterministic=True)
    assert decide([exact]).p_holds == 1.0 and decide([outside]).p_holds == 0.0
    assert decide([exact]).parts[0].interval == (1.01, 1.01)


def test_a_statistic_of_several_numbers_per_seed():
    """F1-like: per seed a row of values across perturbations; the statistic is the mean over seeds
    of each row's spread, resampled by seed."""
    rows = np.random.default_rng(3).normal(0.0, 1.0, size=(10, 5))

    def mean_spread(values):
        return values.std(axis=-1).mean(axis=-1)

    part = Part("spread", range(10), rows, at_least(0.5), "t", statistic=mean_spread)
    decision = decide([part])
    assert decision.parts[0].statistic == pytest.approx(rows.std(axis=1).mean())
    assert decision.verdict == REPRODUCED


def test_the_same_inputs_give_the_same_decision():
    parts = [ratio_part(sample(2.1, 1.5))]
    assert decide(parts) == decide(parts)


def test_criteria_and_their_text():
    assert at_least(2).holds([1.0, 2.0, np.nan, np.inf]).tolist() == [False, True, False, True]
    assert at_most(2).holds([1.0, 3.0, -np.inf]).tolist() == [True, False, True]
    assert within(1, 2).holds([0.5, 1.5, 2.5]).tolist() == [False, True, False]
    assert (at_least(2).text(), at_most(0.5).text(), within(0.95, 1.05).text()) == (
        "≥ 2",
        "≤ 0.5",
        "in [0.95, 1.05]",
    )
    with pytest.raises(ValueError):
        within(2, 1)


def test_a_part_refuses_misshapen_values_and_evidence_needs_a_control():
    with pytest.raises(ValueError, match="3 seeds"):
        Part("p", [0, 1, 2], [1.0, 2.0], at_least(1.0), "t")
    with pytest.raises(ValueError, match="repeated"):
        Part("p", [0, 0], [1.0, 2.0], at_least(1.0), "t")
    with pytest.raises(ValueError, match="control"):
        Evidence([ratio_part(sample(4.0, 0.5))], [], "none")


def test_a_failed_premise_leaves_the_claim_untested_not_refuted():
    """'At a bit width where GPFQ loses at least a point, the recipe improves accuracy': where GPFQ
    loses nothing, the claim was not tested: inconclusive, whatever the recipe's gain."""
    loss = Part("GPFQ's loss", SEEDS, sample(0.01, 0.2), at_least(1.0), "loss_min", premise=True)
    no_gain = Part("recipe's gain", SEEDS, sample(-0.05, 0.2), at_least(0.17), "gain_min")
    gain = Part("recipe's gain", SEEDS, sample(0.8, 0.2), at_least(0.17), "gain_min")
    untested = decide([loss, no_gain])
    assert untested.untested and untested.verdict == INCONCLUSIVE and untested.p_premise == 0.0
    met = Part("GPFQ's loss", SEEDS, sample(2.0, 0.2), at_least(1.0), "loss_min", premise=True)
    assert decide([met, no_gain]).verdict == NOT_REPRODUCED
    assert decide([met, gain]).verdict == REPRODUCED
    assert not decide([met, gain]).untested and decide([met, gain]).p_premise == 1.0


def test_diverged_seeds_count_against_the_claim_never_against_its_premise():
    """Two thirds of the seeds lost in every part: were they to fail the premise too, p_holds would
    be taken among the resamples that drew few lost seeds, and the claim would pass."""
    lost = np.where(np.arange(len(SEEDS)) % 3 == 0, 2.0, np.nan)
    loss = Part("GPFQ's loss", SEEDS, lost, at_least(1.0), "loss_min", group="g", premise=True)
    gain = Part(
        "recipe's gain",
        SEEDS,
        np.where(np.isnan(lost), np.nan, 0.8),
        at_least(0.17),
        "gain_min",
        group="g",
    )
    decision = decide([loss, gain])
    assert decision.p_premise == 1.0 and decision.verdict == NOT_REPRODUCED
    assert decide([loss, gain], survivors_only=True).verdict == REPRODUCED
    assert within(1.0, 3.0).meeting == 2.0
    assert at_least(1.0).holds(at_least(1.0).meeting) and at_most(1.0).holds(at_most(1.0).meeting)
