"""stages/common/verdicts.py: seed spreads, threshold verdicts, Spearman rho, combining parts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stages.common.verdicts import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    ClaimOutcome,
    Spread,
    combine,
    decide,
    paired_ratio,
    spearman,
    threshold_verdict,
    too_many_lost,
)

NAN = float("nan")


# ------------------------------------------------------------------------------------------ Spread


def test_spread_quartiles_on_known_data():
    spread = Spread.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (spread.median, spread.q25, spread.q75) == (3.0, 2.0, 4.0)
    assert (spread.kept, spread.total, spread.lost) == (5, 5, 0)
    even = Spread.of([1.0, 2.0, 3.0, 4.0])
    assert (even.median, even.q25, even.q75) == (2.5, 1.75, 3.25)


def test_spread_counts_nan_and_inf_as_lost():
    spread = Spread.of([1.0, NAN, 3.0, np.inf, 2.0, -np.inf])
    assert (spread.median, spread.q25, spread.q75) == (2.0, 1.5, 2.5)
    assert (spread.kept, spread.total, spread.lost) == (3, 6, 3)
    assert "3 lost" in spread.text()


def test_spread_of_nothing_finite():
    spread = Spread.of([NAN, NAN])
    assert math.isnan(spread.median) and (spread.kept, spread.lost) == (0, 2)
    assert Spread.of([]).total == 0


def test_spread_total_override_and_numbers():
    spread = Spread.of([1.0, 2.0], total=5)
    assert spread.lost == 3
    numbers = spread.as_numbers("x")
    assert numbers == {
        "x_median": 1.5,
        "x_q25": 1.25,
        "x_q75": 1.75,
        "x_seeds_kept": 2.0,
        "x_seeds_lost": 3.0,
    }


def test_too_many_lost_is_strictly_more_than_half():
    assert not too_many_lost(Spread.of([1.0, 2.0, NAN, NAN]))
    assert too_many_lost(Spread.of([1.0, NAN, NAN]))
    assert too_many_lost(Spread.of([]))
    assert too_many_lost(Spread.of([1.0, 2.0]), Spread.of([1.0, NAN, NAN, NAN]))


# ------------------------------------------------------------------------------ threshold verdicts

SAMPLE = [1.0, 2.0, 3.0, 4.0, 5.0]  # median 3, quartiles 2 and 4


@pytest.mark.parametrize(
    "values, threshold, at_most, expected",
    [
        (SAMPLE, 1.5, False, REPRODUCED),  # q25 = 2 >= 1.5
        (SAMPLE, 2.0, False, REPRODUCED),  # the pessimistic quartile exactly on the threshold
        (SAMPLE, 2.5, False, INCONCLUSIVE),  # median holds, q25 does not: the IQR straddles
        (SAMPLE, 3.5, False, INCONCLUSIVE),  # median fails, q75 holds: the IQR straddles
        (SAMPLE, 4.0, False, INCONCLUSIVE),  # q75 exactly on the threshold
        (SAMPLE, 4.5, False, NOT_REPRODUCED),  # even the optimistic quartile fails
        (SAMPLE, 4.5, True, REPRODUCED),  # at_most: q75 = 4 <= 4.5
        (SAMPLE, 3.5, True, INCONCLUSIVE),
        (SAMPLE, 2.5, True, INCONCLUSIVE),
        (SAMPLE, 1.5, True, NOT_REPRODUCED),  # at_most: even q25 = 2 > 1.5
        ([0.3] * 7, 0.3, True, REPRODUCED),
        ([0.3] * 7, 0.3, False, REPRODUCED),
    ],
)
def test_threshold_verdict(values, threshold, at_most, expected):
    assert threshold_verdict(Spread.of(values), threshold, at_most=at_most) == expected


def test_more_than_half_lost_is_inconclusive_even_if_clear():
    assert threshold_verdict(Spread.of([100.0, 100.0, NAN, NAN, NAN]), 1.0) == INCONCLUSIVE
    assert threshold_verdict(Spread.of([0.0, 0.0, NAN, NAN, NAN]), 1.0) == INCONCLUSIVE
    assert threshold_verdict(Spread.of([NAN] * 4), 1.0) == INCONCLUSIVE
    # exactly half lost still decides, on the seeds that remain
    assert threshold_verdict(Spread.of([100.0, 100.0, NAN, NAN]), 1.0) == REPRODUCED
    assert threshold_verdict(Spread.of([0.1, 0.2, NAN, NAN]), 1.0) == NOT_REPRODUCED


def test_lost_seeds_are_left_out_of_the_median():
    # the diverged seeds would drag the median below the threshold if they counted as values
    assert threshold_verdict(Spread.of([20.0, 30.0, 40.0, NAN]), 10.0) == REPRODUCED


@pytest.mark.parametrize(
    "median, pessimistic, optimistic, expected",
    [
        (True, True, True, REPRODUCED),
        (True, False, True, INCONCLUSIVE),
        (False, False, True, INCONCLUSIVE),
        (False, False, False, NOT_REPRODUCED),
    ],
)
def test_decide(median, pessimistic, optimistic, expected):
    assert decide(median, pessimistic, optimistic) == expected


# ---------------------------------------------------------------------------------------- spearman


def test_spearman_known_answers():
    assert spearman([0.1, 0.3, 0.5, 0.7, 0.9], [5.0, 4.0, 3.0, 2.0, 1.0]) == pytest.approx(
        -1.0, abs=1e-15
    )
    assert spearman([0.1, 0.3, 0.5, 0.7, 0.9], [1e-6, 1e-5, 1e-4, 1e-3, 1e-2]) == pytest.approx(
        1.0, abs=1e-15
    )
    # monotone but not linear: ranks only
    assert spearman([1, 2, 3, 4], [1e-1, 1e-3, 1e-4, 1e-9]) == pytest.approx(-1.0, abs=1e-15)


def test_spearman_with_ties_uses_average_ranks():
    # ranks of y: 1.5, 1.5, 3.5, 3.5; Pearson with 1..4 gives 4 / (2·sqrt(5))
    assert spearman([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(2 / math.sqrt(5), abs=1e-12)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 4, 15).astype(float), rng.integers(0, 3, 15).astype(float)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_nan_and_constant_inputs():
    assert math.isnan(spearman([1, 2, 3], [1.0, NAN, 3.0]))
    assert math.isnan(spearman([1, NAN, 3], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([1, 2, 3], [2.0, 2.0, 2.0]))


# ----------------------------------------------------------------------------------------- combine


@pytest.mark.parametrize(
    "parts, expected",
    [
        ([REPRODUCED], REPRODUCED),
        ([REPRODUCED, REPRODUCED, REPRODUCED], REPRODUCED),
        ([REPRODUCED, INCONCLUSIVE], INCONCLUSIVE),
        ([REPRODUCED, NOT_REPRODUCED], NOT_REPRODUCED),
        ([INCONCLUSIVE, NOT_REPRODUCED], NOT_REPRODUCED),
        ([INCONCLUSIVE, INCONCLUSIVE], INCONCLUSIVE),
    ],
)
def test_combine(parts, expected):
    assert combine(parts) == expected


def test_combine_of_no_parts_is_not_reproduced():
    try:
        verdict = combine([])
    except ValueError:
        return
    assert verdict != REPRODUCED


# ------------------------------------------------------------------------------------ paired_ratio


def test_paired_ratio_with_zeros_and_nan():
    ratio = paired_ratio([1.0, 2.0, 0.0, NAN, 3.0, 0.0, -4.0], [2.0, 0.0, 0.0, 1.0, NAN, 5.0, 2.0])
    np.testing.assert_array_equal(ratio, [0.5, NAN, NAN, NAN, NAN, 0.0, -2.0])


def test_paired_ratio_feeds_lost_seeds_into_spread():
    spread = Spread.of(paired_ratio([10.0, 20.0, 30.0, 1.0], [1.0, 2.0, 3.0, 0.0]))
    assert (spread.median, spread.kept, spread.lost) == (10.0, 3, 1)


def test_claim_outcome_rejects_unknown_verdicts():
    ClaimOutcome(REPRODUCED, ("x", 1.0), {}, "ok")
    with pytest.raises(ValueError):
        ClaimOutcome("passed", ("x", 1.0), {}, "no")


def test_band_verdict_inside_straddling_and_outside():
    from stages.common.verdicts import band_verdict

    assert band_verdict(Spread.of([1.0, 1.02, 1.04, 1.06]), 0.95, 1.15) == REPRODUCED
    assert band_verdict(Spread.of([0.9, 1.0, 1.1, 1.2, 1.3]), 0.95, 1.15) == INCONCLUSIVE
    assert band_verdict(Spread.of([1.3, 1.4, 1.5]), 0.95, 1.15) == NOT_REPRODUCED
    assert band_verdict(Spread.of([1.0, np.nan, np.nan, np.nan]), 0.95, 1.15) == INCONCLUSIVE
