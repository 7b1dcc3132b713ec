"""The validated `gpfq` section of params.yaml, as frozen dataclasses.

`gpfq.setup` holds the first seed, the data and one block per experiment; `gpfq.variants` groups the
variants by experiment, `gpfq.variants.<experiment>.<variant>`, one dataclass per experiment:
- float_training (FloatVariant): train the float MLP or CNN to quantize, one run per seed;
- single_layer (SingleLayerVariant): one random layer quantized at growing N0 (claim G1);
- quantization (QuantizationVariant): quantize a float variant's networks with GPFQ and MSQ at every
  scale C of a grid, for one alphabet (claims G2, G3). Its training reads the float variant's run
  (`train_reads`); pipelines/gpfq/dvc.yaml has one foreach block per experiment, so none reads its own.
Variant names are unique across the study (claims.yaml names variants alone). Every check runs
before any compute and names the bad key, the value and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from ...common.params import ParamError, Section

MODELS = ("mlp", "cnn")
INPUT_LAWS = ("gaussian", "gaussian_clusters")
MAX_BITS = 8
TERNARY = "ternary"
DIGITS_IMAGES, MNIST_TRAINING_IMAGES = 1797, 60000
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")  # DVC addresses params by dotted keys

# The tidy table's setting columns (measurement.py). A setting that does not apply to a row is null.
SETTING_COLUMNS = {
    # what is quantized: "mlp" or "cnn" (a trained float network) or "single_layer" (G1's random layer)
    "model": "string",
    # what it is fed: "digits" or "mnist" (networks), "gaussian" or "gaussian_clusters" (G1's rows of X)
    "inputs": "string",
    # how the weights are stored: "float" (not quantized), "msq" (nearest level) or "gpfq"
    "method": "string",
    # 1: every layer's bias shifted by the mean calibration error, b̃ = b + mean(XWᵀ − X̃Qᵀ); 0: b kept
    "bias_correction": "int64",
    # 1: the last layer keeps its float weights and bias (the public code's mixed precision); 0: quantized
    "float_last_layer": "int64",
    # the quantizer's alphabet: "ternary" ({−δ, 0, δ}, δ = C·median|W|) or "<b>bit" (2^b + 1 levels)
    "alphabet": "string",
    # C, the scale of the alphabet's step δ
    "scale_c": "float64",
    # N0, the weights per neuron of G1's layer (its input dimension)
    "neurons_in": "int64",
    # ℓ, the layer a calibration error belongs to (0 = the first)
    "layer": "int64",
}


@dataclass(frozen=True)
class Network:
    """One network a quantization variant evaluates per seed and C."""

    name: str  # as the report's setup lists it
    method: str  # "msq" or "gpfq", for every quantized layer
    bias_correction: bool  # every quantized layer's bias shifted by its mean calibration error
    float_last_layer: bool  # the last layer kept in float (mixed precision), the others quantized

    @property
    def quantized_pass(self) -> tuple[str, bool]:
        """(method, bias correction) of the pass whose quantized layers this network uses."""
        return (self.method, self.bias_correction)


NETWORKS = (
    Network("msq", "msq", bias_correction=False, float_last_layer=False),
    Network("gpfq", "gpfq", bias_correction=False, float_last_layer=False),
    Network("gpfq_bias", "gpfq", bias_correction=True, float_last_layer=False),
    Network("gpfq_float_last", "gpfq", bias_correction=False, float_last_layer=True),
    Network("gpfq_bias_float_last", "gpfq", bias_correction=True, float_last_layer=True),
)
# the networks that quantize every layer (one pass each); a float-last network reuses the pass of
# its method and bias correction, whose earlier layers it shares
QUANTIZED_PASSES = tuple(network for network in NETWORKS if not network.float_last_layer)


@dataclass(frozen=True)
class Data:
    """`setup.data`: the images the float networks learn and the quantizers calibrate on."""

    mnist_idx_dir: str  # "": scikit-learn digits; else a local folder with the four MNIST IDX files
    test_fraction: float  # digits only: the share held out for testing (MNIST keeps 60k / 10k)


@dataclass(frozen=True)
class FloatTraining:
    """`setup.float_training`: the float networks to quantize (Adam on the cross-entropy)."""

    seeds: int  # runs per float variant: seeds first_seed, first_seed + 1, ...
    epochs: int  # passes over the training images
    batch_size: int  # images per Adam step
    lr: float  # Adam's step size
    mlp_hidden: tuple[int, ...]  # the MLP's hidden widths (the paper's MNIST MLP: 500, 300)
    cnn_channels: tuple[int, ...]  # output channels of each conv3×3-ReLU-maxpool2 block


@dataclass(frozen=True)
class Quantization:
    """`setup.quantization`: what every quantization variant shares."""

    calibration_samples: int  # m, training images per seed whose layer inputs are GPFQ's X and X̃


@dataclass(frozen=True)
class SingleLayer:
    """`setup.single_layer`: G1's random layer, X (m × N0) and W ~ U[−1, 1] (N1 × N0)."""

    seeds: int  # seeds first_seed, first_seed + 1, ...; each draws X and W at every N0
    neurons_in: tuple[int, ...]  # the grid of N0, the weights per neuron, increasing
    neurons_out: int  # N1, the layer's neurons
    samples: int  # m, the rows of X
    bits: int  # b: an alphabet of 2^b + 1 levels, step δ = C·rad / 2^(b−1)
    scale_c: float  # C
    clusters: int  # gaussian_clusters: rows of X drawn around this many centres z_k ~ N(0, I)
    cluster_std: float  # gaussian_clusters: the spread of the rows around their centre


