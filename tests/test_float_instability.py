"""Study float_instability: params validation, the precondition (unperturbed copies bitwise identical),
bit-identical reruns, known answers of the one-layer model, and each claim check on synthetic tables
where it must pass and where it must fail."""

import copy
import math
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from params_profile import edited

from stages.common.decision import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, UNFALSIFIABLE, judge
from stages.common.params import ParamError, Section
from stages.profile import merge
from stages.studies.float_instability import STUDY
from stages.studies.float_instability.board import CheckerboardModel
from stages.studies.float_instability.cnn import (
    ACTIVATIONS,
    LockstepCopies,
    shifted,
    single_network,
    train_copies,
)
from stages.studies.float_instability.config import (
    BoardSetup,
    BoardSize,
    BoardVariant,
    CNNSetup,
    CNNVariant,
)
from stages.studies.float_instability.copy_divergence import (
    bitwise_identical,
    relative_weight_difference,
)
from stages.studies.float_instability.data import checkerboard, generate

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["float_instability"]
TOLERANCES = {
    entry["check"]: Section(entry["tolerance"], entry["check"])
    for entry in yaml.safe_load((ROOT / "claims.yaml").read_text())["float_instability"].values()
}


def variant_group(name: str) -> str:
    """The experiment whose group of params.yaml's variants holds `name`."""
    (group,) = [group for group, variants in PARAMS["variants"].items() if name in variants]
    return group


def config_with(variants=None, **setup_overrides):
    params = copy.deepcopy(PARAMS)
    for name, values in (variants or {}).items():
        params["variants"][variant_group(name)][name].update(values)
    for experiment, values in setup_overrides.items():
        params["setup"][experiment].update(values)
    return STUDY.parse(Section(params, "float_instability"))


TINY = config_with(
    cnn={"channels": [2, 4], "epochs": 2, "lr_decay_at": [0.5], "average_epochs": 1},
    variants={"board_small": {"weight_decays": [1.0], "lr_fractions_of_bound": [0.3, 3.0]}},
    board={
        "sizes": {
            **PARAMS["setup"]["board"]["sizes"],
            "small": {
                **PARAMS["setup"]["board"]["sizes"]["small"],
                **{"image_side": 16, "kernel_side": 4, "steps": 40, "checkpoint_every": 10},
            },
        }
    },
)


@pytest.fixture(scope="module")
def data():
    return generate(TINY)


def test_default_params_parse():
    config = STUDY.parse(Section(PARAMS, "float_instability"))
    small = config.variants["board_small"]
    assert small.runs[7] == (0.5, pytest.approx(1.05 * 2 / 0.5)) and len(small.runs) == 24
    paper = config.board.sizes[config.variants["board_paper"].size]
    assert (paper.image_side, paper.square_side, paper.kernel_side) == (256, 1, 32)
    assert paper.convolution == "valid" and paper.steps == 1000
    assert [lr for _, lr in config.variants["board_paper"].runs] == pytest.approx(
        [0.01, 0.03, 0.05, 0.07, 0.09, 0.1, 0.11, 0.13]  # scripts/oscillation_plot.py
    )


