"""What every stage entry point shares: argument parsing, thread pinning, and clean failures.

A ParamError or DataError stops the stage with one line naming the key or file, the value and
what is allowed (exit status 2), instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .atomic import DataError
from .params import ParamError, execution_section, study_section
from .runtime import pin_threads, torch_device
from .study import Execution, Study, load_study


def run(main: Callable[[list[str]], None], usage: str) -> None:
    """Call main(argv) and turn bad input into a one-line error and exit status 2.

    `usage` names the positional arguments (`<...>`); a call with another count prints it.
    """
    argv = sys.argv[1:]
    if len(argv) != usage.count("<"):
        print(f"usage: {usage}", file=sys.stderr)
        sys.exit(2)
    try:
        main(argv)
    except (ParamError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def open_study(name: str) -> tuple[Study, object]:
    """Load the study, validate its whole params section, then pin threads (before any compute)."""
    study = load_study(name)
    config = study.parse(study_section(study.name))
    pin_threads()
    return study, config


def execution() -> Execution:
    section = execution_section().only(
        "device", "scheduler"
    )  # scheduler: read by stages.repro only
    device = section.choice("device", ("cpu", "cuda")) if section.has("device") else "cpu"
    torch_device(device)  # fails now, before any compute, if cuda is asked for and absent
    return Execution(device=device)