@dataclass(frozen=True)
class FloatVariant:
    """`variants.float_training.<name>`: a float network to quantize, one run per seed."""

    name: str
    model: str  # "mlp" (input-mlp_hidden-10) or "cnn" (cnn_channels blocks, then linear)


@dataclass(frozen=True)
class SingleLayerVariant:
    """`variants.single_layer.<name>`: G1's sweep over N0 for one law of the inputs."""

    name: str
    inputs: str  # the rows of X: "gaussian" (i.i.d. N(0, 1)) or "gaussian_clusters"


@dataclass(frozen=True)
class QuantizationVariant:
    """`variants.quantization.<name>`: every seed's network of a float variant, quantized with each
    of NETWORKS at every C of a grid, with one alphabet."""

    name: str
    float_variant: str  # the FloatVariant whose trained networks are quantized (its run is read)
    alphabet: str  # "ternary" or "<b>bit"
    scales: tuple[float, ...]  # the grid of C, increasing

    @property
    def bits(self) -> int | None:
        """b, the quantizer's alphabet argument: None for ternary."""
        return None if self.alphabet == TERNARY else int(self.alphabet.removesuffix("bit"))


Variant = FloatVariant | SingleLayerVariant | QuantizationVariant


@dataclass(frozen=True)
class Config:
    first_seed: int  # seeds are first_seed, first_seed + 1, ...; also the digits split's seed
    data: Data
    float_training: FloatTraining
    quantization: Quantization
    single_layer: SingleLayer
    variants: dict[str, Variant]  # every variant by name, experiments in EXPERIMENTS order

    def seeds(self, count: int) -> list[int]:
        return list(range(self.first_seed, self.first_seed + count))

    def model_of(self, variant: FloatVariant | QuantizationVariant) -> str:
        """The architecture a float variant trains, or that a quantization variant quantizes."""
        if isinstance(variant, QuantizationVariant):
            variant = self.variants[variant.float_variant]
        return variant.model


def variant_names(config: Config) -> list[str]:
    return list(config.variants)


def train_reads(config: Config, variant_name: str) -> list[str]:
    """A quantization variant reads the float networks of the variant it names."""
    variant = config.variants[variant_name]
    return [variant.float_variant] if isinstance(variant, QuantizationVariant) else []


def parse(section: Section) -> Config:
    section.only("setup", "variants")
    setup = section.section("setup").only(
        "first_seed", "data", "float_training", "quantization", "single_layer"
    )
    groups = section.section("variants").only(*EXPERIMENTS)
    variants: dict[str, Variant] = {}
    for experiment, parse_variant in EXPERIMENTS.items():
        for name, entry in groups.sections(experiment).items():
            if not VARIANT_NAME.fullmatch(name):
                raise ParamError(
                    entry.path,
                    name,
                    "a variant name of letters, digits, _ and - (DVC keys are dotted paths)",
                )
            if name in variants:
                raise ParamError(
                    entry.path, name, "a name not used by another variant of the study"
                )
            variants[name] = parse_variant(name, entry)
    floats = [name for name, v in variants.items() if isinstance(v, FloatVariant)]
    for variant in variants.values():
        if isinstance(variant, QuantizationVariant) and variant.float_variant not in floats:
            raise ParamError(
                groups.key(f"quantization.{variant.name}.float_variant"),
                variant.float_variant,
                "one of " + ", ".join(floats),
            )
    data = parse_data(setup.section("data"))
    return Config(
        setup.integer("first_seed", minimum=0),
        data,
        parse_float_training(setup.section("float_training")),
        parse_quantization(setup.section("quantization"), data),
        parse_single_layer(setup.section("single_layer")),
        variants,
    )


