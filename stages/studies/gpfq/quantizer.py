"""GPFQ, the greedy path-following quantizer, and memoryless scalar quantization (MSQ).

Lybrand & Saab (JMLR 2021), Zhang, Zhou & Saab (SIMODS 2023, Algorithm 1 and eq. (10)): a layer with
weights W (N1 neurons × N0 inputs) sees calibration inputs X (the analog network's, m × N0) and X̃
(the partly quantized network's; X̃ = X for the first layer). Every neuron w is quantized one input
t = 1..N0 at a time, with the running error u_t = Σ_{j≤t} (w_j X_j − q_j X̃_j):

    q_t = Q( <X̃_t, u_{t−1} + w_t X_t> / ‖X̃_t‖² ),   u_t = u_{t−1} + w_t X_t − q_t X̃_t,

where Q rounds to the nearest level of the alphabet and q_t = 0 when ‖X̃_t‖ = 0. The neurons never
interact, so `gpfq` runs all of them at once (u is m × N1); `gpfq_one_neuron` is the same recursion
for one neuron, written literally (the reference the tests and bench/bench_gpfq.py compare against).
`gpfq_from_gram` is the same recursion through the Gram matrices X̃ᵀX and X̃ᵀX̃ (N0 × N0), since
<X̃_t, u_{t−1}> = Σ_{j<t} (w_j <X̃_t, X_j> − q_j <X̃_t, X̃_j>): its cost does not grow with m, so it is
the form for whole networks calibrated on thousands of samples (m > N0); `gpfq`, whose cost grows
with m, is the form for G1's layer (m = 32 ≪ N0). MSQ rounds every weight to its nearest level
independently.

Alphabets (as the public code): b bits give the 2^b + 1 levels δ·{−2^(b−1), …, 0, …, 2^(b−1)} with
δ = C·rad/2^(b−1), rad the mean over neurons of max |w|; ternary is {−δ, 0, δ} with δ = C·median |W|.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ZERO_NORM = 1e-16  # ‖X̃_t‖² at or below this is a dead input (e.g. a ReLU that never fires): q_t = 0


@dataclass(frozen=True)
class Alphabet:
    """The levels step·{−largest_level, …, 0, …, largest_level}."""

    step: float
    largest_level: int

    @property
    def levels(self) -> int:
        return 2 * self.largest_level + 1

    def nearest(self, values: torch.Tensor) -> torch.Tensor:
        """Q: round to the nearest level (ties to even), saturating at the outermost levels."""
        if self.step == 0.0:
            return torch.zeros_like(values)
        index = torch.clamp(
            torch.round(values / self.step), -self.largest_level, self.largest_level
        )
        return index * self.step


def alphabet_for(weights: torch.Tensor, bits: int | None, scale_c: float) -> Alphabet:
    """The layer's alphabet at scale C: b >= 1 bits, or ternary when `bits` is None."""
    if bits is None:
        return Alphabet(float(scale_c * weights.abs().median()), 1)
    largest = 2 ** (bits - 1)
    radius = weights.abs().max(dim=1).values.mean()
    return Alphabet(float(scale_c * radius / largest), largest)


def msq(weights: torch.Tensor, alphabet: Alphabet) -> torch.Tensor:
    """Memoryless scalar quantization: every weight to its nearest level."""
    return alphabet.nearest(weights)


def gpfq(
    weights: torch.Tensor,
    analog_inputs: torch.Tensor,
    quantized_inputs: torch.Tensor,
    alphabet: Alphabet,
) -> torch.Tensor:
    """GPFQ of a whole layer, vectorised over neurons: weights (N1, N0), inputs (m, N0) -> Q (N1, N0)."""
    residual = torch.zeros(
        analog_inputs.shape[0], weights.shape[0], dtype=weights.dtype, device=weights.device
    )
    quantized = torch.zeros_like(weights)
    squared_norms = (quantized_inputs * quantized_inputs).sum(dim=0)
    cross = (quantized_inputs * analog_inputs).sum(dim=0)
    for t in range(weights.shape[1]):
        column, analog, seen = weights[:, t], analog_inputs[:, t], quantized_inputs[:, t]
        if squared_norms[t] > ZERO_NORM:
            quantized[:, t] = alphabet.nearest(
                (seen @ residual + column * cross[t]) / squared_norms[t]
            )
        residual += torch.outer(analog, column) - torch.outer(seen, quantized[:, t])
    return quantized


GRAM_BLOCK = 64  # columns whose mutual terms gpfq_from_gram resolves one by one; the rest by gemm


def gpfq_from_gram(
    weights: torch.Tensor, cross: torch.Tensor, gram: torch.Tensor, alphabet: Alphabet
) -> torch.Tensor:
    """GPFQ of a layer from cross = X̃ᵀX and gram = X̃ᵀX̃ (N0 × N0): weights (N1, N0) -> Q (N1, N0).

    q_t = Q((Σ_{j<t} w_j cross[t, j] − q_j gram[t, j] + w_t cross[t, t]) / gram[t, t]), the recursion
    of `gpfq` without the residual u. The sums over earlier blocks of GRAM_BLOCK columns are
    accumulated by matrix products (`pending`); only the terms inside a block run one column at a
    time."""
    neurons, inputs = weights.shape
    quantized = torch.zeros_like(weights)
    pending = torch.zeros_like(weights)  # pending[:, t]: Σ over the finished blocks' columns j
    for start in range(0, inputs, GRAM_BLOCK):
        stop = min(start + GRAM_BLOCK, inputs)
        for t in range(start, stop):
            if gram[t, t] <= ZERO_NORM:
                continue
            numerator = (
                pending[:, t]
                + weights[:, start : t + 1] @ cross[t, start : t + 1]
                - quantized[:, start:t] @ gram[t, start:t]
            )
            quantized[:, t] = alphabet.nearest(numerator / gram[t, t])
        pending[:, stop:] += (
            weights[:, start:stop] @ cross[stop:, start:stop].T
            - quantized[:, start:stop] @ gram[stop:, start:stop].T
        )
    return quantized


def gpfq_one_neuron(
    weight: torch.Tensor,
    analog_inputs: torch.Tensor,
    quantized_inputs: torch.Tensor,
    alphabet: Alphabet,
) -> torch.Tensor:
    """The recursion for one neuron w (N0,), literally; `gpfq` must agree with it neuron by neuron."""
    residual = torch.zeros(analog_inputs.shape[0], dtype=weight.dtype, device=weight.device)
    quantized = torch.zeros_like(weight)
    for t in range(weight.shape[0]):
        analog, seen = analog_inputs[:, t], quantized_inputs[:, t]
        norm = seen @ seen
        if norm > ZERO_NORM:
            quantized[t] = alphabet.nearest((seen @ (residual + weight[t] * analog)) / norm)
        residual = residual + weight[t] * analog - quantized[t] * seen
    return quantized


def relative_error(exact: torch.Tensor, approximate: torch.Tensor) -> float:
    """‖Y − Ỹ‖_F / ‖Y‖_F (the public code's logged error, not squared)."""
    return float(torch.linalg.norm(exact - approximate) / torch.linalg.norm(exact))


def bias_correction(analog_outputs: torch.Tensor, quantized_outputs: torch.Tensor) -> torch.Tensor:
    """The shift added to the bias: the mean over calibration rows of X Wᵀ − X̃ Qᵀ (the public code's
    StepAlgorithm.bias_correction). Centring the difference can only shrink its Frobenius norm, so
    the corrected layer error is never larger."""
    return (analog_outputs - quantized_outputs).mean(dim=0)
