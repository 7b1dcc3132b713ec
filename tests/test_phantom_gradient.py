"""Study phantom_gradient: known answers of the implicit layer (closed-form exact gradient of a linear
layer, large-k phantom = exact, unrolled = Neumann, gradcheck), the solver's convergence and its
reported failures, params validation, each claim check on synthetic tables where it must pass and
where it must fail, and a tiny run through the Study API (bit-identical reruns, no time in a table)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from params_profile import edited, merge

from stages.common.params import ParamError, Section
from stages.common.study import Execution
from stages.common.verdicts import NOT_REPRODUCED, REPRODUCED
from stages.studies.phantom_gradient import STUDY
from stages.studies.phantom_gradient.cells import DenseCell
from stages.studies.phantom_gradient.implicit import Cell, Costs, equilibrium, solve_forward
from stages.studies.phantom_gradient.settings import Backward, SolverSettings
from stages.studies.phantom_gradient.solver import anderson

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


def layer_gradients(cell, x, c, backward, settings=TIGHT):
    """∂(Σ c⊙z*)/∂(W, U, b) under one backward choice."""
    state = equilibrium(cell, x, backward, settings, settings, Costs())
    return torch.autograd.grad((c * state).sum(), [cell.weight, cell.injection_weight, cell.bias])


# --- known answers ----------------------------------------------------------------------------------


def test_exact_gradient_of_a_linear_layer_is_the_closed_form():
    """z* = (I − W)⁻¹(Ux + b), L = Σ c·z*: ∂L/∂z-side adjoint g = c (I − W)⁻¹, ∂L/∂W = Σ gᵀ z*ᵀ."""
    weight, injection_weight, bias, x, c = random_problem()
    params = [t.clone().requires_grad_() for t in (weight, injection_weight, bias)]
    grads = layer_gradients(TensorCell(*params, linear=True), x, c, Backward("exact"))
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
    exact = layer_gradients(cell, x, c, Backward("exact"))
    for form in ("unrolled", "neumann"):
        phantom = layer_gradients(cell, x, c, Backward(form, 200, damping))
        for got, want in zip(phantom, exact, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)
    short = layer_gradients(cell, x, c, Backward("unrolled", 1, damping))
    assert not torch.allclose(short[0], exact[0], rtol=1e-3), "k = 1 should not already be exact"


def test_unrolled_and_neumann_forms_agree_to_rounding():
    cell = DenseCell(8, 16, 0.95, torch.Generator().manual_seed(3))
    x = torch.rand(5, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    c = torch.randn(5, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for k, damping in ((1, 1.0), (3, 0.5), (7, 0.8)):
        unrolled = layer_gradients(cell, x, c, Backward("unrolled", k, damping))
        neumann = layer_gradients(cell, x, c, Backward("neumann", k, damping))
        for got, want in zip(unrolled, neumann, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_gradcheck_of_the_exact_backward_in_float64():
    weight, injection_weight, bias, x, c = random_problem(seed=2, width=4, inputs=3, batch=2)

    def loss(w, u, b):
        state = equilibrium(TensorCell(w, u, b), x, Backward("exact"), TIGHT, TIGHT, Costs())
        return (c * state).sum()

    params = tuple(t.clone().requires_grad_() for t in (weight, injection_weight, bias))
    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_costs_count_what_each_backward_does():
    cell = DenseCell(8, 16, 0.9, torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    settings = SolverSettings(5, 1e-8, 100)
    counted = {}
    for backward in (Backward("exact"), Backward("unrolled", 5, 0.5), Backward("neumann", 5, 0.5)):
        costs = Costs()
        equilibrium(cell, x, backward, settings, settings, costs).sum().backward()
        counted[backward.form] = costs
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
    assert set(parse(PARAMS).variants) == set(PARAMS["variants"])
    assert parse(TINY).dense.width == 16


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (
            "variants.dense_unrolled.damping",
            1.5,
            "phantom_gradient.variants.dense_unrolled.damping = 1.5: allowed: a number in (0, 1]",
        ),
        ("variants.dense_unrolled.backward", "broyden", "allowed: one of exact, unrolled, neumann"),
        ("variants.dense_exact.k", 5, "'k' is not one"),
        ("variants.dense_unrolled.k", 0, "allowed: an integer >= 1"),
        (
            "setup.dense.max_spectral_norm",
            1.2,
            "phantom_gradient.setup.dense.max_spectral_norm = 1.2",
        ),
        ("setup.dense.solver.tolerance", None, "'<missing>'"),
        ("setup.conv_timing.groups", 5, "a divisor of channels"),
        ("setup.direction.ks", [5, 2], "increasing"),
        ("setup.first_seed", -1, "allowed: an integer >= 0"),
    ],
)
def test_bad_params_name_key_value_and_allowed(path, value, expected):
    with pytest.raises(ParamError) as error:
        parse(edited(PARAMS, path, value))
    assert expected in str(error.value)


# --- checks on synthetic tables -------------------------------------------------------------------------


def row(variant, seed, step, metric, value, experiment, backward="exact", k=0, damping=0.0):
    return {
        "study": "phantom_gradient",
        "variant": variant,
        "seed": seed,
        "step": step,
        "metric": metric,
        "value": value,
        "experiment": experiment,
        "backward": backward,
        "k": k,
        "damping": damping,
    }


def direction_table(cosine_at_5: float, difference: float = 1e-11) -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for epoch in (0, 15):
            for damping in (0.5, 1.0):
                for k, cosine in ((1, 0.9), (2, 0.93), (5, cosine_at_5), (10, 0.999)):
                    rows.append(
                        row(
                            "dense_exact",
                            seed,
                            epoch,
                            f"cosine_unrolled_k{k}_damping{damping:g}",
                            cosine,
                            "direction",
                            "unrolled",
                            k,
                            damping,
                        )
                    )
                    rows.append(
                        row(
                            "dense_exact",
                            seed,
                            epoch,
                            f"unrolled_neumann_relative_difference_k{k}_damping{damping:g}",
                            difference,
                            "direction",
                            "neumann",
                            k,
                            damping,
                        )
                    )
            rows.append(
                row("dense_exact", seed, epoch, "reference_unconverged_solves", 0, "direction")
            )
            rows.append(
                row("dense_exact", seed, epoch, "jacobian_spectral_radius_max", 0.8, "direction")
            )
    return pd.DataFrame(rows)


def test_direction_check_passes_and_fails():
    assert (
        STUDY.module("checks")
        .CHECKS["phantom_direction"](direction_table(0.99), tolerance("phantom_direction"))
        .verdict
        == REPRODUCED
    )
    low = STUDY.module("checks").CHECKS["phantom_direction"](
        direction_table(0.92), tolerance("phantom_direction")
    )
    assert (
        low.verdict == NOT_REPRODUCED
    )  # 0.92 < 0.95 and the cosine no longer rises from k = 2 to 5
    apart = STUDY.module("checks").CHECKS["phantom_direction"](
        direction_table(0.99, difference=1e-3), tolerance("phantom_direction")
    )
    assert apart.verdict == NOT_REPRODUCED


def cost_table(exact_passes: float) -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for form, passes in (("exact", exact_passes), ("unrolled", 10.0), ("neumann", 6.0)):
            rows.append(
                row("conv_timing", seed, 0, f"backward_passes_{form}", passes, "conv_timing", form)
            )
            rows.append(
                row(
                    "conv_timing", seed, 0, f"backward_vjps_{form}", passes - 1, "conv_timing", form
                )
            )
        rows.append(row("conv_timing", seed, 0, "unconverged_solves", 0.0, "conv_timing"))
    return pd.DataFrame(rows)


def test_cost_check_is_judged_on_counts():
    assert (
        STUDY.module("checks")
        .CHECKS["backward_cost"](cost_table(23.0), tolerance("backward_cost"))
        .verdict
        == REPRODUCED
    )
    assert (
        STUDY.module("checks")
        .CHECKS["backward_cost"](cost_table(12.0), tolerance("backward_cost"))
        .verdict
        == NOT_REPRODUCED
    )


def accuracy_table(phantom_shift: float) -> pd.DataFrame:
    rows = []
    for seed in range(5):
        base = 0.95 + 0.005 * seed
        for variant, form, k, damping, shift in (
            ("dense_exact", "exact", 0, 0.0, 0.0),
            ("dense_unrolled", "unrolled", 5, 0.5, phantom_shift),
            ("dense_jacobian_free", "unrolled", 1, 1.0, -0.2),
        ):
            rows.append(
                row(variant, seed, 15, "test_accuracy", base + shift, "dense", form, k, damping)
            )
            rows.append(row(variant, seed, 0, "diverged", 0.0, "dense", form, k, damping))
    return pd.DataFrame(rows)


def test_accuracy_check_judges_phantom_not_jacobian_free():
    outcome = STUDY.module("checks").CHECKS["phantom_accuracy"](
        accuracy_table(-0.003), tolerance("phantom_accuracy")
    )
    assert outcome.verdict == REPRODUCED  # Jacobian-free's −0.2 is shown, not judged
    assert (
        STUDY.module("checks")
        .CHECKS["phantom_accuracy"](accuracy_table(-0.05), tolerance("phantom_accuracy"))
        .verdict
        == NOT_REPRODUCED
    )


# --- a tiny run through the Study API ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    config = parse(TINY)
    return config, STUDY.module("data").generate(config)


def test_tiny_dense_run_is_bit_identical_and_measured(tiny):
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
        config, "dense_unrolled", data, first.arrays, reads={}
    )
    k, damping = config.direction.ks[-1], config.direction.dampings[0]
    assert {
        "test_accuracy",
        "backward_passes_per_step",
        f"cosine_unrolled_k{k}_damping{damping:g}",
        f"unrolled_neumann_relative_difference_k{k}_damping{damping:g}",
    } <= set(frame["metric"])
    steps = config.variants["dense_unrolled"].backward.k
    assert (
        frame.loc[frame["metric"] == "backward_passes_per_step", "value"].eq(2 * steps).all()
    )  # k steps + k VJPs
    assert frame.loc[frame["metric"] == "unconverged_solves", "value"].eq(0).all()


def test_timing_keeps_times_out_of_the_arrays_and_table(tiny):
    config, data = tiny
    result = STUDY.module("training").train(
        config, "conv_timing", data, probe=None, execution=Execution(), reads={}
    )
    assert {"backward_exact_median", "backward_unrolled_median", "backward_neumann_q75"} <= set(
        result.wall_clock
    )
    again = STUDY.module("training").train(
        config, "conv_timing", data, probe=None, execution=Execution(), reads={}
    )
    for name in result.arrays:  # counts, cosines and residuals do not depend on the clock
        assert np.array_equal(result.arrays[name], again.arrays[name]), name
    frame = STUDY.module("measurement").measure(
        config, "conv_timing", data, result.arrays, reads={}
    )
    times = set(result.wall_clock.values())
    assert not times & set(frame["value"])
    assert not any("time" in metric or "second" in metric for metric in frame["metric"])
