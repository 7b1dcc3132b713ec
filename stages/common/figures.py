"""Byte-stable figures and the seed-band line plot every study uses.

PNG metadata carries no timestamp or software version, the backend is Agg, fonts and sizes are
fixed, and every figure starts numpy's global generator from one seed (seaborn's stripplot jitters
its points with `np.random.uniform`, seaborn 0.13.2 categorical.py, and numpy seeds that generator
from the OS), so the same table always gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .atomic import atomic_path  # noqa: E402

DPI = 110
JITTER_SEED = 0  # numpy's global generator at the start of every figure (seaborn's jitter)


def new_figure(columns: int = 1, width: float = 5.0, height: float = 3.6):
    np.random.seed(JITTER_SEED)
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9)
    figure, axes = plt.subplots(1, columns, figsize=(width * columns, height), squeeze=False)
    return figure, list(axes[0])


def seed_band_lines(
    ax, frame: pd.DataFrame, x: str, y: str, hue: str, log_y: bool = True, hue_order=None
) -> None:
    """Median over seeds with an interquartile band per hue level."""
    sns.lineplot(
        data=frame,
        x=x,
        y=y,
        hue=hue,
        hue_order=hue_order,
        estimator="median",
        errorbar=("pi", 50),
        ax=ax,
        linewidth=1.2,
    )
    if log_y:
        ax.set_yscale("log")


def save_png(figure, destination: Path) -> None:
    figure.tight_layout()
    with atomic_path(destination) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(figure)
