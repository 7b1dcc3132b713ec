"""Study edge_of_stability: params validation, known answers of its numerics, each claim check on
synthetic tables where it must pass and where it must fail, and a tiny run through the Study API."""

import copy
from pathlib import Path
from typing import get_args, get_type_hints

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from params_profile import edited, merge

from stages.common.decision import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    UNFALSIFIABLE,
    Evidence,
    judge,
)
from stages.common.hessian import HessianAt, dense_hessian, top_eigenpairs
from stages.common.params import ParamError, Section
from stages.common.study import Execution
from stages.studies.edge_of_stability import STUDY, diagonal_net
from stages.studies.edge_of_stability.config import (
    VARIANT_PARSERS,
    Network,
    SelfStabilizationTracking,
    Variant,
)
from stages.studies.edge_of_stability.constrained_trajectory import (
    TaylorCenter,
    follow_top_eigenpair,
    project,
    taylor_center,
)
from stages.studies.edge_of_stability.cubic_toy import CubicToy, toy_descent
from stages.studies.edge_of_stability.data import network_examples
from stages.studies.edge_of_stability.descent import EdgeStart, run_to_edge
from stages.studies.edge_of_stability.describe import VARIANT_TEXTS
from stages.studies.edge_of_stability.measurement import (
    MEASURES,
    first_crossing,
    horizon_after_crossing,
)
from stages.studies.edge_of_stability.mlp import MLP
from stages.studies.edge_of_stability.predicted_dynamics import predicted_step, quadratic_step
from stages.studies.edge_of_stability.tracking import track_from_edge
from stages.studies.edge_of_stability.training import TRAINERS

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


# The claims' tolerances, read from claims.yaml (fixed there before the default profile ran).
TOLERANCES = {
    entry["check"]: entry["tolerance"]
    for entry in yaml.safe_load((ROOT / "claims.yaml").read_text())["edge_of_stability"].values()
}
# params.yaml with the end-to-end test's tiny profile, plus a GD run at an absurd step size that must diverge.
TINY = merge(
    yaml.safe_load((ROOT / "params.yaml").read_text()),
    yaml.safe_load((ROOT / "tests/profiles/tiny.yaml").read_text()),
)["edge_of_stability"]
TINY["variants"]["cohen_gd"]["gd_lr1e6"] = {"method": "gd", "lr": 1.0e6, "steps": 40}


def parse(raw):
    return STUDY.parse(Section(raw, "edge_of_stability"))


def tolerance(check):
    return Section(TOLERANCES[check], f"claims.yaml:edge_of_stability.{check}.tolerance")


def test_claims_yaml_names_a_tolerance_for_every_check():
    assert set(TOLERANCES) == set(STUDY.module("checks").CHECKS)


# --- params --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, value",
    [
        ("variants.cohen_gd.gd_lr0p1.lr", 0.0),
        ("variants.cohen_gd.gd_lr0p1.lr", -0.3),
        ("variants.toy_cubic.toy_cubic.steps", "800"),
        ("variants.cohen_gd.gd_lr0p1.lr", True),
        ("variants.cohen_gd.gd_lr0p1.learning_rate", 0.3),
        ("variants.cohen_gd.gd_lr0p1.method", "adam"),
        ("variants.cohen_gd.gd_lr0p1.experiment", "cifar"),
        ("variants.self_stabilization.selfstab_tracking.flow_substeps", 0),
        ("variants.self_stabilization.selfstab_tracking.checkpoint_every", 13),  # > its 12 steps
        ("variants.self_stabilization.selfstab_tracking.stop_lambda2_times_lr_over_2", 1.0),
        ("variants.diagonal_net.sgd_batch1.lrs", [0.5, 0.1]),
        ("variants.diagonal_net.sgd_batch1.batch", 21),
        ("setup.cohen_gd.network.hidden", [64, 0]),
        ("setup.cohen_gd.network.examples", 101),
        ("setup.cohen_gd.network.activation", "relu"),
        ("setup.cohen_gd.seeds", [0, 0]),
        ("setup.toy_cubic.window", 101),
        ("setup.self_stabilization.lanczos_tolerance", "tight"),
        ("setup.data.digits_examples", 5000),
        ("setup.first_seed", -1),
        ("setup.cohen_gd.min_steps_after_crossing", -5),
        ("variants.cohen_gd.gd_lr0p3.steps", 5),  # fewer than checkpoint_every
        ("variants.cohen_gd.gd_lr0p1.checkpoint_every", 0),
        ("variants.cohen_gd.gd_lr0p1.checkpoint_every", 121),  # more than its 120 steps
        ("setup.self_stabilization.network.binary_labels", [3, 3]),
        ("setup.self_stabilization.network.binary_labels", [3, 10]),
        ("setup.self_stabilization.network.binary_labels", [3]),
        ("setup.self_stabilization.network.examples", 15),  # odd: half from each binary class
    ],
)
def test_bad_params_name_the_key(path, value):
    with pytest.raises(ParamError) as error:
        parse(edited(TINY, path, value))
    assert error.value.key == f"edge_of_stability.{path}" and "allowed" in str(error.value)


def test_cohen_variant_without_steps_names_the_key():
    raw = copy.deepcopy(TINY)
    del raw["variants"]["cohen_gd"]["gd_lr0p3"]["steps"]
    with pytest.raises(ParamError) as error:
        parse(raw)
    assert error.value.key == "edge_of_stability.variants.cohen_gd.gd_lr0p3.steps"


def test_first_seed_offsets_every_seed_the_study_draws():
    shifted = parse({**TINY, "setup": {**TINY["setup"], "first_seed": 100}})
    default = parse(TINY)
    assert default.first_seed == 0 and default.cohen_gd.seeds == tuple(
        TINY["setup"]["cohen_gd"]["seeds"]
    )
    assert shifted.cohen_gd.seeds == tuple(100 + s for s in default.cohen_gd.seeds)
    assert shifted.self_stabilization.seeds == tuple(
        100 + s for s in default.self_stabilization.seeds
    )
    assert shifted.toy_cubic.seeds == tuple(100 + s for s in default.toy_cubic.seeds)
    assert shifted.data.diagonal_seed == default.data.diagonal_seed + 100
    variant = shifted.variants["sgd_batch1"]
    data = STUDY.module("data").generate(shifted)
    run = STUDY.module("training").train(
        shifted, "sgd_batch1", data, probe=None, execution=Execution(), reads={}
    )
    assert list(run.arrays["seeds"]) == variant.run_seeds(100)
    assert sorted(set(run.arrays["seeds"])) == [100 + k for k in range(variant.seeds)]


