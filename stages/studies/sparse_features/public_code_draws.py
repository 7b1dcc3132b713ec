"""The public code's torch draws for the two-layer ReLU net (tml-epfl/sgd-sparse-features), so that
data seed s is the notebook's seed s (fc_nets_two_layer.ipynb, utils.get_data_two_layer_relu_net).

The public code seeds torch's global generator, builds torch.nn.Linear layers (whose default
initialisation draws from it) and then overwrites their weights with Gaussian draws. Here a
torch.Generator of our own, seeded the same way, takes the same draws in the same order: the
values are the notebook's, without touching global state.
"""

from __future__ import annotations

import numpy as np
import torch


def skip_linear_initialisation(generator: torch.Generator, *shapes: tuple[int, int]) -> None:
    """Advance `generator` past the default initialisation of bias-free torch.nn.Linear layers of
    these weight shapes (one uniform draw per weight, in order), as constructing them does before
    the public code overwrites their weights."""
    for shape in shapes:
        torch.empty(shape).uniform_(generator=generator)


def teacher_student_public_code(
    seed: int, n_train: int, n_test: int, dim: int, teacher_width: int
) -> dict[str, np.ndarray]:
    """The teacher-student data set of data seed `seed`, as utils.get_data_two_layer_relu_net draws
    it with seed + 1: NumPy draws the inputs (multivariate_normal), which are cast to float32 and
    normalised in float32; torch draws the teacher after its two Linear layers' default
    initialisation: N(0, 1) hidden weights with rows normalised, output weights the signs of N(0, 1)
    draws; the labels are the float32 teacher's outputs. Values as float64 (exactly the float32
    values)."""
    rng = np.random.RandomState(seed + 1)
    x_train, x_test = (
        _unit_rows_float32(torch.tensor(rng.multivariate_normal(np.zeros(dim), np.eye(dim), rows)))
        for rows in (n_train, n_test)
    )
    generator = torch.Generator().manual_seed(seed + 1)
    skip_linear_initialisation(generator, (teacher_width, dim), (1, teacher_width))
    hidden = torch.randn((teacher_width, dim), generator=generator)
    output = torch.randn((1, teacher_width), generator=generator)
    hidden = hidden / torch.sum(hidden**2, 1, keepdim=True) ** 0.5
    output = torch.sign(output)
    linear = torch.nn.functional.linear
    labels = {
        split: linear(torch.relu(linear(x, hidden)), output)[:, 0]
        for split, x in (("train", x_train), ("test", x_test))
    }
    return {
        "x_train": x_train.double().numpy(),
        "y_train": labels["train"].double().numpy(),
        "x_test": x_test.double().numpy(),
        "y_test": labels["test"].double().numpy(),
        "teacher_hidden": hidden.double().numpy(),
        "teacher_output": output[0].double().numpy(),
    }


def student_hidden_public_code(seed: int, width: int, dim: int, init_scale: float) -> np.ndarray:
    """The student's first layer of data seed `seed` as the notebook draws it after
    torch.manual_seed(seed): the default initialisation of its two Linear layers, then
    init_scale·N(0, 1) in float32 (fc_nets.FCNet2Layers.init_gaussian). As float64."""
    generator = torch.Generator().manual_seed(int(seed))
    skip_linear_initialisation(generator, (width, dim), (1, width))
    return (init_scale * torch.randn((width, dim), generator=generator)).double().numpy()


def _unit_rows_float32(matrix: torch.Tensor) -> torch.Tensor:
    """The public code's normalisation: cast to float32, then each row over its norm, in float32."""
    matrix = matrix.float()
    return matrix / torch.sum(matrix**2, 1, keepdim=True) ** 0.5
