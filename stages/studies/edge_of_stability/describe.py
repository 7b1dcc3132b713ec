"""The "setup we ran" paragraph of each claim's report section, from the validated config."""
from __future__ import annotations

from .config import Config, Network

LOSS = ("Loss: Cohen et al.'s ½·Σ_classes (f(x) − onehot(y))², averaged over examples. The ½ matters: "
        "Damian et al. use Σ (f − onehot)² without it, which doubles H and so halves the η at which "
        "the same net meets 2/η.")


def network_text(network: Network) -> str:
    widths = "-".join(str(w) for w in network.widths)
    return (f"{network.activation} MLP {widths} ({network.parameter_count} parameters, PyTorch default init, "
            f"float64) on the first {network.examples} scikit-learn digits (pixels/16, centred, ÷ (std + 0.1))")


def seeds_text(seeds) -> str:
    return "seeds " + ", ".join(str(s) for s in seeds)


def variant_text(config: Config, name: str) -> str:
    v = config.variants[name]
    if v.experiment == "cohen_gd":
        setup = config.cohen_gd
        return (f"`{name}`: full-batch GD, η = {v.lr:g} (2/η = {2 / v.lr:g}), {setup.steps} steps, "
                f"{seeds_text(setup.seeds)}; {network_text(setup.network)}; S and λ2 every "
                f"{setup.checkpoint_every} steps by warm-started Lanczos (which='LA').")
    if v.experiment == "self_stabilization":
        setup = config.self_stabilization
        own = {"gd": "GD",
               "constrained": (f"θ† (GD step, then {v.projection_steps} linearised projection(s) onto S ≤ 2/η with "
                               f"a Newton step along u; tracking stops when λ2·η/2 > "
                               f"{v.stop_lambda2_times_lr_over_2:g})"),
               "flow": f"gradient flow ({v.substeps} Euler sub-steps of η/{v.substeps} per step)"}[v.method]
        compared = f"; distances to `{setup.gd_variant}` at equal steps" if v.method != "gd" else ""
        return (f"`{name}`: GD at η = {setup.lr:g} from init until S·η/2 ≥ 1 (checked every "
                f"{setup.edge_search_every} steps, then every step), {seeds_text(setup.seeds)}; "
                f"{network_text(setup.network)}; then {setup.track_steps} steps of {own}{compared}.")
    if v.experiment == "toy_cubic":
        toy = config.toy_cubic
        return (f"`{name}`: GD on L = ½(a + b·y)x² + εx − αy with a = {toy.a:g}, b = {toy.b:g}, α = {toy.alpha:g}, "
                f"ε = {toy.epsilon:g}, η = {v.lr:g}, {v.steps} steps from y = 0, x ~ U(±{toy.initial_x_scale:g}), "
                f"{seeds_text(toy.seeds)}; predicted δ² = 2α/b = {2 * toy.alpha / toy.b:g}.")
    data, net = config.data, config.diagonal_net
    model = (f"diagonal net f(x) = ⟨u⊙u − v⊙v, x⟩ from u = v = {net.init_scale:g}, loss 1/(2n)·Σ(f − y)², "
             f"n = {data.diagonal_examples}, d = {data.diagonal_dimension}, x ~ N(0, I), teacher with "
             f"{data.diagonal_support} entries {data.diagonal_teacher_value:g}; converged when loss < "
             f"{net.converged_loss_below:g}; tr(H) exact (Σ_i e_iᵀHe_i), λmax by Lanczos")
    if v.method == "sgd":
        return (f"`{name}`: SGD batch {v.batch} at η = {', '.join(f'{lr:g}' for lr in v.lrs)}, {v.seeds_per_lr} "
                f"runs each (each its own seed for the batch order), {v.steps} steps; {model}.")
    return f"`{name}`: full-batch GD at η = {v.lr:g}, {v.steps} steps; {model}."


def describe(config: Config, variants: list[str], probe) -> str:
    lines = [f"- {variant_text(config, name)}" for name in variants]
    if any(config.variants[n].experiment in ("cohen_gd", "self_stabilization") for n in variants):
        lines.append(f"- {LOSS}")
    return "\n".join(lines)