def test_binary_examples_take_half_from_each_class_with_targets_plus_minus_one():
    labels = np.array([3, 1, 5, 3, 5, 3, 7, 5])
    inputs = np.arange(len(labels), dtype=np.float64)[:, None] * np.ones((1, 64))
    chosen, targets = network_examples(Network(4, (8,), "swish", (3, 5)), inputs, labels)
    assert list(chosen[:, 0]) == [0, 3, 2, 4]  # the first two 3s, then the first two 5s
    assert targets.shape == (4, 1) and list(targets[:, 0]) == [-1, -1, 1, 1]
    ten, one_hot_targets = network_examples(Network(3, (8,), "tanh", None), inputs, labels)
    assert (
        list(ten[:, 0]) == [0, 1, 2]
        and one_hot_targets.shape == (3, 10)
        and one_hot_targets[1, 1] == 1
    )
    assert Network(4, (8,), "swish", (3, 5)).widths == (64, 8, 1)
    with pytest.raises(ParamError, match="rarer class"):
        network_examples(
            Network(8, (8,), "swish", (3, 5)), inputs, labels
        )  # only three 3s and three 5s


def test_generate_refuses_a_binary_network_larger_than_its_classes():
    """The tiny profile's first 100 digits hold 12 threes and 9 fives: 18 examples fit, 20 do not."""
    fits = edited(TINY, "setup.self_stabilization.network.examples", 18)
    STUDY.module("data").generate(parse(fits))
    with pytest.raises(ParamError) as error:
        STUDY.module("data").generate(
            parse(edited(TINY, "setup.self_stabilization.network.examples", 20))
        )
    assert error.value.key == "edge_of_stability.setup.self_stabilization.network.examples"


def test_variant_names_with_dots_are_rejected():
    raw = copy.deepcopy(TINY)
    raw["variants"]["cohen_gd"]["gd_lr0.3"] = raw["variants"]["cohen_gd"].pop("gd_lr0p1")
    with pytest.raises(ParamError, match="gd_lr0.3.*a dotted params key"):
        parse(raw)


def test_unknown_top_level_key_is_rejected():
    with pytest.raises(ParamError, match="edge_of_stability.figure_dpi"):
        parse({**TINY, "figure_dpi": 300})


@pytest.mark.parametrize(
    "path, value",
    [
        ("variants.self_stabilization.selfstab_tracking.lr", 0.5),  # η is the setup's here
        (
            "variants.self_stabilization.selfstab_tracking.substeps",
            8,
        ),  # the flow's is flow_substeps
        ("variants.cohen_gd.gd_lr0p1.lrs", [0.1, 0.2]),  # SGD's, on GD
        ("variants.diagonal_net.gd_diagonal.batch", 1),  # SGD's, on the diagonal net's GD
        ("variants.toy_cubic.toy_cubic.experiment", "toy_cubic"),  # its group says it
    ],
)
def test_a_variant_refuses_a_field_of_another_kind(path, value):
    """One dataclass per kind of variant: a key that kind does not read is refused, in one line
    that names it and the kind's own keys, not kept as a placeholder."""
    with pytest.raises(ParamError) as error:
        parse(edited(TINY, path, value))
    message = str(error.value)
    assert error.value.key == f"edge_of_stability.{path}" and "\n" not in message
    assert "allowed: a known key here (method" in message


def test_variants_are_typed_by_kind_and_grouped_by_experiment():
    config = parse(TINY)
    kinds = {name: type(v).__name__ for name, v in config.variants.items()}
    assert kinds == {
        **{f"gd_lr{lr}": "CohenGD" for lr in ("0p1", "0p3", "0p4", "0p6", "1e6")},
        "selfstab_tracking": "SelfStabilizationTracking",
        "toy_cubic": "ToyCubicGD",
        "sgd_batch1": "DiagonalSGD",
        "gd_diagonal": "DiagonalGD",
    }
    assert STUDY.variant_names(config)[:5] == [
        "gd_lr0p1",
        "gd_lr0p3",
        "gd_lr0p4",
        "gd_lr0p6",
        "gd_lr1e6",
    ]
    assert not hasattr(config.variants["gd_lr0p1"], "projection_steps")
    assert all(STUDY.measure_reads(config, name) == [] for name in config.variants)


def test_every_kind_of_variant_has_a_trainer_a_measurement_and_a_description():
    """Dispatch is on the variant's type: a kind missing from one table would fail at run time."""
    kinds = set(get_args(Variant))
    assert kinds == {
        parser_kind
        for methods in VARIANT_PARSERS.values()
        for parser_kind in (get_type_hints(p)["return"] for p in methods.values())
    }
    assert set(TRAINERS) == set(MEASURES) == set(VARIANT_TEXTS) == kinds


@pytest.mark.parametrize(
    "edit, key, allowed",
    [
        (
            lambda raw: raw["variants"].update(cifar={"x": {"method": "gd"}}),
            "edge_of_stability.variants.cifar",
            "a known key here (cohen_gd, self_stabilization, toy_cubic, diagonal_net)",
        ),
        (
            lambda raw: raw["variants"]["diagonal_net"].update(
                gd_lr0p1={"method": "gd", "lr": 1.0, "steps": 5}
            ),
            "edge_of_stability.variants.diagonal_net.gd_lr0p1",
            "a name no other variant of the study has (variants.cohen_gd has it",
        ),
        (
            lambda raw: raw["variants"].pop("toy_cubic"),
            "edge_of_stability.variants.toy_cubic",
            "a value (the key is required)",
        ),
        (
            lambda raw: raw["variants"].update(toy_cubic={}),
            "edge_of_stability.variants.toy_cubic",
            "at least one entry",
        ),
    ],
)
def test_experiment_groups_are_checked(edit, key, allowed):
    raw = copy.deepcopy(TINY)
    edit(raw)
    with pytest.raises(ParamError) as error:
        parse(raw)
    assert error.value.key == key and allowed in str(error.value)


# --- numerics ------------------------------------------------------------------------------------