@pytest.mark.parametrize(
    "path, value, key",
    [
        (("variants", "cnn", "cnn_relu", "perturbations"), [3, 4], "perturbations"),
        (("variants", "cnn", "cnn_relu", "perturbations"), [1, 3], "perturbations"),
        (("variants", "cnn", "cnn_relu", "activation"), "silu", "activation"),
        (("variants", "board", "board_small", "weight_decays"), [-1.0], "weight_decays"),
        (("variants", "board", "board_small", "size"), "huge", "size"),
        (
            ("variants", "board", "board_small", "lr_fractions_of_bound"),
            [0.5, 0.3],
            "lr_fractions_of_bound",
        ),
        (("setup", "cnn", "average_epochs"), 99, "average_epochs"),
        (("setup", "cnn", "lr_decay_at"), [0.2, 1.2], "lr_decay_at"),
        (("setup", "cnn", "lr_decay_at"), [0.2, 0.21], "lr_decay_at"),  # the same epoch twice
        (("setup", "board", "sizes", "small", "kernel_side"), 65, "kernel_side"),
        (("setup", "board", "sizes", "small", "image_side"), 66, "image_side"),  # not 4-periodic
        (("setup", "board", "sizes", "paper", "convolution"), "same", "convolution"),
        (("setup", "board", "perturbation"), 2, "perturbation"),
        (("variants", "cnn", "cnn_relu", "optimizer"), "adam", "optimizer"),
    ],
)
def test_bad_params_name_key_and_value(path, value, key):
    params = copy.deepcopy(PARAMS)
    node = params
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ParamError) as error:
        STUDY.parse(Section(params, "float_instability"))
    found = error.value.value
    assert key in error.value.key and (
        found == value or (isinstance(value, list) and found in value)
    )


def refusal(path: str, value) -> ParamError:
    """The ParamError of params with the dotted `path` (under float_instability) set to `value`."""
    with pytest.raises(ParamError) as error:
        STUDY.parse(Section(edited(PARAMS, path, value), "float_instability"))
    assert "\n" not in str(error.value)  # one line: key, value, what is allowed
    return error.value


@pytest.mark.parametrize(
    "path, value",
    [
        ("variants.cnn.cnn_relu.weight_decays", [0.5]),  # a board variant's field
        ("variants.cnn.cnn_relu.lr_fractions_of_bound", [0.5]),
        ("variants.board.board_small.activation", "relu"),  # a CNN variant's field
        ("variants.board.board_small.seeds", 3),
        ("variants.cnn.cnn_relu.experiment", "cnn"),  # the group says the experiment
    ],
)
def test_a_variant_refuses_a_field_of_another_kind(path, value):
    error = refusal(path, value)
    assert error.key == f"float_instability.{path}" and error.value == value
    assert "a known key here" in error.allowed


def test_variants_are_grouped_by_experiment_and_named_once():
    error = refusal("variants.mlp", {"mlp_relu": {"activation": "relu"}})
    assert error.key == "float_instability.variants.mlp" and "cnn, board" in error.allowed
    error = refusal(
        "variants.board.cnn_relu",
        {"size": "small", "weight_decays": [1.0], "lr_fractions_of_bound": [1]},
    )
    assert error.key == "float_instability.variants.board.cnn_relu"
    assert "variants.cnn has it" in error.allowed
    error = refusal("variants.board", None)
    assert error.key == "float_instability.variants.board" and error.value == "<missing>"


def test_each_kind_of_variant_holds_only_its_own_fields_and_no_defaults():
    config = STUDY.parse(Section(PARAMS, "float_instability"))
    kinds = {type(v) for v in config.variants.values()}
    assert kinds == {CNNVariant, BoardVariant}
    assert [f.name for f in fields(CNNVariant)] == ["name", "activation", "seeds", "perturbations"]
    assert [f.name for f in fields(BoardVariant)] == [
        "name",
        "size",
        "weight_decays",
        "lr_fractions_of_bound",
    ]
    for kind in (CNNVariant, BoardVariant, CNNSetup, BoardSetup, BoardSize):
        assert all(f.default is MISSING for f in fields(kind)), kind
    relu = config.variants["cnn_relu"]
    assert relu.copies == (
        ("baseline", 1),
        ("twin", 1),
        *(("perturbed", k) for k in (3, 5, 7, 9, 11)),
    )
    assert (relu.pooling, config.variants["cnn_swish"].pooling) == ("max", "avg")


