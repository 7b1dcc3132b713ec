"""stages/common/statistics.py: Spearman's rho and paired ratios, on known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stages.common.statistics import paired_ratio, spearman

NAN = float("nan")


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


# ------------------------------------------------------------------------------------ paired_ratio


def test_paired_ratio_with_zeros_and_nan():
    ratio = paired_ratio([1.0, 2.0, 0.0, NAN, 3.0, 0.0, -4.0], [2.0, 0.0, 0.0, 1.0, NAN, 5.0, 2.0])
    np.testing.assert_array_equal(ratio, [0.5, NAN, NAN, NAN, NAN, 0.0, -2.0])