def test_mlp_initialisation_is_pytorch_default_and_seeded():
    mlp = MLP((64, 32, 10), "tanh")
    torch.manual_seed(3)
    first, second = torch.nn.Linear(64, 32), torch.nn.Linear(32, 10)
    expected = torch.cat(
        [p.detach().reshape(-1) for layer in (first, second) for p in (layer.weight, layer.bias)]
    )
    assert (
        Network(1, (32,), "tanh", None).parameter_count
        == len(expected)
        == 64 * 32 + 32 + 32 * 10 + 10
    )
    assert torch.equal(mlp.initial(3, dtype=torch.float32), expected)
    assert not torch.equal(mlp.initial(3), mlp.initial(4))


def test_toy_sharpness_is_the_top_hessian_eigenvalue():
    toy = CubicToy(a=5.0, b=1.0, alpha=0.05, epsilon=0.01)
    point = torch.tensor([0.3, 14.0], dtype=torch.float64)
    full = dense_hessian(lambda p: toy.loss(p[0], p[1]), point)
    assert toy.sharpness(0.3, 14.0) == pytest.approx(
        float(torch.linalg.eigvalsh(full)[-1]), rel=1e-12
    )


def test_toy_oscillation_matches_the_predicted_amplitude_on_a_short_run():
    """Damian et al. §3: at the edge mean x² ≈ δ² = 2α/b and mean S·η/2 ≈ 1."""
    toy, lr = CubicToy(a=5.0, b=1.0, alpha=0.05, epsilon=0.01), 0.1
    xs, ys = toy_descent(toy, lr, np.array([0.0]), np.array([0.0]), 8000)
    normalised = toy.sharpness(xs[0], ys[0]) * lr / 2
    edge = np.flatnonzero(normalised >= 1)[0]
    assert (
        2500 < edge < 3500
    )  # y climbs at rate ηα from S = a to S = 2/η: (2/η − a)/(b·ηα) = 3000 steps
    assert np.mean(xs[0, edge:] ** 2) == pytest.approx(toy.predicted_x_squared, rel=0.05)
    assert np.mean(normalised[edge:]) == pytest.approx(1.0, abs=0.03)


def sharpening_quadratic(a=2.01, b=1.0, alpha=0.125, c=1.0, d=0.5):
    """L(x, y, z, w) = ½(a + b·y)x² − αy + ½cz² + ½dw². From x = 0, GD keeps x = 0 and moves y by ηα
    per step, so H = diag(a + b·y_t, 0, c, d) with y_t = tηα: S_t = a + b·ηα·t and λ2 = c exactly."""
    return lambda t: (
        0.5 * (a + b * t[1]) * t[0] ** 2 - alpha * t[1] + 0.5 * c * t[2] ** 2 + 0.5 * d * t[3] ** 2
    )


@pytest.mark.parametrize("search_every", [1, 7, 50])
def test_edge_search_finds_the_first_step_and_lambda2_over_lambda1_on_a_known_spectrum(
    search_every,
):
    """η = 0.5, 2/η = 4: S_t = 2.01 + t/16 first reaches 4 at t = 32 (S_31 = 3.9475), where
    λ2/λ1 = 1/4.01, whatever the search stride (it backtracks to the last check below 2/η)."""
    theta0 = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    start = run_to_edge(sharpening_quadratic(), theta0, 0.5, 500, search_every, 1e-10)
    assert start.reached and start.step == 32
    assert start.eigenvalues == pytest.approx((4.01, 1.0), rel=1e-8)
    assert start.lambda2_over_lambda1 == pytest.approx(1 / 4.01, rel=1e-8)
    assert float(start.theta[1]) == pytest.approx(32 * 0.5 * 0.125)
    missed = run_to_edge(sharpening_quadratic(), theta0, 0.5, 20, search_every, 1e-10)
    assert not missed.reached and np.isnan(missed.lambda2_over_lambda1)


def test_horizon_after_crossing_counts_steps_from_the_first_checkpoint_at_the_edge():
    saved = np.array([0, 49, 98, 147, 196])
    normalised = np.array([0.5, 0.99, 1.01, 0.97, 1.2])
    assert first_crossing(saved, normalised) == 98
    assert horizon_after_crossing(saved, normalised, 1200, 1000) == (98, 1102, 1.0)
    assert horizon_after_crossing(saved, normalised, 1097, 1000) == (98, 999, 0.0)
    never = horizon_after_crossing(saved, np.full(5, 0.9), 1200, 0)
    assert np.isnan(never[0]) and np.isnan(never[1]) and never[2] == 0.0


def test_diagonal_closed_form_gradient_matches_autograd():
    data = diagonal_net.teacher_data(20, 30, 3, 0.2, seed=0)
    inputs, targets = (
        torch.as_tensor(data["diagonal_inputs"]),
        torch.as_tensor(data["diagonal_targets"]),
    )
    theta = torch.randn(2, 60, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    lrs = torch.tensor([0.01, 0.02], dtype=torch.float64)
    stepped = diagonal_net.descend(
        theta, lrs, inputs, targets, diagonal_net.full_batch_indices(2, 1, 20)
    )
    leaf = theta.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(diagonal_net.half_mse(leaf, inputs, targets).sum(), leaf)
    assert torch.allclose(stepped, theta - lrs[:, None] * gradient, atol=1e-12)


def test_projection_lands_on_the_edge_with_no_gradient_along_u():
    """θ† projection (Damian et al. §4): from a point with S 3% above 2/η and a large gradient
    along u, three linearised steps bring θ to S ≤ 2/η and shrink ∇L·u twenty-fold (the Newton
    step along u contracts ∇L·u at each step; u itself turns, so not quadratically)."""
    mlp = MLP((4, 6, 2), "swish")
    generator = torch.Generator().manual_seed(0)
    inputs, targets = (
        torch.randn(12, 4, generator=generator, dtype=torch.float64),
        torch.randn(12, 2, generator=generator, dtype=torch.float64),
    )

    def loss(theta):
        return 0.5 * (mlp.outputs(theta, inputs) - targets).pow(2).sum(dim=1).mean()

    theta = mlp.initial(0) * 2
    eigen = top_eigenpairs(HessianAt(loss, theta), k=2, tolerance=1e-10)
    lr = 2 / (0.97 * eigen.sharpness)  # S sits 3% above 2/η
    before = taylor_center(loss, theta, eigen.top_vector, 1e-10)
    assert before.sharpness == pytest.approx(eigen.sharpness, rel=1e-9)
    center = project(loss, before, lr, projection_steps=3, lanczos_tolerance=1e-10)
    along_u_before = abs(float(before.top_vector @ before.gradient))
    assert center.sharpness * lr / 2 <= 1 + 1e-4
    assert abs(float(center.top_vector @ center.gradient)) < along_u_before / 20


def test_following_the_top_eigenpair_from_a_warm_start_on_a_known_spectrum():
    """H = diag(5, 3, then 38 values in [−2, 1]) (θ ↦ ½ θᵀHθ): from a start near e1 the small-basis
    Lanczos returns λ1 = 5 and ±e1, in fewer products than the common solver's default basis."""
    spectrum = torch.cat([torch.tensor([5.0, 3.0]), torch.linspace(-2.0, 1.0, 38)]).to(
        torch.float64
    )
    hessian = HessianAt(lambda theta: 0.5 * (spectrum * theta**2).sum(), torch.ones(40).double())
    start = np.zeros(40)
    start[:3] = [1.0, 0.1, -0.05]
    value, vector = follow_top_eigenpair(hessian, start, 1e-10)
    assert value == pytest.approx(5.0, rel=1e-10)
    assert abs(vector[0]) == pytest.approx(1.0, abs=1e-8) and np.abs(vector[1:]).max() < 1e-5
    followed = hessian.products
    top_eigenpairs(hessian, k=1, warm_start=start, tolerance=1e-10)
    assert followed < hessian.products - followed


def hand_made_center(lr=0.5):
    """A Taylor centre with u = e1, ∇S = (3, 4, 0) (∇S⊥ = (0, 4, 0)), ∇L = (0, −2, 0) and
    H = diag(4, 1, 2): α = −∇L·∇S⊥ = 8, β = ‖∇S⊥‖² = 16, δ² = 2α/β = 1."""
    curvature = torch.tensor([4.0, 1.0, 2.0], dtype=torch.float64)
    theta = torch.zeros(3, dtype=torch.float64)
    return TaylorCenter(
        theta=theta,
        loss=0.0,
        gradient=torch.tensor([0.0, -2.0, 0.0], dtype=torch.float64),
        sharpness=4.0,
        top_vector=torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
        sharpness_gradient=torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64),
        hessian=HessianAt(lambda t: 0.5 * (curvature * t**2).sum(), theta),
    )


