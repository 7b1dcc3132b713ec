"""The "setup we ran" paragraph of each claim's report section, with the differences from the paper."""

from __future__ import annotations

from .config import NETWORKS, Config, FloatVariant, QuantizationVariant, SingleLayerVariant

DIFFERENCES = {
    "single_layer": (
        "Differences from the paper: a CPU-sized layer (m = {m} samples, N1 = {n1} neurons, N0 up to {n0}); "
        "weights U[−1, 1] rather than Gaussian, because with a max-based radius max|w| grows with N0 and "
        "bends both slopes (study notes: GPFQ −0.75 to −0.88, MSQ +0.12 to +0.2 with Gaussian weights); the "
        "second distribution is a mixture of {k} Gaussian clusters (centres N(0, I), spread {std:g}), our "
        "stand-in for the cluster data of the papers' analysis; the fitted quantity is the relative square "
        "error, whose bound is log(N0)/N0, so the expected slope is −1 up to the log factor."
    ),
    "network": (
        "Differences from the paper: {data} instead of MNIST/ImageNet (the paper's MNIST MLP is 784-500-300-10 on "
        "60,000 images; ours is {inputs}-{hidden}-10; set `gpfq.setup.data.mnist_idx_dir` to a "
        "local folder of MNIST IDX files to run the paper's own MLP setting); a small CNN stands in for "
        "VGG/ResNet on ImageNet (no pretrained weights, no GPU), and its first convolution has only N0 = 9 weights per "
        "neuron (1 channel × 3×3; ImageNet's first layers have 27 or 147, their deeper layers thousands), where GPFQ's "
        "advantage, which grows with N0 (G1), is smallest; float networks trained here with Adam for "
        "{epochs} epochs, {seeds} seeds (the paper quantizes one network per architecture); {calibration} "
        "calibration images (the paper uses thousands on ImageNet); GPFQ's best C is read on the test set as the "
        "paper's tables do, so the best-over-C numbers are slightly optimistic for both methods alike; "
        "layer errors include the bias and are measured on the calibration set."
    ),
}


def network_text(config: Config, model: str) -> str:
    setup = config.float_training
    if model == "mlp":
        return f"ReLU MLP input-{'-'.join(str(w) for w in setup.mlp_hidden)}-10"
    blocks = " → ".join(f"conv3×3({c})-ReLU-maxpool2" for c in setup.cnn_channels)
    return f"CNN {blocks} → linear(10)"


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
    alphabet = (
        "ternary {−δ, 0, δ}, δ = C·median|W|"
        if v.alphabet == "ternary"
        else (f"{v.bits} bits (2^{v.bits} + 1 levels, δ = C·mean_neurons max|w| / 2^{v.bits - 1})")
    )
    return (
        f"`{name}`: every seed's network of `{v.float_variant}` quantized layer by layer, {alphabet}, C ∈ "
        f"{{{', '.join(f'{c:g}' for c in v.scales)}}}; networks: {', '.join(n.name for n in NETWORKS)} "
        "(bias = bias correction, float_last = last layer kept in float)."
    )


def describe(config: Config, variants: list[str], probe) -> str:
    lines = [f"- {variant_text(config, name)}" for name in variants]
    kinds = {type(config.variants[n]) for n in variants}
    if SingleLayerVariant in kinds:
        s = config.single_layer
        lines.append(
            "  "
            + DIFFERENCES["single_layer"].format(
                m=s.samples, n1=s.neurons_out, n0=s.neurons_in[-1], k=s.clusters, std=s.cluster_std
            )
        )
    if QuantizationVariant in kinds:
        models = sorted(
            {
                config.model_of(config.variants[n])
                for n in variants
                if isinstance(config.variants[n], QuantizationVariant)
            }
        )
        for model in models:
            lines.append(
                f"- The float networks: {network_text(config, model)}, cross-entropy, Adam (lr "
                f"{config.float_training.lr:g}, batch {config.float_training.batch_size}), "
                f"{config.float_training.epochs} epochs, PyTorch default init, float64, seeds "
                f"{config.first_seed}–{config.first_seed + config.float_training.seeds - 1}."
            )
        mnist = bool(config.data.mnist_idx_dir)
        data = (
            "MNIST from local IDX files"
            if mnist
            else (
                f"scikit-learn's 8×8 digits (1,797 images, split {1 - config.data.test_fraction:.0%}/"
                f"{config.data.test_fraction:.0%} with seed {config.first_seed}, pixels/16)"
            )
        )
        lines.append(
            f"- Data: {data}; calibration: {config.quantization.calibration_samples} training images drawn "
            "per seed; accuracy on the held-out test images."
        )
        lines.append(
            "  "
            + DIFFERENCES["network"].format(
                data=data,
                inputs=784 if mnist else 64,
                hidden="-".join(str(w) for w in config.float_training.mlp_hidden),
                epochs=config.float_training.epochs,
                seeds=config.float_training.seeds,
                calibration=config.quantization.calibration_samples,
            )
        )
    return "\n".join(lines)
