"""stages/common/schedules.py: schedule values at their boundaries, probed schedules, and the
validation of a `schedule` mapping (every error names the dotted key, the value and what is allowed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stages.common.params import ParamError, Section
from stages.common.schedules import (
    SCHEDULE_KINDS,
    Schedule,
    decay_step_index,
    multi_step_rates,
    parse_schedule,
)

PATH = "sparse_features.variants.v.schedule"


def schedule(**mapping) -> Schedule:
    return parse_schedule(Section(mapping, PATH))


# ---------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "steps, decay_at, first_small",
    [
        (1000, 0.3, 300),
        (10000, 0.1, 1000),
        (10000, 0.5, 5000),
        (10000, 0.7, 7000),
        (10000, 0.9, 9000),
        (300, 0.5, 150),
        (7, 0.3, 2),
        (100, 0.999, 100),
    ],
)
def test_step_decay_switches_exactly_at_round_decay_at_times_steps(steps, decay_at, first_small):
    assert decay_step_index(decay_at, steps) == first_small
    rates = schedule(kind="step_decay", lr=0.6, lr_after=0.2, decay_at=decay_at).rates(steps)
    assert rates.shape == (steps,) and rates.dtype == np.float64
    assert (rates[:first_small] == 0.6).all(), (
        "every step before round(decay_at*T) uses the large step"
    )
    assert (rates[first_small:] == 0.2).all(), (
        "every step from round(decay_at*T) on uses the small step"
    )
    if first_small > 0:
        assert rates[first_small - 1] == 0.6
    if first_small < steps:
        assert rates[first_small] == 0.2


def test_decay_factor_divides_the_large_step():
    by_factor = schedule(kind="step_decay", lr=0.6, decay_factor=3, decay_at=0.5)
    by_value = schedule(kind="step_decay", lr=0.6, lr_after=0.25, decay_at=0.5)
    assert by_factor.final_lr() == 0.6 / 3
    assert by_value.final_lr() == 0.25
    rates = by_factor.rates(100)
    assert (rates[:50] == 0.6).all() and (rates[50:] == 0.6 / 3).all()
    assert (by_value.rates(100)[50:] == 0.25).all()


def test_decay_factor_one_keeps_the_step():
    rates = schedule(kind="step_decay", lr=0.5, decay_factor=1, decay_at=0.5).rates(10)
    assert (rates == 0.5).all()


def test_warmup_ramps_linearly_from_the_small_to_the_large_step():
    rates = schedule(kind="step_decay", lr=0.6, lr_after=0.2, decay_at=0.5, warmup=0.1).rates(100)
    assert rates[0] == pytest.approx(0.2, abs=1e-15), "the ramp starts at lr_after"
    assert rates[5] == pytest.approx(0.4, abs=1e-15), "half-way up the ramp"
    assert rates[9] == pytest.approx(0.2 + 0.4 * 9 / 10, abs=1e-15), (
        "last ramp step is one increment short"
    )
    assert rates[10] == 0.6, "the ramp ends at lr exactly at round(warmup*T)"
    assert np.all(np.diff(rates[:11]) > 0), "the ramp increases strictly"
    assert (rates[10:50] == 0.6).all() and (rates[50:] == 0.2).all()


def test_warmup_with_decay_factor_starts_from_the_decayed_step():
    rates = schedule(kind="step_decay", lr=0.9, decay_factor=3, decay_at=0.5, warmup=0.2).rates(10)
    np.testing.assert_allclose(
        rates, [0.3, 0.6, 0.9, 0.9, 0.9, 0.3, 0.3, 0.3, 0.3, 0.3], rtol=0, atol=1e-15
    )


def test_cosine_endpoints_and_midpoint():
    steps = 100
    rates = schedule(kind="cosine", lr=1.0, lr_after=0.1).rates(steps)
    assert rates[0] == 1.0
    assert rates[steps // 2] == pytest.approx(0.55, abs=1e-15), "half-way: mean of lr and lr_min"
    # the last step (t = T-1) is one increment short of lr_min
    assert rates[-1] == pytest.approx(
        0.1 + 0.9 * (1 + math.cos(math.pi * (steps - 1) / steps)) / 2, abs=1e-15
    )
    assert 0.1 < rates[-1] < 0.1 + 1e-3
    assert np.all(np.diff(rates) < 0)
    by_factor = schedule(kind="cosine", lr=1.0, decay_factor=10).rates(steps)
    np.testing.assert_allclose(by_factor, rates, rtol=0, atol=1e-15)


def test_constant():
    rates = schedule(kind="constant", lr=0.13).rates(57)
    assert rates.shape == (57,) and rates.dtype == np.float64 and (rates == 0.13).all()
    assert schedule(kind="constant", lr=0.13).final_lr() == 0.13


# -------------------------------------------------------------------------------------- probing


def test_probed_schedule_needs_resolve_before_rates():
    probed = schedule(kind="step_decay", lr="probe", lr_after=0.2, decay_at=0.3)
    assert probed.probed and probed.lr is None
    with pytest.raises(ValueError, match="probe"):
        probed.rates(10)
    resolved = probed.resolve(0.45)
    assert not resolved.probed and resolved.lr == 0.45
    assert (resolved.kind, resolved.lr_after, resolved.decay_at) == ("step_decay", 0.2, 0.3)
    rates = resolved.rates(10)
    np.testing.assert_array_equal(rates, [0.45] * 3 + [0.2] * 7)
    assert probed.lr is None, "resolve returns a new schedule and leaves the probed one alone"


def test_resolve_leaves_a_fixed_schedule_unchanged():
    fixed = schedule(kind="step_decay", lr=0.6, decay_factor=3, decay_at=0.5)
    assert fixed.resolve(0.1) == fixed


def test_probed_constant_schedule():
    probed = schedule(kind="constant", lr="probe")
    assert probed.probed
    assert (probed.resolve(0.3).rates(4) == 0.3).all()


def test_probe_divisor_divides_the_probed_step():
    small = schedule(kind="constant", lr="probe", probe_divisor=3)
    assert small.probed
    assert small.resolve(0.6).lr == 0.6 / 3
    decay = schedule(kind="step_decay", lr="probe", decay_factor=3, decay_at=0.5)
    rates = decay.resolve(0.6).rates(10)
    assert (rates[:5] == 0.6).all() and (rates[5:] == 0.6 / 3).all()
    assert (small.resolve(0.6).rates(10) == rates[-1]).all(), (
        "small constant step = the decayed step"
    )


def test_describe_names_the_probe():
    assert "probe" in schedule(kind="step_decay", lr="probe", lr_after=0.2, decay_at=0.3).describe()


# ------------------------------------------------------------------------------------ validation

STEP = {"kind": "step_decay", "lr": 0.5, "lr_after": 0.1, "decay_at": 0.5}


def with_(base: dict, **changes) -> dict:
    mapping = {**base, **changes}
    return {key: value for key, value in mapping.items() if value is not DROP}


DROP = object()

BAD = [
    # (id, mapping, key suffix, value as printed, allowed text)
    (
        "unknown kind",
        with_(STEP, kind="linear"),
        "kind",
        "'linear'",
        "one of " + ", ".join(SCHEDULE_KINDS),
    ),
    ("kind missing", with_(STEP, kind=DROP), "kind", "'<missing>'", "required"),
    ("kind not a string", with_(STEP, kind=3), "kind", "3", "one of constant"),
    ("lr zero", with_(STEP, lr=0), "lr", "0.0", "a number > 0"),
    ("lr negative", with_(STEP, lr=-0.1), "lr", "-0.1", "a number > 0"),
    ("lr negative, constant", {"kind": "constant", "lr": -2}, "lr", "-2.0", "a number > 0"),
    ("lr nan", with_(STEP, lr=float("nan")), "lr", "nan", "a number > 0"),
    ("lr inf", with_(STEP, lr=float("inf")), "lr", "inf", "a number > 0"),
    ("lr string", with_(STEP, lr="0.1"), "lr", "'0.1'", "a number > 0"),
    ("lr bool", with_(STEP, lr=True), "lr", "True", "a number > 0"),
    ("lr missing", {"kind": "constant"}, "lr", "'<missing>'", "required"),
    ("lr list", with_(STEP, lr=[0.1]), "lr", "[0.1]", "a number > 0"),
    ("decay_at zero", with_(STEP, decay_at=0), "decay_at", "0.0", "a number in (0, 1)"),
    ("decay_at one", with_(STEP, decay_at=1), "decay_at", "1.0", "a number in (0, 1)"),
    ("decay_at 1.5", with_(STEP, decay_at=1.5), "decay_at", "1.5", "a number in (0, 1)"),
    ("decay_at -0.1", with_(STEP, decay_at=-0.1), "decay_at", "-0.1", "a number in (0, 1)"),
    ("decay_at string", with_(STEP, decay_at="0.5"), "decay_at", "'0.5'", "a number in (0, 1)"),
    ("decay_at bool", with_(STEP, decay_at=True), "decay_at", "True", "a number in (0, 1)"),
    ("decay_at missing", with_(STEP, decay_at=DROP), "decay_at", "'<missing>'", "required"),
    (
        "both lr_after and decay_factor",
        with_(STEP, decay_factor=3),
        "lr_after",
        "0.1",
        "exactly one of lr_after (a number > 0) and decay_factor (a number >= 1)",
    ),
    (
        "neither lr_after nor decay_factor",
        with_(STEP, lr_after=DROP),
        "lr_after",
        "'<missing>'",
        "exactly one of lr_after (a number > 0) and decay_factor (a number >= 1)",
    ),
    (
        "neither, cosine",
        {"kind": "cosine", "lr": 1.0},
        "lr_after",
        "'<missing>'",
        "exactly one of lr_after",
    ),
    ("lr_after negative", with_(STEP, lr_after=-0.2), "lr_after", "-0.2", "a number > 0"),
    ("lr_after string", with_(STEP, lr_after="0.2"), "lr_after", "'0.2'", "a number > 0"),
    (
        "decay_factor below one",
        with_(STEP, lr_after=DROP, decay_factor=0.5),
        "decay_factor",
        "0.5",
        "a number >= 1",
    ),
    (
        "decay_factor bool",
        with_(STEP, lr_after=DROP, decay_factor=True),
        "decay_factor",
        "True",
        "a number >= 1",
    ),
    (
        "warmup equal to decay_at",
        with_(STEP, warmup=0.5),
        "warmup",
        "0.5",
        "a fraction below decay_at = 0.5",
    ),
    (
        "warmup after decay_at",
        with_(STEP, warmup=0.7),
        "warmup",
        "0.7",
        "a fraction below decay_at = 0.5",
    ),
    (
        "probe_divisor below one",
        {"kind": "constant", "lr": "probe", "probe_divisor": 0.5},
        "probe_divisor",
        "0.5",
        "a number >= 1",
    ),
    (
        "probe_divisor with a fixed lr",
        {"kind": "constant", "lr": 0.2, "probe_divisor": 3},
        "probe_divisor",
        "3.0",
        "only with lr: probe",
    ),
    ("warmup negative", with_(STEP, warmup=-0.1), "warmup", "-0.1", "a number in [0, 1]"),
    ("warmup string", with_(STEP, warmup="0.1"), "warmup", "'0.1'", "a number in [0, 1]"),
]


@pytest.mark.parametrize(
    "mapping, key, value, allowed", [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_schedule_names_key_value_and_what_is_allowed(mapping, key, value, allowed):
    with pytest.raises(ParamError) as caught:
        parse_schedule(Section(mapping, PATH))
    error = caught.value
    message = str(error)
    assert error.key == f"{PATH}.{key}"
    assert f"{PATH}.{key} = {value}" in message, message
    assert allowed in message, message


def test_schedule_that_is_not_a_mapping():
    with pytest.raises(
        ParamError, match=r"sparse_features\.variants\.v\.schedule = 0\.1: allowed: a mapping"
    ):
        Section({"schedule": 0.1}, "sparse_features.variants.v").section("schedule")


@pytest.mark.parametrize(
    "mapping",
    [
        {"kind": "constant", "lr": 1},
        {"kind": "constant", "lr": "probe"},
        {"kind": "step_decay", "lr": 0.5, "decay_factor": 1, "decay_at": 1e-9},
        {"kind": "step_decay", "lr": 0.5, "lr_after": 0.1, "decay_at": 0.999999, "warmup": 0.0},
        {"kind": "cosine", "lr": 0.5, "lr_after": 0.0001},
    ],
)
def test_valid_schedules_parse(mapping):
    parsed = parse_schedule(Section(mapping, PATH))
    assert parsed.kind == mapping["kind"]
    assert isinstance(parsed.final_lr() if not parsed.probed else 0.0, float)


def test_misspelt_schedule_key_is_rejected_not_ignored():
    section = Section(
        {"kind": "step_decay", "lr": 0.6, "decay_factor": 3, "decay_at": 0.5, "warm_up": 0.1},
        "study.variants.v.schedule",
    )
    with pytest.raises(ParamError) as caught:
        parse_schedule(section)
    message = str(caught.value)
    assert "study.variants.v.schedule.warm_up" in message and "warmup" in message


def test_multi_step_is_sun_et_al_s_cnn_schedule():
    """main6.py: lr = lr / 10 at the start of epochs 40, 80, 120 and 160 of 200."""
    rates = multi_step_rates(0.1, 10, (0.2, 0.4, 0.6, 0.8), 200)
    expected, lr = [], 0.1
    for epoch in range(200):
        if epoch >= 40 and epoch // 40 == epoch / 40.0:
            lr = lr / 10
        expected.append(lr)
    assert rates.tolist() == expected
    assert multi_step_rates(0.1, 10, (0.2, 0.4, 0.6, 0.8), 30)[[0, 5, 6, 12, 29]].tolist() == [
        0.1,
        0.1,
        0.1 / 10,
        0.1 / 10 / 10,
        0.1 / 10 / 10 / 10 / 10,
    ]