@pytest.mark.parametrize("activation", ["relu", "swish5"])
def test_unperturbed_twin_is_bitwise_identical_and_perturbed_copy_is_not(data, activation):
    result = train_copies(TINY.cnn, activation, [1, 1, 3], seed=0, data=data)
    assert bitwise_identical(result.weights[0], result.weights[1])
    assert not bitwise_identical(result.weights[0], result.weights[2])
    assert 0 < relative_weight_difference(result.weights[0], result.weights[2]) < 1e-2


def test_copies_side_by_side_start_as_one_network_and_swish_is_x_sigmoid_5x():
    model = LockstepCopies((2, 4), "swish5", seed=3, copies=3)
    weights = model.flat_weights()
    assert (weights == weights[0]).all()  # every copy starts from the same initialisation
    single = single_network((2, 4), seed=3)
    assert torch.equal(model.conv1_weight[:2], single[0].weight)
    assert torch.equal(model.linear_weight[2], single[2].weight)
    x = torch.linspace(-2, 2, 9)
    assert torch.allclose(ACTIVATIONS["swish5"](x), x / (1 + torch.exp(-5 * x)))


def test_shift_augmentation_known_answer():
    images = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 1, 8, 8)
    moved = shifted(images, np.array([[1, 0], [0, -1]]), 1)
    assert torch.equal(moved[0, 0, :7], images[0, 0, 1:]) and (moved[0, 0, 7] == 0).all()
    assert torch.equal(moved[1, 0, :, 1:], images[1, 0, :, :7]) and (moved[1, 0, :, 0] == 0).all()


def test_training_reruns_are_bit_identical(data):
    first = STUDY.module("training").train(
        TINY, "board_small", data, probe=None, execution=None, reads={}
    )
    second = STUDY.module("training").train(
        TINY, "board_small", data, probe=None, execution=None, reads={}
    )
    for name in first.arrays:
        assert bitwise_identical(first.arrays[name], second.arrays[name]), name
    runs = (
        train_copies(TINY.cnn, "swish5", [1, 3], seed=1, data=data),
        train_copies(TINY.cnn, "swish5", [1, 3], 1, data),
    )
    assert bitwise_identical(runs[0].weights, runs[1].weights)


def size(n, s, m, convolution, steps=10, every=5, initial="scaled_normal") -> BoardSize:
    return BoardSize(n, s, m, convolution, initial, steps, every)


def convolution_loss(image: np.ndarray, m: int, convolution: str, alpha: float):
    """The model's loss by a full convolution: torch's valid cross-correlation, or circular
    convolution by FFT (the study's implementation before issue 15)."""
    n, tensor = image.shape[0], torch.as_tensor(image)

    def loss(flat: torch.Tensor) -> torch.Tensor:
        kernel = flat.reshape(m, m)
        if convolution == "valid":
            responses = torch.nn.functional.conv2d(tensor[None, None], kernel[None, None])
        else:
            padded = torch.nn.functional.pad(kernel, (0, n - m, 0, n - m))
            spectrum = torch.fft.rfft2(tensor) * torch.fft.rfft2(padded)
            responses = torch.fft.irfft2(spectrum, s=(n, n))
        z = torch.nn.functional.silu(responses).mean()
        return torch.nn.functional.softplus(-z) + 0.5 * alpha * flat.square().sum()

    return loss


@pytest.mark.parametrize(
    "n, s, m, convolution",
    [(16, 2, 4, "circular"), (12, 1, 3, "circular"), (17, 1, 5, "valid"), (20, 2, 6, "valid")],
)
def test_the_window_model_is_the_convolution_model(n, s, m, convolution):
    """Loss, gradient and the Hessian's extreme eigenvalues from the distinct windows equal the
    full convolution's (autograd, dense Hessian) on random kernels."""
    image, alpha = checkerboard(n, s), 0.7
    model = CheckerboardModel(image, size(n, s, m, convolution), alpha)
    reference = convolution_loss(image, m, convolution, alpha)
    for seed in range(3):
        kernel = torch.randn(
            m * m, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
        )
        responses = model.responses(kernel).numpy()
        assert model.loss_of(responses, float(kernel.square().sum())) == pytest.approx(
            float(reference(kernel)), abs=1e-14
        )
        leaf = kernel.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(reference(leaf), leaf)
        assert torch.allclose(model.gradient(kernel), gradient, atol=1e-14)
        eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(reference, kernel))
        lowest, highest = model.curvature(responses[None])
        assert lowest[0] == pytest.approx(float(eigenvalues[0]), abs=1e-12)
        assert highest[0] == pytest.approx(float(eigenvalues[-1]), abs=1e-12)


