"""The validated `gpfq` section of params.yaml.

`setup` holds the first seed, the data, and one block per experiment; variants name an experiment:
- float_training (section `variants`): train the float MLP or CNN to quantize, one run per seed;
- single_layer (section `variants`): one random layer quantized at growing N0 (claim G1);
- quantization (section `quantizer_variants`): quantize a float variant's networks with GPFQ and MSQ
  at every scale C of a grid, for one alphabet (claims G2, G3). These read another variant's run
  (`train_reads`), so dvc.yaml gives them their own foreach block over their own section.
Every check runs before any compute and names the bad key, the value and what is allowed.
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
SETTING_COLUMNS = {
    "model": "string",
    "alphabet": "string",
    "method": "string",
    "scale_c": "float64",
    "inputs": "string",
}
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")  # DVC addresses params by dotted keys
READING_SECTION = "quantizer_variants"
# the networks a quantization variant evaluates per (seed, C): name -> (quantizer, bias correction, float last layer)
NETWORKS = {
    "msq": ("msq", False, False),
    "gpfq": ("gpfq", False, False),
    "gpfq_bias": ("gpfq", True, False),
    "gpfq_float_last": ("gpfq", False, True),
    "gpfq_bias_float_last": ("gpfq", True, True),
}
QUANTIZED_PASSES = (
    "msq",
    "gpfq",
    "gpfq_bias",
)  # the passes that quantize every layer; the others reuse them


@dataclass(frozen=True)
class Data:
    mnist_idx_dir: (
        str  # empty: scikit-learn digits; else a local folder with the four MNIST IDX files
    )
    test_fraction: float  # digits only (MNIST keeps its own 60k/10k split)


@dataclass(frozen=True)
class FloatTraining:
    seeds: int
    epochs: int
    batch_size: int
    lr: float
    mlp_hidden: tuple[int, ...]
    cnn_channels: tuple[int, ...]


@dataclass(frozen=True)
class Quantization:
    calibration_samples: int


@dataclass(frozen=True)
class SingleLayer:
    seeds: int
    neurons_in: tuple[int, ...]  # the N0 grid
    neurons_out: int
    samples: int  # m, the rows of X
    bits: int
    scale_c: float
    clusters: int  # gaussian_clusters: rows drawn around this many centres
    cluster_std: float


@dataclass(frozen=True)
class Variant:
    name: str
    experiment: str
    model: str = ""  # float_training
    inputs: str = ""  # single_layer
    float_variant: str = ""  # quantization
    alphabet: str = ""  # quantization: "ternary" or "<b>bit"
    scales: tuple[float, ...] = ()

    @property
    def bits(self) -> int | None:
        """The quantizer's alphabet argument: None for ternary."""
        return None if self.alphabet == TERNARY else int(self.alphabet.removesuffix("bit"))


@dataclass(frozen=True)
class Config:
    first_seed: int
    data: Data
    float_training: FloatTraining
    quantization: Quantization
    single_layer: SingleLayer
    variants: dict[str, Variant]

    def seeds(self, count: int) -> list[int]:
        return list(range(self.first_seed, self.first_seed + count))

    def model_of(self, variant: Variant) -> str:
        return (
            variant.model
            if variant.experiment == "float_training"
            else self.variants[variant.float_variant].model
        )


def variant_names(config: Config) -> list[str]:
    return list(config.variants)


def train_reads(config: Config, variant_name: str) -> list[str]:
    """A quantization variant reads the float networks of the variant it names."""
    variant = config.variants[variant_name]
    return [variant.float_variant] if variant.experiment == "quantization" else []


def parse(section: Section) -> Config:
    section.only("setup", "variants", READING_SECTION)
    setup = section.section("setup").only(
        "first_seed", "data", "float_training", "quantization", "single_layer"
    )
    variants = {}
    for group, experiments in (
        ("variants", ("float_training", "single_layer")),
        (READING_SECTION, ("quantization",)),
    ):
        for name, entry in section.sections(group).items():
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
            variants[name] = parse_variant(name, entry, experiments)
    for variant in variants.values():
        if variant.experiment == "quantization":
            read = variants.get(variant.float_variant)
            if read is None or read.experiment != "float_training":
                floats = [n for n, v in variants.items() if v.experiment == "float_training"]
                raise ParamError(
                    f"gpfq.{READING_SECTION}.{variant.name}.float_variant",
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


def parse_variant(name: str, section: Section, experiments: tuple[str, ...]) -> Variant:
    experiment = section.choice("experiment", experiments)
    if experiment == "float_training":
        section.only("experiment", "model")
        return Variant(name, experiment, model=section.choice("model", MODELS))
    if experiment == "single_layer":
        section.only("experiment", "inputs")
        return Variant(name, experiment, inputs=section.choice("inputs", INPUT_LAWS))
    section.only("experiment", "float_variant", "alphabet", "scales")
    return Variant(
        name,
        experiment,
        float_variant=section.text("float_variant"),
        alphabet=parse_alphabet(section),
        scales=tuple(section.numbers("scales", positive=True, increasing=True)),
    )
