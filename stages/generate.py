"""Stage generate: write a study's data sets once (synthetic, or scikit-learn's bundled digits).

python -m stages.generate <study>      ->  data/<study>/generated.npz
"""

from .common import paths
from .common.atomic import write_arrays
from .common.entry import open_study, run


def main(argv: list[str]) -> None:
    study, config = open_study(argv[0])
    write_arrays(paths.generated(study.name), study.module("data").generate(config))


if __name__ == "__main__":
    run(main, "python -m stages.generate <study>")
