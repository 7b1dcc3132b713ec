"""Data sets of Andriushchenko et al. (ICML 2023), one per seed.

Two recipes (params: `recipe`, config.RECIPES):
- public_code: exactly as the public code draws it, so seed 0 gives the very data behind the
  notebooks' printed numbers: the diagonal nets with NumPy legacy seeding (diag_nets.ipynb and
  diag_nets_2d_loss_surface.ipynb: np.random.seed(seed), X and X_test ~ N(0, I), beta* = |randn|
  on the first r coordinates, normalised); the ReLU teacher as utils.get_data_two_layer_relu_net
  does (inputs from NumPy seeded seed + 1, cast to float32 and normalised; the teacher from torch's
  generator seeded seed + 1, float32).
- generator: NumPy's default_rng(seed), the same distributions drawn independently (float64).
"""

from __future__ import annotations

import numpy as np

from .config import Config, DiagonalNetSetup, ReluNetSetup


def _normal(rng, recipe: str, rows: int, dim: int) -> np.ndarray:
    if (
        recipe == "public_code"
    ):  # the notebooks call multivariate_normal(0, I); its draws differ from randn
        return rng.multivariate_normal(np.zeros(dim), np.eye(dim), rows)
    return rng.standard_normal((rows, dim))


def _rng(recipe: str, seed: int):
    return np.random.RandomState(seed) if recipe == "public_code" else np.random.default_rng(seed)


def sparse_regression(
    recipe: str, seed: int, n_train: int, n_test: int, dim: int, support: int
) -> dict:
    """Noiseless sparse regression y = <beta*, x>, beta* >= 0 with `support` non-zeros and unit norm."""
    rng = _rng(recipe, seed)
    x_train = _normal(rng, recipe, n_train, dim)
    x_test = _normal(rng, recipe, n_test, dim)
    beta_star = rng.standard_normal(dim) if recipe == "generator" else rng.randn(dim)
    beta_star[support:] = 0.0
    beta_star = np.abs(beta_star) / np.linalg.norm(beta_star)
    return {
        "x_train": x_train,
        "y_train": x_train @ beta_star,
        "x_test": x_test,
        "y_test": x_test @ beta_star,
        "beta_star": beta_star,
    }


def teacher_student(
    recipe: str, seed: int, n_train: int, n_test: int, dim: int, teacher_width: int
) -> dict:
    """Two-layer ReLU teacher without biases: inputs on the unit sphere, hidden weights of unit norm,
    output weights +-1 (utils.get_data_two_layer_relu_net of the public code, seeded with seed + 1).

    public_code: the public code's own draws. NumPy (seed + 1) draws the inputs with
    multivariate_normal; they are cast to float32 and normalised in float32. torch's generator
    (seed + 1) first draws the default initialisation of the teacher's two torch.nn.Linear layers,
    which the code then overwrites with N(0, 1) weights: hidden rows normalised, output signs. The
    labels are the float32 teacher's outputs. Values are returned as float64 (exactly the float32
    values). generator: every draw from NumPy's default_rng(seed + 1), in float64.
    """
    if recipe == "public_code":
        # imported here, not at the top: measure stages import this module for `unstack` and
        # would otherwise pay torch's import (about a second each)
        from .public_code_draws import teacher_student_public_code

        return teacher_student_public_code(seed, n_train, n_test, dim, teacher_width)
    rng = _rng(recipe, seed + 1)
    x_train = _unit_rows(_normal(rng, recipe, n_train, dim))
    x_test = _unit_rows(_normal(rng, recipe, n_test, dim))
    hidden = _unit_rows(_normal(rng, recipe, teacher_width, dim))
    output = np.sign(_normal(rng, recipe, 1, teacher_width)[0])
    return {
        "x_train": x_train,
        "y_train": two_layer_relu(hidden, output, x_train),
        "x_test": x_test,
        "y_test": two_layer_relu(hidden, output, x_test),
        "teacher_hidden": hidden,
        "teacher_output": output,
    }


def two_layer_relu(hidden: np.ndarray, output: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """f(x) = Σ_j a_j ReLU(<w_j, x>) for the rows of `inputs` (teacher and student alike)."""
    return np.maximum(inputs @ hidden.T, 0.0) @ output


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def stack(per_seed: list[dict], prefix: str) -> dict[str, np.ndarray]:
    """Stack per-seed arrays along a leading seed axis under `<prefix>/<name>` keys."""
    return {f"{prefix}/{name}": np.stack([item[name] for item in per_seed]) for name in per_seed[0]}


def unstack(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays stored under `<prefix>/`, without the prefix."""
    start = len(prefix) + 1
    return {name[start:]: value for name, value in arrays.items() if name.startswith(prefix + "/")}


def generate(config: Config) -> dict[str, np.ndarray]:
    """One data set per seed for each experiment, stacked on a leading seed axis under the
    experiment's name: sparse regression for a diagonal net, a ReLU teacher for a ReLU student."""
    arrays = {}
    for name, setup in config.experiments.items():
        drawn = [draw(setup, seed) for seed in setup.data_seeds]
        arrays.update(stack(drawn, name))
    return arrays


def draw(setup: DiagonalNetSetup | ReluNetSetup, seed: int) -> dict[str, np.ndarray]:
    """The data set of one seed for the experiment `setup` describes."""
    if isinstance(setup, DiagonalNetSetup):
        return sparse_regression(
            setup.recipe, seed, setup.n_train, setup.n_test, setup.dim, setup.support
        )
    return teacher_student(
        setup.recipe, seed, setup.n_train, setup.n_test, setup.dim, setup.teacher_width
    )