def test_alpha_min_known_answers():
    """1-pixel squares: every window is ± one pattern c with ‖c‖² = m², so the data term's Hessian
    at 0 is −¼·c cᵀ (mean window ~0): α_min = m²/4 — 256 for the paper's 32×32 kernel, and ¼·225²·32²
    = 1.3e7 (scripts/loss_plot.py's label) once the mean over positions becomes a sum."""
    paper = CheckerboardModel(checkerboard(256, 1), size(256, 1, 32, "valid"), 20.0)
    assert paper.rank == 1
    assert paper.alpha_min() == pytest.approx(256, rel=1e-4)
    assert paper.alpha_min() * 225**2 == pytest.approx(1.3e7, rel=0.01)
    small = CheckerboardModel(checkerboard(64, 2), size(64, 2, 8, "circular"), 1.0)
    assert small.alpha_min() == pytest.approx(4.0)


def test_checkerboard_the_public_kernel_and_the_weight_decay_only_bound():
    assert checkerboard(4, 1).tolist() == [[-1, 1, -1, 1], [1, -1, 1, -1]] * 2  # PySun.py's image
    assert checkerboard(4, 2)[:, 0].tolist() == [-1, -1, 1, 1]
    paper = CheckerboardModel(
        checkerboard(40, 1), size(40, 1, 8, "valid", initial="public_code"), 1.0
    )
    np.random.seed(7)  # single_layer/PySun.py, then Conv2D's np.random.randn(1, 1, k, k)
    assert paper.initial(0).numpy().tolist() == np.random.randn(1, 1, 8, 8).reshape(-1).tolist()
    zero = torch.zeros(4, dtype=torch.float64)
    board = CheckerboardModel(checkerboard(4, 1), size(4, 1, 2, "circular"), 1.0)
    assert board.loss_of(board.responses(zero).numpy(), 0.0) == pytest.approx(np.log(2))
    # α far above α_min: w = 0 is the minimum, and the 2/α bound decides whether a small start
    # decays (η < 2/α) or blows up (η > 2/α)
    strong = CheckerboardModel(
        checkerboard(8, 1), size(8, 1, 2, "circular", steps=400, every=400), 50.0
    )
    start = strong.initial(0)
    below = strong.descend(start, 0.9 * 2 / 50, 1, 1e6)
    above = strong.descend(start, 1.1 * 2 / 50, 1, 1e6)
    assert np.abs(below.kernels[-1]).max() < 1e-6 and not np.isfinite(above.kernels[-1]).all()
    assert np.isnan(above.responses[-1]).all() and np.isfinite(below.responses).all()


