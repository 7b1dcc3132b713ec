"""Study phantom_gradient: known answers of the implicit layer (closed-form exact gradient of a linear
layer, large-k phantom = exact, unrolled = Neumann, gradcheck), the solver's convergence and its
reported failures, params validation, each claim check on synthetic tables where it must pass and
where it must fail, and a tiny run through the Study API (bit-identical reruns, no time in a table)."""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from params_profile import edited, merge

from stages.common.atomic import DataError, read_arrays, write_arrays
from stages.common.decision import NOT_REPRODUCED, REPRODUCED, UNFALSIFIABLE, judge
from stages.common.params import ParamError, Section
from stages.common.study import Execution
from stages.common.tables import to_arrow, validate
from stages.studies.phantom_gradient import STUDY
from stages.studies.phantom_gradient.anderson import anderson
from stages.studies.phantom_gradient.config import (
    ConvTimingVariant,
    DenseVariant,
    ExactGradient,
    NoGradient,
    PhantomGradient,
    SolverSettings,
)
from stages.studies.phantom_gradient.implicit_layer import Cell, Costs, equilibrium, solve_forward
from stages.studies.phantom_gradient.models import DenseCell

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
TIGHT = SolverSettings(memory=5, tolerance=1e-12, max_iterations=400)


TOLERANCES = {
    entry["check"]: entry["tolerance"]
    for entry in yaml.safe_load((ROOT / "claims.yaml").read_text())["phantom_gradient"].values()
}
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["phantom_gradient"]
TINY = merge(
    PARAMS, yaml.safe_load((ROOT / "tests/profiles/tiny.yaml").read_text())["phantom_gradient"]
)


def parse(raw):
    return STUDY.parse(Section(raw, "phantom_gradient"))


def tolerance(check):
    return Section(TOLERANCES[check], f"claims.yaml:phantom_gradient.{check}.tolerance")


class TensorCell(Cell):
    """f(z, x) = act(z Wᵀ + x Uᵀ + b) with plain tensors as parameters (gradcheck differentiates them)."""

    def __init__(self, weight, injection_weight, bias, linear: bool = False):
        super().__init__()
        self.weight, self.injection_weight, self.bias, self.linear = (
            weight,
            injection_weight,
            bias,
            linear,
        )

    def inject(self, inputs):
        return inputs @ self.injection_weight.T + self.bias

    def step(self, state, injection):
        pre = state @ self.weight.T + injection
        return pre if self.linear else torch.tanh(pre)


def random_problem(seed=0, width=6, inputs=4, batch=3, norm=0.6):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(width, width, generator=generator, dtype=torch.float64)
    weight *= norm / torch.linalg.matrix_norm(weight, ord=2)
    injection_weight = torch.randn(width, inputs, generator=generator, dtype=torch.float64)
    bias = torch.randn(width, generator=generator, dtype=torch.float64)
    x = torch.randn(batch, inputs, generator=generator, dtype=torch.float64)
    c = torch.randn(batch, width, generator=generator, dtype=torch.float64)
    return weight, injection_weight, bias, x, c


def layer_gradients(cell, x, c, gradient, settings=TIGHT):
    """∂(Σ c⊙z*)/∂(W, U, b) under one gradient."""
    state = equilibrium(cell, x, gradient, settings, settings, Costs())
    return torch.autograd.grad((c * state).sum(), [cell.weight, cell.injection_weight, cell.bias])


# --- known answers ----------------------------------------------------------------------------------


def test_exact_gradient_of_a_linear_layer_is_the_closed_form():
    """z* = (I − W)⁻¹(Ux + b), L = Σ c·z*: ∂L/∂z-side adjoint g = c (I − W)⁻¹, ∂L/∂W = Σ gᵀ z*ᵀ."""
    weight, injection_weight, bias, x, c = random_problem()
    params = [t.clone().requires_grad_() for t in (weight, injection_weight, bias)]
    grads = layer_gradients(TensorCell(*params, linear=True), x, c, ExactGradient())
    identity = torch.eye(len(weight), dtype=torch.float64)
    fixed_point = torch.linalg.solve(identity - weight, (x @ injection_weight.T + bias).T).T
    adjoint = torch.linalg.solve((identity - weight).T, c.T).T  # rows g = c (I − W)⁻¹
    expected = [adjoint.T @ fixed_point, adjoint.T @ x, adjoint.sum(dim=0)]
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("damping", [0.5, 1.0])
def test_phantom_gradient_with_large_k_is_the_exact_gradient(damping):
    weight, injection_weight, bias, x, c = random_problem(seed=1)
    params = [t.clone().requires_grad_() for t in (weight, injection_weight, bias)]
    cell = TensorCell(*params)
    exact = layer_gradients(cell, x, c, ExactGradient())
    for form in ("unrolled", "neumann"):
        phantom = layer_gradients(cell, x, c, PhantomGradient(form, 200, damping))
        for got, want in zip(phantom, exact, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)
    short = layer_gradients(cell, x, c, PhantomGradient("unrolled", 1, damping))
    assert not torch.allclose(short[0], exact[0], rtol=1e-3), "k = 1 should not already be exact"