def parse_data(section: Section) -> Data:
    section.only("mnist_idx_dir", "test_fraction")
    directory = section.raw("mnist_idx_dir")
    if not isinstance(directory, str) or (directory and not Path(directory).is_dir()):
        raise ParamError(
            section.key("mnist_idx_dir"),
            directory,
            "an empty string (scikit-learn digits) or an existing local folder of MNIST IDX files",
        )
    return Data(directory, section.fraction("test_fraction"))


def positive_integers(section: Section, name: str, *, increasing: bool = False) -> tuple[int, ...]:
    value = section.raw(name)
    valid = (
        isinstance(value, list)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    )
    if not valid or (increasing and any(b <= a for a, b in pairwise(value))):
        raise ParamError(
            section.key(name),
            value,
            "a non-empty list of positive integers"
            + (" in increasing order" if increasing else ""),
        )
    return tuple(value)


def parse_float_training(section: Section) -> FloatTraining:
    section.only("seeds", "epochs", "batch_size", "lr", "mlp_hidden", "cnn_channels")
    channels = positive_integers(section, "cnn_channels")
    if len(channels) > 3:  # each block halves the side: 8×8 digits allow three
        raise ParamError(
            section.key("cnn_channels"), list(channels), "at most 3 convolution blocks"
        )
    return FloatTraining(
        section.integer("seeds", minimum=1),
        section.integer("epochs", minimum=1),
        section.integer("batch_size", minimum=1),
        section.number("lr", positive=True),
        positive_integers(section, "mlp_hidden"),
        channels,
    )


def training_images(data: Data) -> int:
    if data.mnist_idx_dir:
        return MNIST_TRAINING_IMAGES
    return DIGITS_IMAGES - int(round(data.test_fraction * DIGITS_IMAGES))  # as digits.split


def parse_quantization(section: Section, data: Data) -> Quantization:
    section.only("calibration_samples")
    samples = section.integer("calibration_samples", minimum=1)
    if samples > training_images(data):
        raise ParamError(
            section.key("calibration_samples"),
            samples,
            f"an integer <= the {training_images(data)} training images",
        )
    return Quantization(samples)


def parse_single_layer(section: Section) -> SingleLayer:
    section.only(
        "seeds",
        "neurons_in",
        "neurons_out",
        "samples",
        "bits",
        "scale_c",
        "clusters",
        "cluster_std",
    )
    neurons_in = positive_integers(section, "neurons_in", increasing=True)
    if len(neurons_in) < 2:
        raise ParamError(
            section.key("neurons_in"),
            list(neurons_in),
            "at least two N0 values (a slope is fitted)",
        )
    bits = section.integer("bits", minimum=1)
    if bits > MAX_BITS:
        raise ParamError(section.key("bits"), bits, f"an integer in [1, {MAX_BITS}]")
    return SingleLayer(
        section.integer("seeds", minimum=1),
        neurons_in,
        section.integer("neurons_out", minimum=1),
        section.integer("samples", minimum=1),
        bits,
        section.number("scale_c", positive=True),
        section.integer("clusters", minimum=1),
        section.number("cluster_std", positive=True),
    )


def parse_alphabet(section: Section) -> str:
    value = section.raw("alphabet")
    allowed = f"ternary or a number of bits from 1 to {MAX_BITS} (2^b + 1 levels)"
    if value == TERNARY:
        return TERNARY
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BITS:
        raise ParamError(section.key("alphabet"), value, allowed)
    return f"{value}bit"


def parse_float_variant(name: str, section: Section) -> FloatVariant:
    section.only("model")
    return FloatVariant(name, section.choice("model", MODELS))


def parse_single_layer_variant(name: str, section: Section) -> SingleLayerVariant:
    section.only("inputs")
    return SingleLayerVariant(name, section.choice("inputs", INPUT_LAWS))


def parse_quantization_variant(name: str, section: Section) -> QuantizationVariant:
    section.only("float_variant", "alphabet", "scales")
    return QuantizationVariant(
        name,
        section.text("float_variant"),
        parse_alphabet(section),
        tuple(section.numbers("scales", positive=True, increasing=True)),
    )


# the experiments, each a group of gpfq.variants, and how a variant of each is read
EXPERIMENTS = {
    "float_training": parse_float_variant,
    "single_layer": parse_single_layer_variant,
    "quantization": parse_quantization_variant,
}
