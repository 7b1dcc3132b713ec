"""The validated `gpfq` section of params.yaml, as frozen dataclasses.

`gpfq.setup` holds the first seed, the data and one block per experiment; `gpfq.variants` groups the
variants by experiment, `gpfq.variants.<experiment>.<variant>`, one dataclass per experiment:
- float_training (FloatVariant): train the float MLP or CNN to quantize, one run per seed;
- single_layer (SingleLayerVariant): one random layer quantized at growing N0 (claim G1);
- quantization (QuantizationVariant): quantize a float variant's networks with GPFQ and MSQ at every
  scale C of a grid per alphabet, C chosen on a validation split (claims G2a, G2b, G3). Its training
  reads the float variant's run (`train_reads`); pipelines/gpfq/dvc.yaml has one foreach block per
  experiment, so none reads its own.
Variant names are unique across the study (claims.yaml names variants alone). Every check runs
before any compute and names the bad key, the value and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from ...common.params import ParamError, Section

MODELS = ("mlp", "cnn")
INPUT_LAWS = ("gaussian", "gaussian_clusters")
MAX_BITS = 8
TERNARY = "ternary"
ALPHABET_NAME = re.compile(r"ternary|[1-8]bit")
# the images: scikit-learn's digits (bundled), or MNIST-format IDX files on the local disk
IMAGES = ("digits", "mnist", "fashion_mnist")
DIGITS_IMAGES, IDX_TRAINING_IMAGES = 1797, 60000
# where Debian's package puts Fashion-MNIST, and the package (named when the files are missing)
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"

# The tidy table's setting columns (measurement.py). A setting that does not apply to a row is null.
SETTING_COLUMNS = {
    # what is quantized: "mlp" or "cnn" (a trained float network) or "single_layer" (G1's random layer)
    "model": "string",
    # what it is fed: "digits", "mnist" or "fashion_mnist" (networks), "gaussian" or
    # "gaussian_clusters" (G1's rows of X)
    "inputs": "string",
    # how the weights are stored: "float" (not quantized), "msq" (nearest level) or "gpfq"
    "method": "string",
    # True: the last layer keeps its float weights (the public code's mixed precision); False: quantized
    "float_last_layer": "bool",
    # True: that float last layer's bias is shifted by its mean calibration error, b̃ = b +
    # mean((X − X̃)Wᵀ) (the code's correct_bias_last_layer.py); False: b kept
    "bias_correction": "bool",
    # the quantizer's alphabet: "ternary" ({−δ, 0, δ}, δ = C·median|W|) or "<b>bit" (2^b + 1 levels)
    "alphabet": "string",
    # C, the scale of the alphabet's step δ
    "scale_c": "float64",
    # how a test accuracy's C was picked: "validation" (the best validation accuracy of the method
    # over the grid) or "largest" (the grid's largest C); null where C is a grid point
    "scale_c_choice": "string",
    # N0, the weights per neuron of G1's layer (its input dimension)
    "neurons_in": "int64",
    # ℓ, the layer a calibration error belongs to (0 = the first)
    "layer": "int64",
}


@dataclass(frozen=True)
class Network:
    """One network a quantization variant tests per seed, at its method's C chosen on validation."""

    name: str  # as the report's setup lists it
    method: str  # "msq" or "gpfq", for every quantized layer
    float_last_layer: bool  # the last layer kept in float (mixed precision), the others quantized
    bias_correction: bool  # that float last layer's bias corrected (the code's recipe)


NETWORKS = (
    Network("msq", "msq", float_last_layer=False, bias_correction=False),
    Network("gpfq", "gpfq", float_last_layer=False, bias_correction=False),
    Network("gpfq_float_last", "gpfq", float_last_layer=True, bias_correction=False),
    Network("gpfq_float_last_bias_corrected", "gpfq", float_last_layer=True, bias_correction=True),
)
METHODS = ("msq", "gpfq")  # the quantizers; each quantizes every layer of one pass per C


@dataclass(frozen=True)
class Data:
    """`setup.data`: the images the float networks learn, the quantizers calibrate on, C is chosen on
    (validation) and accuracy is measured on (test)."""

    images: str  # one of IMAGES
    idx_dir: str  # mnist, fashion_mnist: the local folder with the four IDX files
    training_images: int  # images the float networks train on (calibration images are among them)
    validation_images: int  # held out of the training images, to choose C on
    test_fraction: float  # digits only: the share held out for testing (IDX sets keep their 10k)


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