def test_unrolled_and_neumann_forms_agree_to_rounding():
    cell = DenseCell(8, 16, 0.95, torch.Generator().manual_seed(3))
    x = torch.rand(5, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    c = torch.randn(5, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for k, damping in ((1, 1.0), (3, 0.5), (7, 0.8)):
        unrolled = layer_gradients(cell, x, c, PhantomGradient("unrolled", k, damping))
        neumann = layer_gradients(cell, x, c, PhantomGradient("neumann", k, damping))
        for got, want in zip(unrolled, neumann, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_gradcheck_of_the_exact_backward_in_float64():
    weight, injection_weight, bias, x, c = random_problem(seed=2, width=4, inputs=3, batch=2)

    def loss(w, u, b):
        state = equilibrium(TensorCell(w, u, b), x, ExactGradient(), TIGHT, TIGHT, Costs())
        return (c * state).sum()

    params = tuple(t.clone().requires_grad_() for t in (weight, injection_weight, bias))
    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_costs_count_what_each_backward_does():
    cell = DenseCell(8, 16, 0.9, torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    settings = SolverSettings(5, 1e-8, 100)
    counted = {}
    for gradient in (
        ExactGradient(),
        PhantomGradient("unrolled", 5, 0.5),
        PhantomGradient("neumann", 5, 0.5),
    ):
        costs = Costs()
        equilibrium(cell, x, gradient, settings, settings, costs).sum().backward()
        counted[gradient.form] = costs
    assert (counted["unrolled"].backward_graph_evaluations, counted["unrolled"].backward_vjps) == (
        5,
        5,
    )
    assert (counted["neumann"].backward_graph_evaluations, counted["neumann"].backward_vjps) == (
        1,
        5,
    )
    exact = counted["exact"]
    assert exact.backward_graph_evaluations == 1 and len(exact.adjoint_residuals) == 1
    assert (
        exact.backward_vjps > 5
        and exact.adjoint_residuals[0] <= 1e-8
        and exact.adjoint_unconverged == 0
    )
    assert all(c.forward_evaluations == exact.forward_evaluations for c in counted.values())


def test_no_gradient_reaches_the_layer_under_the_poor_estimator():
    """A = 0 (k = 0): the head gets its gradient, the implicit layer none, and nothing is counted."""
    cell = DenseCell(8, 16, None, torch.Generator().manual_seed(0))
    head = torch.nn.Linear(16, 3, dtype=torch.float64)
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    costs = Costs()
    state = equilibrium(cell, x, NoGradient(), TIGHT, TIGHT, costs)
    head(state).sum().backward()
    assert all(parameter.grad is None for parameter in cell.parameters())
    assert head.weight.grad is not None and float(head.weight.grad.abs().sum()) > 0
    assert costs.backward_passes == 0 and costs.forward_evaluations > 0


def test_a_capped_adjoint_solve_stops_at_its_cap_and_says_so():
    """MDEQ's B_THRES: the adjoint solve stops after `max_iterations` VJPs, flagged, and the
    gradient goes on with its last iterate."""
    cell = DenseCell(8, 16, 0.9, torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    capped = SolverSettings(5, 1e-12, 3)
    costs = Costs()
    equilibrium(cell, x, ExactGradient(), TIGHT, capped, costs).sum().backward()
    assert costs.backward_vjps == 3 + 1 and costs.adjoint_unconverged == 1
    assert costs.adjoint_residuals[0] > 1e-12 and costs.forward_unconverged == 0


def test_an_unconverged_reference_voids_every_comparison_at_its_checkpoint():
    """Without a fixed point the cosines, the control's and the forms' difference are NaN (lost)."""
    from dataclasses import replace

    from stages.studies.phantom_gradient.direction import direction_at
    from stages.studies.phantom_gradient.models import DenseClassifier

    config = parse(TINY)
    model = DenseClassifier(8, 16, 10, None, torch.Generator().manual_seed(0))
    x = torch.rand(6, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    labels = torch.arange(6) % 10
    starved = replace(config.direction, reference_solver=SolverSettings(5, 1e-14, 2))
    measured = direction_at(model, x, labels, starved, (0, 0))
    assert measured.reference_unconverged > 0
    values = [
        *measured.cosines.values(),
        *measured.relative_differences.values(),
        *measured.random_cosines.values(),
    ]
    assert values and all(math.isnan(v) for v in values)
    trusted = direction_at(model, x, labels, config.direction, (0, 0))
    assert trusted.reference_unconverged == 0
    assert max(trusted.relative_differences.values()) < 1e-8


# --- solver and contractivity -------------------------------------------------------------------


def test_anderson_finds_a_linear_fixed_point_and_reports_failure():
    generator = torch.Generator().manual_seed(0)
    matrix = torch.randn(10, 10, generator=generator, dtype=torch.float64)
    matrix *= 0.9 / torch.linalg.matrix_norm(matrix, ord=2)
    offset = torch.randn(3, 10, generator=generator, dtype=torch.float64)
    expected = torch.linalg.solve(torch.eye(10, dtype=torch.float64) - matrix, offset.T).T
    solve = anderson(
        lambda z: z @ matrix.T + offset, torch.zeros_like(offset), SolverSettings(5, 1e-12, 200)
    )
    assert solve.converged and solve.relative_residual <= 1e-12
    torch.testing.assert_close(solve.point, expected, rtol=1e-10, atol=1e-10)
    short = anderson(
        lambda z: z @ matrix.T + offset, torch.zeros_like(offset), SolverSettings(5, 1e-12, 3)
    )
    assert not short.converged and short.evaluations == 3 and short.relative_residual > 1e-12
    costs = Costs()
    solve_forward(
        TensorCell(
            matrix,
            torch.eye(10, dtype=torch.float64),
            torch.zeros(10, dtype=torch.float64),
            linear=True,
        ),
        offset,
        SolverSettings(5, 1e-12, 3),
        costs,
    )
    assert costs.forward_unconverged == 1  # recorded, not hidden


def test_without_a_cap_the_weights_are_left_alone():
    cell = DenseCell(8, 32, None, torch.Generator().manual_seed(0))
    with torch.no_grad():
        cell.weight.mul_(3.0)
    before = cell.weight.detach().clone()
    cell.cap_spectral_norm()
    assert torch.equal(cell.weight.detach(), before) and cell.spectral_norm() > 1.0


def test_spectral_cap_keeps_the_dense_cell_contractive():
    cell = DenseCell(8, 32, 0.7, torch.Generator().manual_seed(0))
    assert cell.spectral_norm() <= 0.7 + 1e-12
    with torch.no_grad():
        cell.weight.mul_(3.0)
    cell.cap_spectral_norm()
    assert abs(cell.spectral_norm() - 0.7) < 1e-12
    states = torch.tanh(
        torch.randn(6, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    )
    assert float(cell.jacobian_spectral_radii(states).max()) <= 0.7 + 1e-12


# --- params ------------------------------------------------------------------------------------------


def test_default_and_tiny_params_parse():
    declared = {name for group in PARAMS["variants"].values() for name in group}
    assert set(parse(PARAMS).variants) == declared
    assert parse(TINY).dense.width == 16


def test_each_kind_of_variant_parses_to_its_own_type():
    variants = parse(PARAMS).variants
    exact, unrolled, timing = (
        variants["dense_exact"],
        variants["dense_unrolled"],
        variants["conv_timing"],
    )
    assert isinstance(exact, DenseVariant) and exact.gradient == ExactGradient()
    assert not hasattr(exact.gradient, "k")  # no placeholder k or λ where they do not apply
    assert unrolled.gradient == PhantomGradient("unrolled", 5, 0.5) and exact.measure_direction
    assert variants["dense_jacobian_free"].gradient.jacobian_free
    assert variants["dense_frozen_layer"].gradient == NoGradient()
    assert isinstance(timing, ConvTimingVariant) and not hasattr(timing, "measure_direction")
    assert timing.estimators() == {
        "exact": ExactGradient(),
        "unrolled": PhantomGradient("unrolled", 5, 0.5),
        "neumann": PhantomGradient("neumann", 5, 0.5),
    }
    with pytest.raises(ValueError, match="k >= 1"):
        PhantomGradient("unrolled", 0, 0.5)


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (
            "variants.dense.dense_unrolled.damping",
            1.5,
            "phantom_gradient.variants.dense.dense_unrolled.damping = 1.5: allowed: a number in (0, 1]",
        ),
        (
            "variants.dense.dense_unrolled.gradient",
            "broyden",
            "allowed: one of exact, unrolled, neumann, none",
        ),
        ("variants.dense.dense_frozen_layer.k", 0, "'k' is not one"),
        ("variants.dense.dense_exact.backward", "exact", "'backward' is not one"),
        ("variants.dense.dense_exact.k", 5, "'k' is not one"),
        ("variants.dense.dense_unrolled.k", 0, "allowed: an integer >= 1"),
        (
            "setup.dense.max_spectral_norm",
            1.2,
            "phantom_gradient.setup.dense.max_spectral_norm = 1.2: allowed: null (no cap) or a "
            "number in (0, 0.999)",
        ),
        ("setup.dense.max_spectral_norm", "none", "allowed: null (no cap) or a number"),
        ("setup.dense.forward_solver.tolerance", None, "'<missing>'"),
        ("setup.dense.solver", {"memory": 5}, "'solver' is not one"),
        ("setup.conv_timing.adjoint_solver.max_iterations", 1, "allowed: an integer >= 2"),
        ("setup.conv_timing.groups", 5, "a divisor of channels"),
        ("setup.direction.ks", [5, 2], "increasing"),
        ("setup.first_seed", -1, "allowed: an integer >= 0"),
        # a field of the other kind of variant, or of the old flat layout, is refused by name
        (
            "variants.conv_timing.conv_timing.measure_direction",
            True,
            "phantom_gradient.variants.conv_timing.conv_timing.measure_direction = True: "
            "allowed: a known key here (k, damping); 'measure_direction' is not one",
        ),
        ("variants.conv_timing.conv_timing.backward", "unrolled", "'backward' is not one"),
        ("variants.dense.dense_exact.experiment", "dense", "'experiment' is not one"),
        (
            "variants.timing",
            {"conv": {"k": 5, "damping": 0.5}},
            "phantom_gradient.variants.timing = {'conv': {'k': 5, 'damping': 0.5}}: "
            "allowed: a known key here (dense, conv_timing)",
        ),
        (
            "variants.conv_timing.dense_exact",
            {"k": 5, "damping": 0.5},
            "phantom_gradient.variants.conv_timing.dense_exact = 'dense_exact': "
            "allowed: a name no other variant of the study has (variants.dense has it",
        ),
        ("variants.conv_timing", {}, "phantom_gradient.variants.conv_timing = {}"),
    ],
)
def test_bad_params_name_key_value_and_allowed(path, value, expected):
    with pytest.raises(ParamError) as error:
        parse(edited(PARAMS, path, value))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)  # one line


# --- checks on synthetic tables -------------------------------------------------------------------------

STEPS_PER_EPOCH = 12  # a made-up epoch length: steps and epochs must not be confused
SEEDS = range(8)


def row(variant, seed, step, metric, value, **settings):
    """One tidy row; every setting column not given is null."""
    return {
        "study": "phantom_gradient",
        "variant": variant,
        "seed": seed,
        "step": step,
        "metric": metric,
        "value": value,
        **dict.fromkeys(STUDY.setting_columns),
        **settings,
    }


def as_read(rows) -> pd.DataFrame:
    """The rows as a stage reads them: through the schema and Arrow (nullable ints come back float)."""
    return to_arrow(pd.DataFrame(rows), STUDY.setting_columns, "synthetic").to_pandas()


def trained_with(form, k=None, damping=None):
    return {
        "experiment": "dense",
        "training_gradient": form,
        "training_k": k,
        "training_damping": damping,
    }


def check(name):
    return STUDY.module("checks").CHECKS[name]


def judged(name, table, **timings):
    return judge(check(name)(table, tolerance(name), **timings))


def direction_table(cosine_at_5: float, difference: float = 1e-11, lost=()) -> pd.DataFrame:
    """Two checkpoints of dense_exact: unrolled cosines rising with k (the one at k = 5 given), the
    control's random-direction cosines near 0; seeds in `lost` diverged before any checkpoint."""
    rows = []
    noise = np.random.default_rng(0)
    for seed in SEEDS:
        rows.append(row("dense_exact", seed, 15 * STEPS_PER_EPOCH, "diverged", float(seed in lost)))
        if seed in lost:
            continue
        for epoch in (0, 15):
            at = {**trained_with("exact"), "epoch": epoch}
            step = epoch * STEPS_PER_EPOCH
            for k, cosine in ((1, 0.9), (2, 0.93), (5, cosine_at_5), (10, 0.999)):
                random = {"estimator": "random_direction", "estimator_k": k}
                rows.append(
                    row(
                        "dense_exact",
                        seed,
                        step,
                        "cosine_with_exact",
                        noise.normal(0, 0.01),
                        **at,
                        **random,
                    )
                )
                for damping in (0.5, 1.0):
                    phantom = {"estimator_k": k, "estimator_damping": damping}
                    rows.append(
                        row(
                            "dense_exact",
                            seed,
                            step,
                            "cosine_with_exact",
                            cosine + 1e-4 * seed,
                            **at,
                            **phantom,
                            estimator="unrolled",
                        )
                    )
                    rows.append(
                        row(
                            "dense_exact",
                            seed,
                            step,
                            "unrolled_neumann_relative_difference",
                            difference,
                            **at,
                            **phantom,
                        )
                    )
            rows.append(row("dense_exact", seed, step, "reference_unconverged_solves", 0, **at))
            rows.append(row("dense_exact", seed, step, "jacobian_spectral_radius_max", 0.8, **at))
    return as_read(rows)


def test_direction_check_holds_fails_and_counts_diverged_seeds():
    holds = judged("phantom_direction", direction_table(0.99))
    assert holds.verdict == REPRODUCED and holds.control.verdict == NOT_REPRODUCED
    # 0.92 < 0.95, and the cosine no longer rises from k = 2 to k = 5
    assert judged("phantom_direction", direction_table(0.92)).verdict == NOT_REPRODUCED
    apart = judged("phantom_direction", direction_table(0.99, difference=1e-3))
    assert apart.verdict == NOT_REPRODUCED
    assert apart.decision.deciding.name.endswith("‖unrolled − Neumann‖ / ‖Neumann‖ per seed")
    # six of eight seeds diverged: they count as seeds where the cosine fails; survivors would pass
    diverged = judged("phantom_direction", direction_table(0.99, lost=range(6)))
    assert diverged.verdict == NOT_REPRODUCED and diverged.survivors.verdict == REPRODUCED
    assert {part.lost for part in diverged.decision.parts} == {6}


def test_a_void_checkpoint_loses_its_seed_in_the_forms_part():
    """A checkpoint whose reference missed its tolerance has NaN differences: the seed is lost for
    the forms' part (not judged on its other checkpoints), and the summary says so."""
    table = direction_table(0.99)
    void = (
        (table["seed"] == 0)
        & (table["epoch"] == 15)
        & (table["metric"] == "unrolled_neumann_relative_difference")
    )
    table.loc[void, "value"] = np.nan
    evidence = check("phantom_direction")(table, tolerance("phantom_direction"))
    forms = evidence.parts[2]
    assert forms.tolerance == "forms_relative_difference_at_most"
    assert forms.lost == 1 and np.isnan(forms.values[0])
    assert "differ by at most 1e-11" in evidence.summary
    assert judge(evidence).decision.parts[2].lost == 1


def test_direction_evidence_has_a_part_per_criterion_and_checkpoint_rows():
    evidence = check("phantom_direction")(direction_table(0.99), tolerance("phantom_direction"))
    assert [part.tolerance for part in evidence.parts] == [
        "cosine_at_least",
        "rise_spearman_at_least",
        "forms_relative_difference_at_most",
    ]
    assert evidence.parts[0].values.shape == (len(SEEDS), 4)  # 2 checkpoints × 2 λ per seed
    assert [part.tolerance for part in evidence.control] == [
        "cosine_at_least",
        "rise_spearman_at_least",
    ]
    assert {row["epoch"] for row in evidence.rows} == {0, 15}
    assert evidence.rows[0]["median cosine per k"].startswith(
        "k=1: 0.9003, k=2: 0.9304, k=5: "
    )  # medians over 8 seeds


def test_direction_rows_and_control_read_each_trajectory_alone():
    """Two trajectories whose control cosines differ: each one's row and control part show its own."""
    first = direction_table(0.99)
    second = first.assign(variant="dense_unrolled")
    control = second["estimator"] == "random_direction"
    second.loc[control, "value"] += 0.3
    evidence = check("phantom_direction")(
        pd.concat([first, second]), tolerance("phantom_direction")
    )
    column = "random direction's cosine (k=5 slot)"
    medians = {row["trajectory"]: float(row[column].split(" ")[0]) for row in evidence.rows}
    assert medians["dense_unrolled"] == pytest.approx(medians["dense_exact"] + 0.3, abs=0.05)
    assert len(evidence.parts) == 6 and len(evidence.control) == 4


def test_where_the_cosine_drops_names_the_first_radius_below_the_floor():
    """Three checkpoints at ρ(J) 0.5, 0.9 and 0.99 with median cosines at k = 5 of 0.99, 0.96 and
    0.90: the cosine falls below 0.95 first at ρ(J) 0.99, and stays above up to 0.9."""
    checks = STUDY.module("checks")
    rows, radius = [], []
    for epoch, rho, cosine in ((0, 0.5, 0.99), (5, 0.9, 0.96), (10, 0.99, 0.90)):
        for seed in range(3):
            radius.append({"variant": "v", "seed": seed, "epoch": epoch, "value": rho})
            rows.append(
                {
                    "variant": "v",
                    "seed": seed,
                    "epoch": epoch,
                    "estimator_k": 5,
                    "estimator_damping": 0.5,
                    "value": cosine,
                }
            )
    text = checks.where_the_cosine_drops(pd.DataFrame(rows), pd.DataFrame(radius), 5, 0.95)
    assert "on 1 of 3 checkpoint and λ groups, the first at a median ρ(J) of 0.990" in text
    assert "epoch 10" in text and "up to a median ρ(J) of 0.900 stay above it" in text


def cost_table(exact_passes: float, unconverged=()) -> pd.DataFrame:
    rows = []
    timing = {"experiment": "conv_timing"}
    for seed in SEEDS:
        for form, passes in (
            ("exact", exact_passes + 0.5 * seed),
            ("unrolled", 10.0),
            ("neumann", 6.0),
        ):
            phantom = {} if form == "exact" else {"estimator_k": 5, "estimator_damping": 0.5}
            for metric, value in (("backward_passes", passes), ("backward_vjps", passes - 1)):
                rows.append(
                    row("conv_timing", seed, 0, metric, value, **timing, **phantom, estimator=form)
                )
        for metric, value in (
            ("forward_unconverged_solves", float(seed in unconverged)),
            ("adjoint_solves_at_cap", 1.0),
            ("adjoint_relative_residual", 3e-5),
            ("diverged", 0.0),
        ):
            rows.append(row("conv_timing", seed, 0, metric, value, **timing))
    return as_read(rows)


ROUNDS = 10  # timed rounds per seed


def round_seconds(exact_over_unrolled: float) -> dict:
    """Timings as the train stage writes them: per form a list over (seed, round), with noise that
    the same round shares (a busy neighbour slows all three backward passes of a round alike)."""
    load = 1.0 + 0.3 * np.random.default_rng(1).random(len(SEEDS) * ROUNDS)
    unrolled = 0.01 * load
    return {
        "conv_timing": {
            "backward_exact_seconds": list(exact_over_unrolled * unrolled),
            "backward_unrolled_seconds": list(unrolled),
            "backward_neumann_seconds": list(0.6 * unrolled),
        }
    }


def test_cost_check_judges_time_per_round_and_passes_per_seed():
    holds = judged("backward_cost", cost_table(22.0), wall_clock=round_seconds(3.0))
    assert holds.verdict == REPRODUCED and holds.control.verdict == NOT_REPRODUCED
    time_part, passes_part = holds.decision.parts
    assert time_part.statistic == pytest.approx(3.0) and time_part.seeds == len(SEEDS) * ROUNDS
    assert passes_part.statistic == pytest.approx(23.75 / 10.0)  # 22, 22.5, ..., 25.5 over 10
    control_time = holds.control.parts[0]
    assert control_time.seeds == len(SEEDS) * (ROUNDS - 1) and 0.7 < control_time.statistic < 1.4
    slow = judged("backward_cost", cost_table(22.0), wall_clock=round_seconds(1.1))
    assert (
        slow.verdict == NOT_REPRODUCED and slow.decision.deciding.tolerance == "time_ratio_at_least"
    )
    few_passes = judged("backward_cost", cost_table(11.0), wall_clock=round_seconds(3.0))
    assert few_passes.verdict == NOT_REPRODUCED


def test_cost_check_loses_the_rounds_and_passes_of_an_unconverged_seed():
    lost = judged(
        "backward_cost", cost_table(22.0, unconverged=range(6)), wall_clock=round_seconds(3.0)
    )
    time_part, passes_part = lost.decision.parts
    assert passes_part.lost == 6 and time_part.lost == 6 * ROUNDS
    assert lost.verdict == NOT_REPRODUCED and lost.survivors.verdict == REPRODUCED


def test_cost_check_refuses_timings_that_do_not_split_over_seeds():
    timings = round_seconds(3.0)
    timings["conv_timing"]["backward_exact_seconds"].pop()
    with pytest.raises(DataError, match="do not split over seeds"):
        check("backward_cost")(cost_table(22.0), tolerance("backward_cost"), wall_clock=timings)


def accuracy_table(phantom_shift: float, diverged=(), control_shift: float = -5.0) -> pd.DataFrame:
    """Exact, unrolled, Jacobian-free and frozen-layer runs on the same seeds, accuracies in %."""
    rows = []
    last = 15 * STEPS_PER_EPOCH
    for seed in SEEDS:
        base = 95.0 + 0.5 * seed
        for variant, gradient, shift in (
            ("dense_exact", trained_with("exact"), 0.0),
            ("dense_unrolled", trained_with("unrolled", 5, 0.5), phantom_shift),
            ("dense_jacobian_free", trained_with("unrolled", 1, 1.0), -20.0),
            ("dense_frozen_layer", trained_with("none"), control_shift),
        ):
            lost = variant == "dense_unrolled" and seed in diverged
            rows.append(row(variant, seed, 0, "test_accuracy_percent", 10.0, **gradient, epoch=0))
            if not lost:
                rows.append(
                    row(
                        variant,
                        seed,
                        last,
                        "test_accuracy_percent",
                        base + shift,
                        **gradient,
                        epoch=15,
                    )
                )
            rows.append(row(variant, seed, last, "diverged", float(lost), **gradient, epoch=15))
            for metric, value in (("unconverged_solves", 0.0), ("max_relative_residual", 1e-6)):
                rows.append(row(variant, seed, last, metric, value, **gradient, epoch=15))
    return as_read(rows)


def test_accuracy_check_judges_phantom_not_jacobian_free():
    holds = judged("phantom_accuracy", accuracy_table(-0.3))
    assert holds.verdict == REPRODUCED and holds.control.verdict == NOT_REPRODUCED
    evidence = check("phantom_accuracy")(accuracy_table(-0.3), tolerance("phantom_accuracy"))
    assert [part.name.split(" ")[0] for part in evidence.parts] == ["dense_unrolled"]
    assert [row["trained with"] for row in evidence.rows] == [
        "exact",
        "none",
        "unrolled k=1 λ=1 (Jacobian-free)",
        "unrolled k=5 λ=0.5",
    ]
    assert evidence.parts[0].values == pytest.approx([-0.3] * len(SEEDS))  # points, not shares
    assert judged("phantom_accuracy", accuracy_table(-5.0)).verdict == NOT_REPRODUCED


def test_accuracy_check_is_unfalsifiable_when_the_poor_estimator_does_not_lose():
    judgement = judged("phantom_accuracy", accuracy_table(-0.3, control_shift=-0.2))
    assert judgement.decision.verdict == REPRODUCED and judgement.control.verdict == REPRODUCED
    assert judgement.verdict == UNFALSIFIABLE


def test_accuracy_check_counts_a_diverged_phantom_seed_as_a_lost_pair():
    table = accuracy_table(+0.2, diverged=range(6))
    judgement = judged("phantom_accuracy", table)
    assert judgement.decision.parts[0].lost == 6 and judgement.verdict == NOT_REPRODUCED
    assert judgement.survivors.verdict == REPRODUCED


# --- a tiny run through the Study API ---------------------------------------------------------------------

# the old names carried settings: cosine_unrolled_k5_damping0.5, backward_passes_exact, ..._vs_exact
SETTING_IN_A_NAME = re.compile(r"_k\d|damping\d|epoch\d|(?<!_with)_(exact|unrolled|neumann)$|_vs_")


@pytest.fixture(scope="module")
def tiny():
    config = parse(TINY)
    return config, STUDY.module("data").generate(config)


def as_saved(arrays: dict, tmp_path) -> dict:
    """The run's arrays as the measure stage reads them (written and read back as .npz)."""
    write_arrays(tmp_path / "run.npz", arrays)
    return read_arrays(tmp_path / "run.npz")


def test_tiny_dense_run_is_bit_identical_and_measured(tiny, tmp_path):
    config, data = tiny
    first = STUDY.module("training").train(
        config, "dense_unrolled", data, probe=None, execution=Execution(), reads={}
    )
    second = STUDY.module("training").train(
        config, "dense_unrolled", data, probe=None, execution=Execution(), reads={}
    )
    assert set(first.arrays) == set(second.arrays)
    for name in first.arrays:
        assert np.array_equal(first.arrays[name], second.arrays[name], equal_nan=True), name
    frame = STUDY.module("measurement").measure(
        config, "dense_unrolled", data, as_saved(first.arrays, tmp_path), reads={}
    )
    assert {"test_accuracy_percent", "backward_passes_per_step"} <= set(frame["metric"])
    assert "cosine_with_exact" not in set(frame["metric"])  # measure_direction is off here
    steps = config.variants["dense_unrolled"].gradient.k
    assert (
        frame.loc[frame["metric"] == "backward_passes_per_step", "value"].eq(2 * steps).all()
    )  # k steps + k VJPs
    solves = frame.loc[frame["metric"] == "forward_evaluations_per_step", "value"]
    assert solves.le(config.dense.forward_solver.max_iterations).all()  # the forward cap holds


def test_tiny_dense_table_has_one_meaning_per_column(tiny, tmp_path):
    config, data = tiny
    result = STUDY.module("training").train(
        config, "dense_exact", data, probe=None, execution=Execution(), reads={}
    )
    frame = STUDY.module("measurement").measure(
        config, "dense_exact", data, as_saved(result.arrays, tmp_path), reads={}
    )
    frame.insert(0, "study", "phantom_gradient")
    frame.insert(1, "variant", "dense_exact")
    validate(frame, STUDY.setting_columns, "tiny")  # the schema, one row per key
    assert not [m for m in set(frame["metric"]) if SETTING_IN_A_NAME.search(m)]
    # step is the optimisation step: epoch × steps per epoch (the last minibatch may be short)
    per_epoch = math.ceil(len(data["train_labels"]) / config.dense.batch_size)
    assert result.arrays["steps_per_epoch"] == per_epoch
    assert frame["step"].eq(frame["epoch"] * per_epoch).all()
    assert frame["epoch"].max() == config.dense.epochs and per_epoch > 1
    assert result.run_steps == per_epoch * config.dense.epochs * config.dense.seeds
    # the training gradient on every row; the estimator only on the direction rows
    assert (frame["training_gradient"] == "exact").all() and frame["training_k"].isna().all()
    assert frame["training_damping"].isna().all()
    k, damping = config.direction.ks[-1], config.direction.dampings[0]
    at_grid_point = (frame["estimator_k"] == k) & (frame["estimator_damping"] == damping)
    assert (at_grid_point & (frame["metric"] == "unrolled_neumann_relative_difference")).any()
    cosines = frame[
        (frame["metric"] == "cosine_with_exact") & (frame["estimator"] != "random_direction")
    ]
    grid = {
        (form, k, damping)
        for form in ("unrolled", "neumann")
        for k in config.direction.ks
        for damping in config.direction.dampings
    }
    for (seed, epoch), checkpoint in cosines.groupby(["seed", "epoch"]):
        found = zip(
            checkpoint["estimator"],
            checkpoint["estimator_k"],
            checkpoint["estimator_damping"],
            strict=True,
        )
        assert set(found) == grid, (seed, epoch)
    assert sorted(cosines["epoch"].unique()) == config.dense.checkpoint_epochs()
    training = frame[frame["metric"].isin(["train_loss_cross_entropy", "test_accuracy_percent"])]
    assert training["estimator"].isna().all() and training["estimator_k"].isna().all()
    diverged = frame[frame["metric"] == "diverged"]
    assert diverged["epoch"].eq(config.dense.epochs).all() and diverged["value"].eq(0).all()


def test_timing_keeps_times_out_of_the_arrays_and_table(tiny, tmp_path):
    config, data = tiny
    result = STUDY.module("training").train(
        config, "conv_timing", data, probe=None, execution=Execution(), reads={}
    )
    timed_rounds = config.conv_timing.seeds * config.conv_timing.repeats
    assert set(result.wall_clock) == {
        f"backward_{form}_seconds" for form in ("exact", "unrolled", "neumann")
    }
    assert all(len(seconds) == timed_rounds for seconds in result.wall_clock.values())
    again = STUDY.module("training").train(
        config, "conv_timing", data, probe=None, execution=Execution(), reads={}
    )
    for name in result.arrays:  # counts, cosines and residuals do not depend on the clock
        assert np.array_equal(result.arrays[name], again.arrays[name]), name
    frame = STUDY.module("measurement").measure(
        config, "conv_timing", data, as_saved(result.arrays, tmp_path), reads={}
    )
    times = {t for seconds in result.wall_clock.values() for t in seconds}
    assert not times & set(frame["value"])
    assert not any("time" in metric or "second" in metric for metric in frame["metric"])
    # one metric per quantity, the estimator a column of its own; nothing is trained here
    assert not [m for m in set(frame["metric"]) if SETTING_IN_A_NAME.search(m)]
    passes = frame[frame["metric"] == "backward_passes"].set_index(["seed", "estimator"])
    assert set(passes.index.get_level_values("estimator")) == {"exact", "unrolled", "neumann"}
    variant = config.variants["conv_timing"]
    assert pd.isna(passes.loc[(0, "exact"), "estimator_k"])
    assert passes.loc[(0, "unrolled"), "estimator_k"] == variant.k
    assert passes.loc[(0, "unrolled"), "value"] == 2 * variant.k  # k steps + k VJPs
    cap = config.conv_timing.adjoint_solver.max_iterations
    assert passes.loc[(0, "exact"), "value"] <= cap + 2  # the capped adjoint + one graph + one VJP
    assert frame["step"].eq(0).all() and frame["epoch"].isna().all()
    assert frame["training_gradient"].isna().all()


def test_random_direction_control_rows_beside_every_checkpoint(tiny, tmp_path):
    config, data = tiny
    result = STUDY.module("training").train(
        config, "dense_exact", data, probe=None, execution=Execution(), reads={}
    )
    frame = STUDY.module("measurement").measure(
        config, "dense_exact", data, as_saved(result.arrays, tmp_path), reads={}
    )
    random = frame[frame["estimator"] == "random_direction"]
    assert len(random) == config.dense.seeds * len(config.dense.checkpoint_epochs()) * len(
        config.direction.ks
    )
    assert random["estimator_damping"].isna().all()
    assert random["value"].abs().max() < 0.5  # no information about the exact gradient
    accuracy = frame[frame["metric"] == "test_accuracy_percent"]["value"]
    assert accuracy.between(0.0, 100.0).all() and accuracy.max() > 1.0  # percent, not a share


@pytest.fixture(scope="module")
def tiny_table(tiny, tmp_path_factory):
    """Every variant of the tiny profile, trained and measured as the stages do, in one table."""
    config, data = tiny
    frames, wall_clock = [], {}
    for name in config.variants:
        result = STUDY.module("training").train(
            config, name, data, probe=None, execution=Execution(), reads={}
        )
        runs = as_saved(result.arrays, tmp_path_factory.mktemp(name))
        frame = STUDY.module("measurement").measure(config, name, data, runs, reads={})
        frames.append(frame.assign(study="phantom_gradient", variant=name))
        wall_clock[name] = result.wall_clock
    return to_arrow(pd.concat(frames), STUDY.setting_columns, "tiny").to_pandas(), wall_clock


@pytest.mark.parametrize("name", sorted(TOLERANCES))
def test_every_control_fails_on_the_tiny_profile(tiny_table, name):
    table, wall_clock = tiny_table
    timings = {"wall_clock": wall_clock} if name == "backward_cost" else {}
    assert judged(name, table, **timings).control.verdict == NOT_REPRODUCED


def test_test_accuracy_is_taken_at_the_checkpoint_epochs(tiny, tmp_path):
    config, data = tiny
    result = STUDY.module("training").train(
        config, "dense_frozen_layer", data, probe=None, execution=Execution(), reads={}
    )
    frame = STUDY.module("measurement").measure(
        config, "dense_frozen_layer", data, as_saved(result.arrays, tmp_path), reads={}
    )
    accuracy = frame[frame["metric"] == "test_accuracy_percent"]
    assert sorted(set(accuracy["epoch"])) == config.dense.checkpoint_epochs()
    assert (frame["training_gradient"] == "none").all() and frame["training_k"].isna().all()
    assert frame.loc[frame["metric"] == "backward_passes_per_step", "value"].eq(0).all()


def test_measuring_without_a_direction_does_not_import_torch():
    """torch costs seconds of CPU to import; only the measure stages that take gradients pay it."""
    import subprocess
    import sys

    code = (
        "import sys; import stages.studies.phantom_gradient.measurement; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
