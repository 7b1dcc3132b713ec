"""The study's "setup we ran", printed once under its heading, with the differences from the papers."""

from __future__ import annotations

from .config import NETWORKS, Config, FloatVariant, QuantizationVariant, SingleLayerVariant

SINGLE_LAYER_DIFFERENCES = (
    "Differences from the paper: a CPU-sized layer (m = {m} samples, N1 = {n1} neurons, N0 up to {n0}); "
    "weights U[−1, 1] rather than Gaussian, because with a max-based radius max|w| grows with N0 and "
    "bends both slopes (study notes: GPFQ −0.75 to −0.88, MSQ +0.12 to +0.2 with Gaussian weights); the "
    "second distribution is a mixture of {k} Gaussian clusters (centres N(0, I), spread {std:g}), our "
    "stand-in for the cluster data of the papers' analysis; the fitted quantity is the relative square "
    "error, whose bound is log(N0)/N0, so the expected slope is −1 up to the log factor."
)
NETWORK_DIFFERENCES = (
    "Differences from the papers: {data} instead of MNIST (Lybrand & Saab's MLP: 784-500-BN-300-BN-10, "
    "60,000 training images, m = 25,000) or ImageNet (Zhang et al.'s pretrained CNNs, m = 512–2,048, one "
    "C per model); no ImageNet CNN (no pretrained weights, no GPU; a CNN trained here costs 39 s of CPU "
    "for its float training alone, so it runs in the paper profile, unjudged); our MLP has no batch "
    "normalisation and trains on {training:,} images for {epochs} epochs (the paper profile: 55,000 and "
    "more epochs); {seeds} seeds (the papers quantize one network per architecture, once); each method's "
    "C is chosen on {validation:,} validation images held out of the training set, and accuracy is "
    "measured on all {test:,} test images. The layer errors are shown, not judged: the theory's "
    "advantage of GPFQ needs N0 ≫ m (error ≲ m log N0 / N0), and with m = {m:,} every layer here has "
    "N0 < m."
)


def network_text(config: Config, model: str) -> str:
    setup = config.float_training
    if model == "mlp":
        return f"ReLU MLP input-{'-'.join(str(w) for w in setup.mlp_hidden)}-10"
    blocks = " → ".join(f"conv3×3({c})-ReLU-maxpool2" for c in setup.cnn_channels)
    return f"CNN {blocks} → linear(10)"


def alphabet_text(alphabet: str) -> str:
    if alphabet == "ternary":
        return "ternary {−δ, 0, δ}, δ = C·median|W|"
    bits = int(alphabet.removesuffix("bit"))
    return f"{bits} bits (2^{bits} + 1 levels, δ = C·mean over neurons of max|w| / 2^{bits - 1})"


def variant_text(config: Config, name: str) -> str:
    v = config.variants[name]
    if isinstance(v, FloatVariant):
        return f"`{name}`: the float {network_text(config, v.model)} to quantize."
    if isinstance(v, SingleLayerVariant):
        s = config.single_layer
        return (
            f"`{name}`: X ({s.samples} × N0, {v.inputs.replace('_', ' ')}), W ~ U[−1, 1] ({s.neurons_out} × N0), "
            f"N0 ∈ {{{', '.join(str(n) for n in s.neurons_in)}}}, {s.bits} bits (2^{s.bits} + 1 levels), C = "
            f"{s.scale_c:g}, seeds {config.first_seed}–{config.first_seed + s.seeds - 1}; GPFQ and MSQ with the "
            "same alphabet."
        )
    grids = "; ".join(
        f"{alphabet_text(a)} at C ∈ {{{', '.join(f'{c:g}' for c in grid)}}}"
        for a, grid in v.alphabets.items()
    )
    return (
        f"`{name}`: every seed's network of `{v.float_variant}` quantized layer by layer by GPFQ and MSQ: "
        f"{grids}. Networks tested at their method's C: {', '.join(n.name for n in NETWORKS)} (float_last: "
        "last layer kept in float; bias_corrected: its bias shifted by the mean calibration error, the "
        "code's correct_bias_last_layer.py)."
    )


def describe(config: Config, variants: list[str], probe) -> str:
    lines = [f"- {variant_text(config, name)}" for name in variants]
    kinds = {type(config.variants[n]) for n in variants}
    if SingleLayerVariant in kinds:
        s = config.single_layer
        lines.append(
            "  "
            + SINGLE_LAYER_DIFFERENCES.format(
                m=s.samples, n1=s.neurons_out, n0=s.neurons_in[-1], k=s.clusters, std=s.cluster_std
            )
        )
    quantizers = [
        config.variants[n] for n in variants if isinstance(config.variants[n], QuantizationVariant)
    ]
    if quantizers:
        setup, data = config.float_training, config.data
        for model in sorted({config.model_of(v) for v in quantizers}):
            lines.append(
                f"- The float networks: {network_text(config, model)}, cross-entropy, Adam (lr "
                f"{setup.lr:g}, batch {setup.batch_size}), {setup.epochs} epochs, PyTorch default init, "
                f"float32, seeds {config.first_seed}–{config.first_seed + setup.seeds - 1}; the "
                "quantizer's arithmetic in float64."
            )
        name = {
            "digits": "scikit-learn's 8×8 digits",
            "mnist": "MNIST (local IDX files)",
            "fashion_mnist": "Fashion-MNIST (Debian's dataset-fashion-mnist)",
        }[data.images]
        test = int(round(data.test_fraction * 1797)) if data.images == "digits" else 10000
        lines.append(
            f"- Data: {name}, pixels in [0, 1]; {data.training_images:,} training and "
            f"{data.validation_images:,} validation images drawn with seed {config.first_seed}; "
            f"calibration: m = {config.quantization.calibration_samples:,} training images drawn per "
            f"seed; accuracy on the {test:,} test images (one image = {100 / test:.2g} points)."
        )
        lines.append(
            "  "
            + NETWORK_DIFFERENCES.format(
                data=name,
                training=data.training_images,
                epochs=setup.epochs,
                seeds=setup.seeds,
                validation=data.validation_images,
                test=test,
                m=config.quantization.calibration_samples,
            )
        )
    return "\n".join(lines)
