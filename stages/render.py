"""Stage render: a study's figures from its Parquet table.

python -m stages.render <study>  ->  reports/figures/<study>/<figure>.png
"""

from .common import paths
from .common.entry import open_study, run


def main(argv: list[str]) -> None:
    # matplotlib, seaborn and pandas: loaded where the command runs (entry.run)
    from .common.figures import save_png
    from .common.tables import read_table

    study, config = open_study(argv[0])
    table = read_table(paths.results_table(study.name), study.setting_columns)
    directory = paths.figures_dir(study.name)
    figures = study.module("figures").figures(config, table)
    for stale in directory.glob("*.png") if directory.exists() else []:
        if stale.stem not in figures:
            stale.unlink()
    for name, figure in sorted(figures.items()):
        save_png(figure, directory / f"{name}.png")
    print(f"render {study.name}: {len(figures)} figures in {directory}")


if __name__ == "__main__":
    run(main, "python -m stages.render <study>")
