"""The shared digits loader: split sizes, disjointness, determinism, and the batch partition."""

import numpy as np
import pytest

from stages.common import digits


def test_pixels_are_scaled_to_unit_interval_with_ten_classes():
    inputs, labels = digits.pixels()
    assert inputs.shape == (1797, 64) and inputs.dtype == np.float64
    assert inputs.min() == 0.0 and inputs.max() == 1.0
    assert sorted(set(labels.tolist())) == list(range(digits.CLASSES))


def test_standardised_centres_every_pixel_and_keeps_constant_pixels_at_zero():
    inputs, _ = digits.pixels()
    scaled = digits.standardised(inputs)
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-12)
    constant = inputs.std(axis=0) == 0
    assert constant.any() and np.all(scaled[:, constant] == 0.0)


def test_split_is_disjoint_complete_and_seeded():
    first, again, other = (
        digits.split(0.25, seed=3),
        digits.split(0.25, seed=3),
        digits.split(0.25, seed=4),
    )
    assert (
        len(first.test_labels) == round(0.25 * 1797)
        and len(first.train_labels) + len(first.test_labels) == 1797
    )
    rows = {row.tobytes() for row in first.train_inputs} & {
        row.tobytes() for row in first.test_inputs
    }
    assert len(rows) <= 5  # a handful of duplicate images exist in the data set itself
    np.testing.assert_array_equal(first.test_inputs, again.test_inputs)
    assert not np.array_equal(first.test_labels, other.test_labels)
    assert digits.Split.images(first.test_inputs).shape == (len(first.test_labels), 1, 8, 8)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_rejects_fractions_outside_the_open_unit_interval(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        digits.split(fraction, seed=0)


def test_epoch_batches_partition_the_examples():
    batches = digits.epoch_batches(10, 4, np.random.default_rng(0))
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