def bits_of(alphabet: str) -> int | None:
    """b, the quantizer's alphabet argument: None for ternary."""
    return None if alphabet == TERNARY else int(alphabet.removesuffix("bit"))


@dataclass(frozen=True)
class QuantizationVariant:
    """`variants.quantization.<name>`: every seed's network of a float variant, quantized by GPFQ and
    MSQ at every C of each alphabet's grid; each method's C is the one with the best validation
    accuracy, and NETWORKS are tested there."""

    name: str
    float_variant: str  # the FloatVariant whose trained networks are quantized (its run is read)
    alphabets: dict[
        str, tuple[float, ...]
    ]  # alphabet ("ternary" or "<b>bit") -> grid of C, increasing


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
    variants: dict[str, Variant] = {
        name: EXPERIMENTS[experiment](name, entry)
        for experiment, name, entry in section.variant_entries(tuple(EXPERIMENTS))
    }
    floats = [name for name, v in variants.items() if isinstance(v, FloatVariant)]
    for variant in variants.values():
        if isinstance(variant, QuantizationVariant) and variant.float_variant not in floats:
            raise ParamError(
                f"{section.path}.variants.quantization.{variant.name}.float_variant",
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
    """The folder of an IDX set is checked when the data are generated (data.py), so that a machine
    without it can still run every other stage and study."""
    section.only("images", "idx_dir", "training_images", "validation_images", "test_fraction")
    images = section.choice("images", IMAGES)
    directory = section.raw("idx_dir")
    if not isinstance(directory, str) or (images != "digits" and not directory):
        raise ParamError(
            section.key("idx_dir"),
            directory,
            'a local folder of the four IDX files (mnist, fashion_mnist), or "" for digits',
        )
    test_fraction = section.fraction("test_fraction")
    validation = section.integer("validation_images", minimum=1)
    available = available_training_images(images, test_fraction) - validation
    if available < 1:
        raise ParamError(
            section.key("validation_images"),
            validation,
            f"fewer than the {available + validation} training images of {images}",
        )
    training = section.integer("training_images", minimum=1)
    if training > available:
        raise ParamError(
            section.key("training_images"),
            training,
            f"an integer <= the {available} {images} training images left beside validation",
        )
    return Data(images, directory, training, validation, test_fraction)


def available_training_images(images: str, test_fraction: float) -> int:
    if images == "digits":
        return DIGITS_IMAGES - int(round(test_fraction * DIGITS_IMAGES))  # as digits.split
    return IDX_TRAINING_IMAGES


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


def parse_quantization(section: Section, data: Data) -> Quantization:
    section.only("calibration_samples")
    samples = section.integer("calibration_samples", minimum=1)
    if samples > data.training_images:
        raise ParamError(
            section.key("calibration_samples"),
            samples,
            f"an integer <= the {data.training_images} training images",
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


def parse_float_variant(name: str, section: Section) -> FloatVariant:
    section.only("model")
    return FloatVariant(name, section.choice("model", MODELS))


def parse_single_layer_variant(name: str, section: Section) -> SingleLayerVariant:
    section.only("inputs")
    return SingleLayerVariant(name, section.choice("inputs", INPUT_LAWS))


def parse_quantization_variant(name: str, section: Section) -> QuantizationVariant:
    section.only("float_variant", "alphabets")
    grids = section.section("alphabets")
    alphabets = {}
    for alphabet in grids.mapping:
        if not isinstance(alphabet, str) or not ALPHABET_NAME.fullmatch(alphabet):
            raise ParamError(
                grids.key(str(alphabet)),
                alphabet,
                f"ternary or <b>bit with b from 1 to {MAX_BITS} (2^b + 1 levels)",
            )
        alphabets[alphabet] = tuple(grids.numbers(alphabet, positive=True, increasing=True))
    if not alphabets:
        raise ParamError(section.key("alphabets"), {}, "at least one alphabet with its grid of C")
    return QuantizationVariant(name, section.text("float_variant"), alphabets)


# the experiments, each a group of gpfq.variants, and how a variant of each is read
EXPERIMENTS = {
    "float_training": parse_float_variant,
    "single_layer": parse_single_layer_variant,
    "quantization": parse_quantization_variant,
}
