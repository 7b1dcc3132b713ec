"""The "setup we ran" paragraph of each claim's report section, from the validated config."""
from __future__ import annotations

from .config import Config, DiagonalGD, DiagonalSGD, EdgeRun, GradientDescent, Network, Toy

LOSS = ("Loss: Cohen et al.'s ½·Σ_classes (f(x) − onehot(y))², averaged over examples. The ½ matters: "
        "Damian et al. use Σ (f − onehot)² without it, which doubles H and so halves the η at which "
        "the same net meets 2/η.")


def network_text(network: Network) -> str:
    widths = "-".join(str(w) for w in network.mlp.widths)
    return (f"{network.activation} MLP {widths} ({network.mlp.parameter_count} parameters, PyTorch default init, "
            f"float64) on the first {network.examples} scikit-learn digits (pixels/16, centred, ÷ (std + 0.1))")


def variant_text(config: Config, name: str) -> str:
    v = config.variants[name]
    seeds = f"seeds {', '.join(str(s) for s in v.seeds)}" if hasattr(v, "seeds") else ""
    if isinstance(v, GradientDescent):
        return (f"`{name}`: full-batch GD, η = {v.lr:g}, {v.steps} steps, {seeds}; {network_text(v.network)}; "
                f"S and λ2 every {v.checkpoint_every} steps by warm-started Lanczos (which='LA').")
    if isinstance(v, EdgeRun):
        start = (f"GD at η = {v.lr:g} from init until S·η/2 ≥ 1 (checked every {v.edge_search_every} steps, then "
                 f"every step), {seeds}; {network_text(v.network)}; then {v.track_steps} steps of ")
        own = {"edge_gd": "GD",
               "edge_constrained": (f"θ† (GD step, then {v.projection_steps} linearised projections onto S ≤ 2/η "
                                    f"with a Newton step along u; stops when λ2·η/2 > "
                                    f"{v.stop_lambda2_times_lr_over_2:g})"),
               "edge_flow": f"gradient flow ({v.substeps} Euler sub-steps of η/{v.substeps} per step)"}[v.kind]
        reads = f"; distances against `{v.reference}`" if v.reference else ""
        return f"`{name}`: {start}{own}{reads}."
    if isinstance(v, Toy):
        return (f"`{name}`: GD on L = ½(a + b·y)x² + εx − αy with a = {v.a:g}, b = {v.b:g}, α = {v.alpha:g}, "
                f"ε = {v.epsilon:g}, η = {v.lr:g}, {v.steps} steps from y = 0, x ~ U(±{v.initial_x_scale:g}), "
                f"{seeds}; predicted δ² = 2α/b = {2 * v.alpha / v.b:g}.")
    data = config.data
    net = (f"diagonal net f(x) = ⟨u⊙u − v⊙v, x⟩ from u = v = {v.init_scale:g}, loss 1/(2n)·Σ(f − y)², "
           f"n = {data.diagonal_examples}, d = {data.diagonal_dimension}, x ~ N(0, I), teacher with "
           f"{data.diagonal_support} entries {data.diagonal_teacher_value:g}")
    if isinstance(v, DiagonalSGD):
        return (f"`{name}`: SGD batch {v.batch} at η = {', '.join(f'{lr:g}' for lr in v.lrs)}, {v.seeds_per_lr} "
                f"runs each (own seed each), {v.steps} steps; {net}; converged when loss < "
                f"{v.converged_loss_below:g}; tr(H) exact (Σ_i e_iᵀHe_i).")
    assert isinstance(v, DiagonalGD)
    return (f"`{name}`: full-batch GD at η = {v.lr:g}, {v.steps} steps; {net}; converged when loss < "
            f"{v.converged_loss_below:g}.")


def describe(config: Config, variants: list[str], probe) -> str:
    lines = [f"- {variant_text(config, name)}" for name in variants]
    if any(isinstance(config.variants[n], (GradientDescent, EdgeRun)) for n in variants):
        lines.append(f"- {LOSS}")
    return "\n".join(lines)