def test_predicted_step_is_damian_et_al_eq_5_on_a_hand_made_centre():
    """v = (0.5, 0.25, 1): x = u·v = 0.5, y = ∇S⊥·v = 1; ½(x² − δ²)∇S⊥ = (0, −1.5, 0), H v =
    (2, 0.25, 2), u x y = (0.5, 0, 0); with η = 0.5, v ← v − η·(2.5, −1.25, 2) = (−0.75, 0.875, 0).
    The second-order twin keeps only H: w ← w − η H w = (−0.5, 0.125, 0)."""
    center, v = hand_made_center(), torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64)
    assert predicted_step(v, center, 0.5).tolist() == pytest.approx([-0.75, 0.875, 0.0])
    assert quadratic_step(v, center, 0.5).tolist() == pytest.approx([-0.5, 0.125, 0.0])


def test_on_the_cubic_toy_gd_follows_theta_dagger_plus_the_prediction_not_the_second_order_one():
    """Damian et al.'s toy L = ½(a + b·y)x² + εx − αy with a decoupled ½z² (so that λ2 exists),
    started at the edge a + b·y = 2/η: their predicted dynamics follow GD's deviation from θ† to
    within a fraction of a percent, the second-order twin does not, and θ† keeps S at 2/η."""
    a, b, alpha, epsilon, lr = 5.0, 1.0, 0.05, 0.01, 0.1

    def loss(t):
        return 0.5 * (a + b * t[1]) * t[0] ** 2 + epsilon * t[0] - alpha * t[1] + 0.5 * t[2] ** 2

    theta = torch.tensor([0.01, (2 / lr - a) / b, 0.1], dtype=torch.float64)
    eigen = top_eigenpairs(HessianAt(loss, theta), k=2, tolerance=1e-10)
    start = EdgeStart(theta, 0, eigen.top_vector, True, (eigen.sharpness, eigen.second))
    variant = SelfStabilizationTracking("toy", 150, 50, 3, 0.95, 50, 8)
    out = track_from_edge(loss, start, lr, variant, 1e-10)
    to_dagger = np.median(out["distance_gd_constrained"][1:])
    assert out["tracked_steps"] == 150 and not out["gd_diverged"]
    assert np.median(out["distance_gd_predicted"][1:]) < 0.01 * to_dagger
    assert np.median(out["distance_gd_quadratic"][1:]) > 0.5 * to_dagger
    assert np.nanmax(out["constrained_sharpness"]) * lr / 2 == pytest.approx(1.0, abs=1e-6)
    assert out["x_gd"][1:] == pytest.approx(out["x_predicted"][1:], abs=1e-4)


# --- claim checks on synthetic tables ------------------------------------------------------------


def rows(experiment, method, lr, seed, steps, metric, values, batch_size=None, edge_step=None):
    """Table rows as measurement.py writes them; with `edge_step`, `steps` count steps since the
    edge (self_stabilization: step = edge_step + steps_since_edge)."""
    steps = np.atleast_1d(steps).astype(np.int64)
    values = np.broadcast_to(np.asarray(values, dtype=np.float64), steps.shape)
    return pd.DataFrame(
        {
            "study": "edge_of_stability",
            "variant": f"{experiment}_{method}_{lr:g}",
            "seed": seed,
            "step": steps if edge_step is None else edge_step + steps,
            "metric": metric,
            "value": values,
            "experiment": experiment,
            "method": method,
            "lr": float(lr),
            "batch_size": pd.array([batch_size] * len(steps), dtype="Int64"),
            "steps_since_edge": pd.array(
                [None] * len(steps) if edge_step is None else steps, dtype="Int64"
            ),
        }
    )


def judged(check_name, table):
    """The claim's verdict by the one decision rule on the check's Evidence."""
    evidence = STUDY.module("checks").CHECKS[check_name](table, tolerance(check_name))
    assert isinstance(evidence, Evidence)
    return judge(evidence)