def test_measure_records_divergence_and_curvature_at_every_late_step(data):
    runs = (
        STUDY.module("training")
        .train(TINY, "board_small", data, probe=None, execution=None, reads={})
        .arrays
    )
    frame = STUDY.module("measurement").measure(TINY, "board_small", data, runs, reads={})
    diverged = frame[frame.metric == "diverged"].set_index("lr")["value"]
    assert diverged.loc[max(diverged.index)] == 1.0 and diverged.loc[min(diverged.index)] == 0.0
    assert set(frame.columns) == {"seed", "step", "metric", "value", *STUDY.setting_columns}
    assert set(frame["seed"]) == {TINY.first_seed}
    lrs = [lr for _, lr in TINY.variants["board_small"].runs]
    assert sorted(frame["lr"].dropna().unique()) == pytest.approx(sorted(lrs))
    copies = (
        frame.dropna(subset=["lr"])
        .groupby("metric")[["copy", "perturbation"]]
        .agg(lambda c: set(c))
        .to_dict("index")
    )
    assert (
        copies["loss"]
        == copies["sharpness_times_lr_over_2"]
        == copies["lowest_curvature_times_lr_over_2"]
        == {"copy": {"baseline"}, "perturbation": {1}}
    )
    k = TINY.board.perturbation
    assert copies["relative_weight_difference"] == {"copy": {"perturbed"}, "perturbation": {k}}
    steps = TINY.board.sizes["small"].steps
    assert sorted(frame[frame.metric == "loss"]["step"].unique()) == list(range(0, steps + 1, 10))
    stable = frame[(frame["lr"] == min(lrs)) & (frame.metric == "sharpness_times_lr_over_2")]
    assert stable["step"].tolist() == list(range(steps // 2, steps + 1))  # every late step
    high = frame[frame.metric == "sharpness_times_lr_over_2"].set_index(["lr", "step"])["value"]
    low = frame[frame.metric == "lowest_curvature_times_lr_over_2"].set_index(["lr", "step"])[
        "value"
    ]
    assert (low <= high).all()
    assert frame[frame.metric == "linear_pde_alpha_min"]["value"].tolist() == [pytest.approx(1.0)]


def test_cnn_rows_carry_the_seed_the_copy_and_optimisation_steps(data):
    config = config_with(
        cnn={"channels": [2, 4], "epochs": 2, "lr_decay_at": [0.5], "average_epochs": 1},
        variants={"cnn_swish": {"seeds": 3, "perturbations": [3]}},
    )
    runs = (
        STUDY.module("training")
        .train(config, "cnn_swish", data, probe=None, execution=None, reads={})
        .arrays
    )
    frame = STUDY.module("measurement").measure(config, "cnn_swish", data, runs, reads={})
    steps_per_epoch = math.ceil(len(data["train_labels"]) / config.cnn.batch)  # the last is short
    assert set(frame["seed"]) == {config.first_seed + s for s in range(3)}
    accuracy = frame[frame.metric == "test_accuracy_percent"]
    assert sorted(accuracy["step"].unique()) == [2 * steps_per_epoch]  # the last epoch only
    assert sorted(frame[frame.metric == "train_loss"]["step"].unique()) == [
        steps_per_epoch,
        2 * steps_per_epoch,
    ]
    assert set(zip(accuracy["copy"], accuracy["perturbation"], strict=True)) == {
        ("baseline", 1),
        ("twin", 1),
        ("perturbed", 3),
    }
    assert accuracy["value"].between(0, 100).all() and accuracy["value"].max() > 1  # percent
    twin = frame[frame.metric == "unperturbed_twin_identical"]
    assert list(twin["copy"]) == ["twin"] * 3 and set(twin["value"]) == {1.0}
    # the twin (F1's control) and the perturbed copy are each compared with the baseline
    difference = frame[frame.metric == "relative_weight_difference"]
    assert sorted(difference["copy"]) == ["perturbed"] * 3 + ["twin"] * 3
    assert set(difference[difference["copy"] == "twin"]["value"]) == {0.0}
    across = frame[frame.metric == "prediction_disagreement_across_seeds_percent"]
    assert list(across["copy"]) == ["baseline"] * 3
    predictions = runs["predictions"][:, 0]
    pair = 100 * np.mean(predictions[0] != predictions[1])
    other = 100 * np.mean(predictions[0] != predictions[2])
    first = across[across["seed"] == config.first_seed]["value"].item()
    assert first == pytest.approx((pair + other) / 2)
    assert set(frame["lr"]) == {config.cnn.lr} and set(frame["activation"]) == {"swish5"}
    assert frame["image_side"].isna().all()


def cnn_table(
    accuracy: np.ndarray,
    difference: float,
    twins: float = 1.0,
    lost=(),
    disagreement: float = 1.0,
    activation: str = "relu",
) -> pd.DataFrame:
    """A CNN table: per seed (rows of `accuracy`, percent) a baseline (column 0), its twin (the
    baseline's accuracy, difference and disagreement 0) and perturbed copies k = 3, 5, … (the other
    columns, disagreeing with the baseline on `disagreement` percent of test images, seeds on 2%);
    the seeds in `lost` have their last copy diverged."""
    rows = []
    for s in range(accuracy.shape[0]):
        copies = [("baseline", 1, accuracy[s, 0]), ("twin", 1, accuracy[s, 0])]
        copies += [("perturbed", 2 * c + 1, accuracy[s, c]) for c in range(1, accuracy.shape[1])]
        for copy_name, k, score in copies:
            run = dict(seed=s, copy=copy_name, perturbation=k)
            diverged = float(s in lost and copy_name == "perturbed" and k == copies[-1][1])
            rows.append(dict(run, metric="test_accuracy_last_epochs_mean_percent", value=score))
            rows.append(dict(run, metric="diverged", value=diverged))
            if copy_name == "baseline":
                across = dict(run, metric="prediction_disagreement_across_seeds_percent", value=2.0)
                rows.append(across)
                continue
            same = copy_name == "twin"
            rows.append(
                dict(run, metric="relative_weight_difference", value=0.0 if same else difference)
            )
            rows.append(
                dict(
                    run,
                    metric="prediction_disagreement_percent",
                    value=0.0 if same else disagreement,
                )
            )
            if same:
                rows.append(dict(run, metric="unperturbed_twin_identical", value=twins))
    frame = pd.DataFrame(rows)
    return frame.assign(
        experiment="cnn", activation=activation, step=360, lr=0.1, weight_decay=5e-4
    )


def spread_grid(perturbation_spread: float, seeds: int = 12) -> np.ndarray:
    """(seeds × 6 copies) test accuracies in percent: a seed effect of std 1 point plus a copy
    effect of the given std (0: every copy of a seed scores the same)."""
    generator = np.random.default_rng(0)
    seed_effect = generator.standard_normal((seeds, 1))
    return 95.0 + seed_effect + perturbation_spread * generator.standard_normal((seeds, 6))


def check_of(name: str):
    return STUDY.module("checks").CHECKS[name]


def two_networks(relu: pd.DataFrame, swish: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([relu, swish.assign(activation="swish5")], ignore_index=True)


def test_accuracy_spread_holds_fails_and_counts_diverged_seeds():
    check, tolerance = check_of("accuracy_spread"), TOLERANCES["accuracy_spread"]
    comparable = cnn_table(spread_grid(2.0), 0.3)
    held = judge(check(two_networks(comparable, comparable), tolerance))
    assert held.verdict == REPRODUCED and held.control.verdict == NOT_REPRODUCED
    assert len(held.decision.parts) == 8 and len(held.control.parts) == 6  # 4 and 3 per network
    frozen = cnn_table(spread_grid(0.0), 1e-6, disagreement=0.0)  # no spread across k
    assert judge(check(two_networks(comparable, frozen), tolerance)).verdict == NOT_REPRODUCED
    rare = cnn_table(spread_grid(2.0), 0.3, disagreement=0.2)  # copies disagree 10x less than seeds
    assert judge(check(two_networks(comparable, rare), tolerance)).verdict == NOT_REPRODUCED
    # a twin that is not bitwise identical: the setting was not reached, the claim not tested
    not_identical = judge(check(cnn_table(spread_grid(2.0), 0.3, twins=0.0), tolerance))
    assert not_identical.decision.verdict == INCONCLUSIVE
    assert not_identical.decision.p_premise == 0.0
    assert [p.premise for p in held.decision.parts].count(True) == 2  # one twin per network
    # half the seeds lose a perturbed copy: counted as failing, the claim cannot hold; on the
    # survivors alone it still does
    lost = judge(check(cnn_table(spread_grid(2.0), 0.3, lost=range(6)), tolerance))
    assert lost.decision.verdict == NOT_REPRODUCED and lost.survivors.verdict == REPRODUCED
    assert max(part.lost for part in lost.decision.parts) == 6


def board_table(
    late_differences: dict[float, float],
    sharpness_times_lr_over_2: dict[float, float] | float = 1.0,
    alpha: float = 1.0,
    alpha_min: float = 4.0,
    variant: str = "board_small",
) -> pd.DataFrame:
    """One board variant at one α: per η a difference trajectory ending at the given value (NaN:
    diverged), and S·η/2 (one value, or one per η, else 0.3) at late steps 60 … 100 along the
    baseline, and its linear PDE's α_min."""
    rows = [
        dict(
            lr=None,
            step=0,
            metric="linear_pde_alpha_min",
            value=alpha_min,
            copy=None,
            perturbation=None,
        )
    ]
    perturbed, baseline = (
        dict(copy="perturbed", perturbation=3),
        dict(copy="baseline", perturbation=1),
    )
    for lr, late in late_differences.items():
        lost = not np.isfinite(late)
        sharp = (
            sharpness_times_lr_over_2
            if isinstance(sharpness_times_lr_over_2, float)
            else sharpness_times_lr_over_2.get(lr, 0.3)
        )
        rows.append(dict(lr=lr, step=100, metric="diverged", value=float(lost), **perturbed))
        for step in (0, 50, 100):
            rows.append(
                dict(
                    lr=lr,
                    step=step,
                    metric="relative_weight_difference",
                    value=0.0 if step == 0 else late,
                    **perturbed,
                )
            )
        if not lost:
            for step in range(60, 101):
                for metric, value in (
                    ("sharpness_times_lr_over_2", sharp),
                    ("lowest_curvature_times_lr_over_2", 0.1),
                ):
                    rows.append(dict(lr=lr, step=step, metric=metric, value=value, **baseline))
    frame = pd.DataFrame(rows)
    return frame.assign(
        experiment="board",
        activation="swish",
        weight_decay=alpha,
        seed=0,
        variant=variant,
        image_side=64,
        kernel_side=8,
    )


ORDERED = {0.5: 1e-15, 1.2: 1e-13, 1.6: 0.8, 1.9: 1.2, 2.2: np.nan}  # α = 1: 2/α = 2
CONDITIONS_HOLD = {0.5: 1e-15, 1.2: 1e-14, 1.9: 1e-13, 2.2: np.nan}  # no restrained η


def with_control(*tables: pd.DataFrame) -> pd.DataFrame:
    """The given tables and a variant where the linear PDE's condition holds (α = 20 > α_min)."""
    control = board_table({0.05 * lr: d for lr, d in CONDITIONS_HOLD.items()}, alpha=20.0)
    return pd.concat([*tables, control.assign(weight_decay=20.0)], ignore_index=True)


def test_regime_map_check():
    check, tolerance = check_of("regime_map"), TOLERANCES["regime_map"]
    ordered = judge(check(with_control(board_table(ORDERED)), tolerance))
    assert ordered.verdict == REPRODUCED and ordered.control.verdict == NOT_REPRODUCED
    assert all(part.deterministic for part in ordered.decision.parts)
    assert "α > α_min holds" in ordered.control.parts[0].name
    # η = 2/α itself, the threshold, is shown and not judged: a bounded run there breaks no order
    at_bound = {**ORDERED, 2.0: 1e-5}
    assert judge(check(with_control(board_table(at_bound)), tolerance)).verdict == REPRODUCED
    beyond_bound = {0.5: 1e-15, 1.6: 1e-13, 2.1: 0.8, 2.4: np.nan}  # restrained only above 2/α
    assert (
        judge(check(with_control(board_table(beyond_bound)), tolerance)).verdict == NOT_REPRODUCED
    )
    no_restrained = {0.5: 1e-15, 1.9: 1e-13, 2.2: np.nan}
    assert (
        judge(check(with_control(board_table(no_restrained)), tolerance)).verdict == NOT_REPRODUCED
    )
    # a restrained band where the condition holds: the check does not discriminate
    restrained_anyway = board_table({0.05 * lr: d for lr, d in ORDERED.items()}, alpha=20.0)
    both = pd.concat([board_table(ORDERED), restrained_anyway], ignore_index=True)
    assert judge(check(both, tolerance)).verdict == UNFALSIFIABLE


def test_edge_of_stability_check():
    check, tolerance = check_of("edge_of_stability"), TOLERANCES["edge_of_stability"]
    stable = {0.1 * i: 1e-15 for i in range(1, 9)}
    restrained = {1.0 + 0.1 * i: 0.8 for i in range(8)}
    grid = {**stable, **restrained, 2.2: np.nan}
    beyond = {lr: 1.1 + 0.05 * (i % 3) for i, lr in enumerate(restrained)}
    held = judge(check(board_table(grid, beyond), tolerance))
    assert held.verdict == REPRODUCED and held.control.verdict == NOT_REPRODUCED
    assert [p.premise for p in held.decision.parts] == [True, False, False]
    below = {lr: 0.9 for lr in restrained}  # restrained but within the classical bound
    assert judge(check(board_table(grid, below), tolerance)).verdict == NOT_REPRODUCED
    everywhere = judge(check(board_table(grid, 1.1), tolerance))  # stable runs beyond it too
    assert everywhere.decision.verdict == NOT_REPRODUCED
    # nothing restrained: the premise fails, F3 was not tested (inconclusive, not refuted)
    nothing = judge(check(board_table({0.5: 1e-15, 2.2: np.nan}, 0.5), tolerance))
    assert nothing.decision.verdict == INCONCLUSIVE and nothing.decision.p_premise == 0.0
    assert nothing.control.verdict == NOT_REPRODUCED
    # runs where the linear PDE's condition holds (α > α_min) are left out of F3: none is judged
    conditions_hold = board_table(grid, beyond, alpha_min=0.5)
    assert judge(check(conditions_hold, tolerance)).decision.verdict == INCONCLUSIVE
    # a second α with equal η: each run's late-step share is its own (α, η), not a mixture
    other_alpha = board_table(grid, 0.3, alpha=1.1, variant="board_small")
    both = check(pd.concat([board_table(grid, beyond), other_alpha], ignore_index=True), tolerance)
    shares = {
        (row["α"], row["η"]): row["late steps with λmax·η/2 > 1 or λmin < 0 (share)"]
        for row in both.rows
    }
    assert shares[("1", "1")] == "1.00" and shares[("1.1", "1")] == "0.00"


@pytest.fixture(scope="module")
def tiny_table():
    """The real tiny-profile runs of every variant the claims read, measured, as one table."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = merge(params, yaml.safe_load((ROOT / "tests" / "profiles" / "tiny.yaml").read_text()))
    config = STUDY.parse(Section(tiny["float_instability"], "float_instability"))
    data = generate(config)
    frames = []
    for name in config.variants:
        runs = STUDY.module("training").train(
            config, name, data, probe=None, execution=None, reads={}
        )
        frame = STUDY.module("measurement").measure(config, name, data, runs.arrays, reads={})
        frames.append(frame.assign(variant=name))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("check", ["accuracy_spread", "regime_map", "edge_of_stability"])
def test_every_control_fails_on_the_real_tiny_runs(tiny_table, check):
    evidence = check_of(check)(tiny_table, TOLERANCES[check])
    assert judge(evidence).control.verdict == NOT_REPRODUCED