def flow_rows(seed, lost=False):
    """Gradient flow from the edge (the E2 control): S·η/2 climbs from 1 to 1.4 over 100 units of
    η, the loss falls monotonically."""
    offsets, every = np.arange(101), np.arange(0, 101, 10)
    normalised = np.full(len(every), np.nan) if lost else 1 + 0.4 * every / 100 + 0.01 * seed
    loss = np.full(len(offsets), np.nan) if lost else 0.5 / (1 + offsets / 20)
    return [
        rows(
            "self_stabilization",
            "flow",
            0.5,
            seed,
            every,
            "sharpness_times_lr_over_2",
            normalised,
            edge_step=9 + seed,
        ),
        rows(
            "self_stabilization",
            "flow",
            0.5,
            seed,
            every,
            "lambda2",
            normalised * 3,
            edge_step=9 + seed,
        ),
        rows(
            "self_stabilization",
            "flow",
            0.5,
            seed,
            offsets,
            "loss_half_mse",
            loss,
            edge_step=9 + seed,
        ),
        rows(
            "self_stabilization",
            "flow",
            0.5,
            seed,
            100,
            "diverged",
            float(lost),
            edge_step=9 + seed,
        ),
    ]


def gd_table(
    edge_level=1.04,
    edge_peak_reached=True,
    control_rise=2.0,
    small_flattens=False,
    seeds_short_of_horizon=0,
    diverged_seeds=0,
    flow_hovers=False,
):
    """GD at η = 0.4 (edge) and 0.1 (control), 3 seeds, 400 steps, S every 25 steps; the first
    `seeds_short_of_horizon` seeds did not run the horizon rule's steps past the crossing, the first
    `diverged_seeds` of η = 0.4 diverged at step 260. Gradient flow from the edge beside them (E2's
    control), or with `flow_hovers` a "flow" that hovers at the edge like GD."""
    frames, checkpoints = [], np.arange(0, 401, 25)
    for seed in range(3):
        jitter = 0.01 * seed
        top = 1.0 if edge_peak_reached else 0.7
        rising = np.minimum(0.5 + checkpoints / 200 * (top - 0.5), top)
        hover = edge_level + 0.02 * np.where((checkpoints // 25) % 2 == 0, 1, -1) + jitter
        normalised = np.where(checkpoints <= 200, rising, hover if edge_peak_reached else top)
        steps = np.arange(401)
        loss = 1.0 / (1 + steps / 50) * (1 + 0.05 * (steps % 3 == 0) * (steps > 200))
        diverged = seed < diverged_seeds
        if diverged:
            normalised = np.where(checkpoints > 260, np.nan, normalised)
            loss = np.where(steps > 260, np.nan, loss)
        frames += [
            rows("cohen_gd", "gd", 0.4, seed, checkpoints, "sharpness_times_lr_over_2", normalised),
            rows("cohen_gd", "gd", 0.4, seed, checkpoints, "sharpness", normalised * 2 / 0.4),
            rows("cohen_gd", "gd", 0.4, seed, checkpoints, "lambda2", normalised * 2 / 0.4 * 0.98),
            rows("cohen_gd", "gd", 0.4, seed, steps, "loss_half_mse", loss),
            rows("cohen_gd", "gd", 0.4, seed, 400, "steps_after_crossing", 200),
            rows("cohen_gd", "gd", 0.4, seed, 400, "diverged", float(diverged)),
            rows(
                "cohen_gd",
                "gd",
                0.4,
                seed,
                400,
                "horizon_met",
                float(seed >= seeds_short_of_horizon),
            ),
        ]
        control = 2.4 * (1 + (control_rise - 1) * checkpoints / 400) + jitter
        if small_flattens:  # the small step's S stops rising at mid-run and drifts down a little
            control = np.where(checkpoints < 200, control, control[8] - 0.001 * checkpoints)
        frames += [
            rows("cohen_gd", "gd", 0.1, seed, checkpoints, "sharpness", control),
            rows(
                "cohen_gd",
                "gd",
                0.1,
                seed,
                checkpoints,
                "sharpness_times_lr_over_2",
                control * 0.1 / 2,
            ),
            rows("cohen_gd", "gd", 0.1, seed, checkpoints, "lambda2", control / 2),
            rows("cohen_gd", "gd", 0.1, seed, steps, "loss_half_mse", 1.0 / (1 + steps / 200)),
            rows("cohen_gd", "gd", 0.1, seed, 400, "steps_after_crossing", np.nan),
            rows("cohen_gd", "gd", 0.1, seed, 400, "horizon_met", 0.0),
            rows("cohen_gd", "gd", 0.1, seed, 400, "diverged", 0.0),
        ]
        if flow_hovers:  # GD's own post-crossing rows relabelled as a flow from the edge
            after = checkpoints[checkpoints >= 200] - 200
            frames += [
                rows(
                    "self_stabilization",
                    "flow",
                    0.4,
                    seed,
                    after,
                    "sharpness_times_lr_over_2",
                    normalised[checkpoints >= 200],
                    edge_step=200,
                ),
                rows(
                    "self_stabilization",
                    "flow",
                    0.4,
                    seed,
                    after,
                    "lambda2",
                    normalised[checkpoints >= 200],
                    edge_step=200,
                ),
                rows(
                    "self_stabilization",
                    "flow",
                    0.4,
                    seed,
                    steps[200:] - 200,
                    "loss_half_mse",
                    loss[200:],
                    edge_step=200,
                ),
                rows("self_stabilization", "flow", 0.4, seed, 200, "diverged", 0.0, edge_step=200),
            ]
        else:
            frames += flow_rows(seed)
    return pd.concat(frames, ignore_index=True)


def test_progressive_sharpening_holds_fails_and_counts_diverged_runs():
    holds = judged("progressive_sharpening", gd_table())
    assert holds.verdict == REPRODUCED and holds.control.verdict == NOT_REPRODUCED
    assert judged("progressive_sharpening", gd_table(edge_peak_reached=False)).verdict == (
        NOT_REPRODUCED
    )
    assert judged("progressive_sharpening", gd_table(control_rise=1.1)).verdict == NOT_REPRODUCED
    # the small step must still be rising over the second half of its run (Cohen et al. §3)
    flat = judged("progressive_sharpening", gd_table(control_rise=3.0, small_flattens=True))
    assert flat.verdict == NOT_REPRODUCED
    assert [p.p_holds for p in flat.decision.parts if "still rising" in p.name] == [0.0]
    # a diverged run has no peak and fails: with one of three seeds lost the median holds where
    # the lost seed is drawn at most once (20/27 of resamples), with two lost 7/27, all lost never
    one = judged("progressive_sharpening", gd_table(diverged_seeds=1))
    assert one.verdict == INCONCLUSIVE and one.decision.p_holds == pytest.approx(20 / 27, abs=0.03)
    assert one.survivors.verdict == REPRODUCED
    two = judged("progressive_sharpening", gd_table(diverged_seeds=2))
    assert two.decision.p_holds == pytest.approx(7 / 27, abs=0.03)
    assert judged("progressive_sharpening", gd_table(diverged_seeds=3)).verdict == NOT_REPRODUCED


def test_progressive_sharpening_control_reverses_each_run_in_time():
    """Reversed, an edge run starts at the edge and the small step's S shrinks (×1/2 here)."""
    control = judged("progressive_sharpening", gd_table()).control
    by_name = {p.name: p for p in control.parts}
    assert (
        by_name[
            "η = 0.1, reversed: ρ(step, S) over the second half below the edge (still rising)"
        ].statistic
        == -1.0
    )
    assert by_name["η = 0.1, reversed: final / initial S (sharpens)"].statistic == (
        pytest.approx(1 / 2.0, rel=0.01)
    )
    assert by_name["η = 0.4, reversed: S·η/2 at the start (below the edge)"].p_holds == 0.0


def test_edge_of_stability_holds_fails_and_counts_seeds_short_of_the_horizon():
    holds = judged("edge_of_stability", gd_table())
    assert holds.verdict == REPRODUCED and holds.control.verdict == NOT_REPRODUCED
    median = holds.decision.parts[0]
    assert median.name.startswith("GD η = 0.4: median") and 1.02 < median.statistic < 1.06
    assert judged("edge_of_stability", gd_table(edge_level=1.4)).verdict == NOT_REPRODUCED
    # the band from the rule: at least √1.03 = 1.015 ("just above"), at most 1.10
    assert judged("edge_of_stability", gd_table(edge_level=1.0)).verdict == NOT_REPRODUCED
    assert judged("edge_of_stability", gd_table(edge_level=1.12)).verdict == NOT_REPRODUCED
    # a seed short of the horizon rule cannot be judged "over long horizons": it fails
    one = judged("edge_of_stability", gd_table(seeds_short_of_horizon=1))
    assert one.verdict == INCONCLUSIVE and one.decision.parts[0].lost == 1
    assert judged("edge_of_stability", gd_table(seeds_short_of_horizon=3)).verdict == (
        NOT_REPRODUCED
    )
    assert judged("edge_of_stability", gd_table(diverged_seeds=3)).verdict == NOT_REPRODUCED


def test_edge_of_stability_control_fails_only_where_the_flow_does_not_hover():
    """The control is GD's contrast, gradient flow; a 'flow' that hovered like GD would make the
    claim unfalsifiable."""
    evidence = STUDY.module("checks").CHECKS["edge_of_stability"](
        gd_table(), tolerance("edge_of_stability")
    )
    assert any("λ2·η/2" in key for row in evidence.rows for key in row)
    hovering = judged("edge_of_stability", gd_table(flow_hovers=True))
    assert hovering.control.verdict == REPRODUCED and hovering.verdict == UNFALSIFIABLE


def self_stabilization_table(
    prediction_error=0.004,
    quadratic_error=1.0,
    dagger_distance=0.08,
    toy_ratio=1.01,
    flow_distance_at_edge=0.0,
    lost_seeds=0,
    tracked=100,
):
    """Toy means, and the tracking from an edge that each seed meets at its own step (7, 15, 23),
    so that a check reading `step` for steps since the edge would go wrong: per step since the
    edge, GD's distance to θ† (rising to `dagger_distance`), to θ† + v and to θ† + w (those
    fractions of θ†'s: `prediction_error`, `quadratic_error`) and to the flow (to 0.4); θ†
    tracked to step `tracked` (NaN after); the first `lost_seeds` seeds never reached the edge."""
    frames, offsets = [], np.arange(0, 101)
    for seed in range(3):
        lost = seed < lost_seeds

        def toy(metric, value, seed=seed):
            return rows("toy_cubic", "gd", 0.1, seed, 40000, metric, value)

        def from_edge(method, at, metric, values, seed=seed, lost=lost):
            values = np.broadcast_to(np.asarray(values, dtype=np.float64), np.shape(at))
            values = np.where(lost, np.nan, values)
            return rows(
                "self_stabilization", method, 0.5, seed, at, metric, values, edge_step=7 + 8 * seed
            )

        to_dagger = dagger_distance * offsets / 100 + 0.001 * seed
        to_dagger = np.where(offsets <= tracked, to_dagger, np.nan)
        to_flow = 0.4 * offsets / 100
        to_flow[0] = flow_distance_at_edge
        frames += [
            toy("x_squared_mean_after_edge", 0.1 * toy_ratio + 0.001 * seed),
            toy("predicted_x_squared", 0.1),
            toy("sharpness_times_lr_over_2_mean_after_edge", 0.986),
            toy("diverged", 0.0),
            from_edge("constrained", offsets, "distance_to_gd", to_dagger),
            from_edge("predicted", offsets, "distance_to_gd", prediction_error * to_dagger),
            from_edge("quadratic", offsets, "distance_to_gd", quadratic_error * to_dagger),
            from_edge("flow", offsets, "distance_to_gd", to_flow),
            from_edge("constrained", offsets, "sharpness_times_lr_over_2", 1.0),
            from_edge("constrained", 100, "tracked_steps", float(tracked)),
            from_edge("gd", offsets[::10], "sharpness_times_lr_over_2", 1.02),
            from_edge("flow", offsets[::10], "sharpness_times_lr_over_2", 1 + offsets[::10] / 250),
            from_edge("gd", 0, "lambda2_over_lambda1_at_edge", 0.6),
            rows(
                "self_stabilization", "gd", 0.5, seed, 100, "diverged", 0.0, edge_step=7 + 8 * seed
            ),
        ]
    return pd.concat(frames, ignore_index=True)


def test_self_stabilization_holds_fails_and_counts_lost_seeds():
    holds = judged("self_stabilization", self_stabilization_table())
    assert holds.verdict == REPRODUCED and holds.control.verdict == NOT_REPRODUCED
    prediction = holds.decision.parts[0]
    assert "θ† + v" in prediction.name and prediction.statistic == pytest.approx(0.004)
    # the prediction no closer to GD than θ† itself, or θ† no closer than half the flow's distance
    assert judged("self_stabilization", self_stabilization_table(prediction_error=0.8)).verdict == (
        NOT_REPRODUCED
    )
    assert judged("self_stabilization", self_stabilization_table(dagger_distance=0.5)).verdict == (
        NOT_REPRODUCED
    )
    one = judged("self_stabilization", self_stabilization_table(lost_seeds=1))
    assert one.verdict == INCONCLUSIVE and one.survivors.verdict == REPRODUCED
    assert judged("self_stabilization", self_stabilization_table(lost_seeds=3)).verdict == (
        NOT_REPRODUCED
    )


def test_self_stabilization_control_is_the_second_order_prediction():
    """A second-order twin that tracked GD as well as the cubic prediction would leave nothing
    self-stabilization explains: the claim is then unfalsifiable."""
    as_good = judged("self_stabilization", self_stabilization_table(quadratic_error=0.004))
    assert as_good.control.verdict == REPRODUCED and as_good.verdict == UNFALSIFIABLE


def test_self_stabilization_judges_only_tracked_steps_and_shows_the_toy():
    """Medians run over the steps θ† was tracked (the flow's distance after the λ2 stop does not
    enter θ†'s ratio); the toy's mean x² / δ² is shown and moves no verdict (it holds for any
    bounded stationary run)."""
    check = STUDY.module("checks").CHECKS["self_stabilization"]
    short = check(self_stabilization_table(tracked=50), tolerance("self_stabilization"))
    # steps 1 … 50: θ† 0.02 + 0.001·seed (median of 0.0008·k), the flow 0.102 (median of 0.004·k)
    assert short.parts[1].values == pytest.approx((0.0204 + np.arange(3) * 0.001) / 0.102)
    far = judged("self_stabilization", self_stabilization_table(toy_ratio=1.5))
    assert far.verdict == REPRODUCED and not any("x²" in p.name for p in far.decision.parts)
    evidence = check(self_stabilization_table(toy_ratio=1.5), tolerance("self_stabilization"))
    assert evidence.numbers["toy_x_squared_over_predicted_median"] == pytest.approx(1.51)


def test_self_stabilization_distances_count_steps_since_the_edge_only():
    """The edge itself (steps_since_edge 0) is the common start of every trajectory: a distance
    recorded there does not enter the medians, whatever step from initialisation the edge was."""
    check = STUDY.module("checks").CHECKS["self_stabilization"]
    plain = check(self_stabilization_table(), tolerance("self_stabilization"))
    moved = check(
        self_stabilization_table(flow_distance_at_edge=1000.0), tolerance("self_stabilization")
    )
    assert [p.values.tolist() for p in plain.parts] == [p.values.tolist() for p in moved.parts]
    # medians over steps 1 … 100 since the edge: θ† 0.0404 + 0.001·seed, the flow 0.202
    assert plain.parts[1].values == pytest.approx((0.0404 + np.arange(3) * 0.001) / 0.202)


def trace_table(
    largest_trace_times_lr_over_2=0.58,
    gd_sharpness=0.999,
    converged_share=1.0,
    rising=False,
    sgd_diverges_at_top=False,
    gd_trace_at_sgd_lr=3.0,
):
    """8 batch orders (seeds) of SGD, each at 4 step sizes; tr(H) falls with η (or rises, with
    `rising`); only the first `converged_share` of the seeds converged at any η, and with
    `sgd_diverges_at_top` none at the largest η; deterministic GD at SGD's two largest η (tr(H) =
    `gd_trace_at_sgd_lr`) and at its edge η = 2."""
    frames, lrs = [], [0.1, 0.2, 0.4, 0.8]
    for index, lr in enumerate(lrs):
        trace = 2.9 - 0.1 * index if not rising else 2.9 + 0.1 * index
        target = largest_trace_times_lr_over_2 if lr == 0.8 else trace * lr / 2
        for seed in range(8):
            value = target * (1 + 0.01 * (seed - 4))
            converged = float(
                seed < 8 * converged_share and not (sgd_diverges_at_top and lr == 0.8)
            )

            def sgd(metric, value, lr=lr, seed=seed):
                return rows("diagonal_net", "sgd", lr, seed, 20000, metric, value, batch_size=1)

            frames += [
                sgd("converged", converged),
                sgd("trace_times_lr_over_2", value),
                sgd("trace_hessian", value * 2 / lr),
            ]
    for lr, trace, sharpness in (
        (0.4, gd_trace_at_sgd_lr, 0.5),
        (0.8, gd_trace_at_sgd_lr, 0.8),
        (2.0, 3.3, gd_sharpness),
    ):
        frames += [
            rows("diagonal_net", "gd", lr, 0, 20000, "converged", 1.0),
            rows("diagonal_net", "gd", lr, 0, 20000, "sharpness_times_lr_over_2", sharpness),
            rows("diagonal_net", "gd", lr, 0, 20000, "trace_times_lr_over_2", trace * lr / 2),
            rows("diagonal_net", "gd", lr, 0, 20000, "lambda2", 0.7),
        ]
    return pd.concat(frames, ignore_index=True)


def test_sgd_trace_bound_holds_and_fails():
    holds = judged("sgd_trace_bound", trace_table())
    assert holds.verdict == REPRODUCED and holds.control.verdict == NOT_REPRODUCED
    assert [p.deterministic for p in holds.control.parts] == [True]
    largest = holds.decision.parts[0]
    assert largest.statistic == pytest.approx(0.58, rel=0.01) and largest.seeds == 8
    assert judged("sgd_trace_bound", trace_table(largest_trace_times_lr_over_2=1.3)).verdict == (
        NOT_REPRODUCED
    )
    assert judged("sgd_trace_bound", trace_table(gd_sharpness=0.7)).verdict == NOT_REPRODUCED
    assert judged("sgd_trace_bound", trace_table(rising=True)).verdict == NOT_REPRODUCED


def test_sgd_trace_bound_judges_each_seed_where_it_converged():
    """A run past SGD's divergence is no minimum: the bound is judged on each seed's converged runs;
    a seed that converged nowhere fails."""
    diverging = judged("sgd_trace_bound", trace_table(sgd_diverges_at_top=True))
    assert diverging.verdict == REPRODUCED
    assert diverging.decision.parts[0].statistic == pytest.approx(2.7 * 0.4 / 2, rel=0.01)
    few = judged("sgd_trace_bound", trace_table(converged_share=0.25))
    assert few.verdict == NOT_REPRODUCED and few.decision.parts[0].lost == 6


def test_sgd_trace_bound_control_needs_gd_above_the_bound():
    """GD at SGD's η with tr(H) ≤ 2/η there would leave the bound untested: unfalsifiable."""
    flat = judged("sgd_trace_bound", trace_table(gd_trace_at_sgd_lr=2.0))
    assert flat.control.verdict == REPRODUCED and flat.verdict == UNFALSIFIABLE


# --- a tiny run through the Study API ------------------------------------------------------------


def run_tiny():
    config = parse(TINY)
    data = STUDY.module("data").generate(config)
    runs, frames = {}, {}
    for name in STUDY.variant_names(config):
        runs[name] = (
            STUDY.module("training")
            .train(config, name, data, probe=None, execution=Execution(), reads={})
            .arrays
        )
        references = {r: runs[r] for r in STUDY.measure_reads(config, name)}
        frames[name] = STUDY.module("measurement").measure(
            config, name, data, runs[name], reads=references
        )
    return config, frames


@pytest.fixture(scope="module")
def tiny():
    return run_tiny()


def test_tiny_run_records_divergence_as_data(tiny):
    _, frames = tiny
    diverged = frames["gd_lr1e6"].query("metric == 'diverged'")["value"]
    assert diverged.tolist() == [1.0, 1.0]
    assert frames["gd_lr0p1"].query("metric == 'diverged'")["value"].tolist() == [0.0, 0.0]


def test_tiny_run_measures_every_claim_quantity(tiny):
    _, frames = tiny
    table = pd.concat([f.assign(variant=name) for name, f in frames.items()], ignore_index=True)
    for experiment, method, metric in [
        ("cohen_gd", "gd", "sharpness"),
        ("cohen_gd", "gd", "lambda2"),
        ("self_stabilization", "gd", "sharpness_times_lr_over_2"),
        ("self_stabilization", "constrained", "distance_to_gd"),
        ("self_stabilization", "predicted", "distance_to_gd"),
        ("self_stabilization", "quadratic", "x_along_top_eigenvector"),
        ("self_stabilization", "flow", "distance_to_gd"),
        ("self_stabilization", "flow", "sharpness_times_lr_over_2"),
        ("toy_cubic", "gd", "x_squared_mean_after_edge"),
        ("diagonal_net", "sgd", "trace_hessian"),
        ("diagonal_net", "gd", "sharpness"),
    ]:
        selected = (
            (table["experiment"] == experiment)
            & (table["method"] == method)
            & (table["metric"] == metric)
        )
        assert table.loc[selected, "value"].notna().any(), (experiment, method, metric)
    control = table[(table["variant"] == "gd_lr0p1")]
    sharp = control[control["metric"] == "sharpness"]["value"]
    second = control[control["metric"] == "lambda2"]["value"]
    assert (sharp.to_numpy() >= second.to_numpy()).all()


def test_tiny_run_steps_and_seeds_mean_one_thing_and_settings_are_columns(tiny):
    """`step` is the optimisation step from initialisation the measured parameters come from, `seed`
    the seed; η, the SGD batch size and the steps since the edge are columns, never in a metric."""
    config, frames = tiny
    frame, tracking = frames["selfstab_tracking"], config.variants["selfstab_tracking"]
    edges = frame[frame.metric == "edge_step"].set_index("seed")["value"].astype(int)
    assert (edges > 0).all() and frame.steps_since_edge.notna().all()
    assert (frame.step == frame.seed.map(edges) + frame.steps_since_edge).all()
    at_edge = ["edge_step", "edge_reached", "lambda2_over_lambda1_at_edge"]
    assert (frame[frame.metric.isin(at_edge)].steps_since_edge == 0).all()
    run_summaries = frame[frame.metric.isin(["diverged", "tracked_steps"])]
    assert (run_summaries.steps_since_edge == tracking.track_steps).all()
    assert set(frame.method) == {"gd", "constrained", "predicted", "quadratic", "flow"}
    distances = frame[frame.metric == "distance_to_gd"]
    assert (distances.groupby("method").steps_since_edge.max() == tracking.track_steps).all()
    cohen = frames["gd_lr0p3"]
    summaries = cohen[
        cohen.metric.isin(["crossing_step", "steps_after_crossing", "horizon_met", "diverged"])
    ]
    assert len(summaries) == 4 * len(config.cohen_gd.seeds)
    assert (summaries.step == config.variants["gd_lr0p3"].steps).all()
    toy, window = frames["toy_cubic"], config.toy_cubic.window
    steps = config.variants["toy_cubic"].steps
    window_means = toy[toy.metric == "x_squared_window_mean"]
    assert sorted(window_means.step.unique()) == list(range(window - 1, steps, window))
    assert (toy[toy.metric == "edge_step"].step == steps).all()
    sgd, variant = frames["sgd_batch1"], config.variants["sgd_batch1"]
    runs = sgd[sgd.metric == "converged"]
    assert sorted(runs.seed.unique()) == [config.first_seed + k for k in range(variant.seeds)]
    assert runs.groupby("lr").seed.nunique().to_dict() == dict.fromkeys(variant.lrs, variant.seeds)
    assert (sgd.method == "sgd").all() and (sgd.batch_size == variant.batch).all()
    for name in ("gd_diagonal", "gd_lr0p1", "toy_cubic", "selfstab_tracking"):
        assert frames[name].batch_size.isna().all(), name
    for name in ("gd_diagonal", "gd_lr0p1", "toy_cubic"):
        assert frames[name].steps_since_edge.isna().all(), name
    metrics = {metric for frame in frames.values() for metric in frame.metric}
    assert not any(word in m for m in metrics for word in ("sgd", "batch", "lr0", "seed"))


def test_tiny_run_is_bit_identical_when_repeated(tiny):
    _, frames = tiny
    _, again = run_tiny()
    for name in frames:
        pd.testing.assert_frame_equal(frames[name], again[name], check_exact=True)


def test_checks_and_figures_run_on_the_tiny_table(tiny):
    config, frames = tiny
    table = pd.concat(
        [f.assign(study=STUDY.name, variant=name) for name, f in frames.items()], ignore_index=True
    )
    claims = yaml.safe_load((ROOT / "claims.yaml").read_text())["edge_of_stability"]
    for claim_id, entry in claims.items():
        own = table[table["variant"].isin(entry["variants"])]
        judgement = judged(entry["check"], own)
        assert judgement.control.verdict == NOT_REPRODUCED, (claim_id, judgement.control)
    assert set(STUDY.module("figures").figures(config, table)) == {
        "progressive_sharpening",
        "sharpness_over_edge",
        "self_stabilization",
        "toy_cubic",
        "sgd_trace",
    }
    assert "½" in STUDY.module("describe").describe(config, ["gd_lr0p1"], None)
    assert "θ† + v" in STUDY.module("describe").describe(config, ["selfstab_tracking"], None)
