"""What every stage entry point shares: argument parsing, thread pinning, and clean failures.

A ParamError or DataError stops the stage with one line naming the key or file, the value and
what is allowed (exit status 2), instead of a traceback. Every write of the stage is confined to
the project's data/ and reports/ (stages/common/atomic.py).

A stage that takes a `<variant>` takes it from the command line or, when the command line leaves it
out, from the name DVC gives the stage in DVC_STAGE
(`pipelines/gpfq/float_training/dvc.yaml:train-gpfq-float_training@float_mlp`): the dvc.yaml commands never paste a
params key into a shell line, so no variant name, whatever it holds, is ever read by a shell; the
name is then checked like any other (stages/common/study.py).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable

from . import forkserver, paths
from .atomic import DataError, confine_writes
from .params import ParamError, execution_section, study_section
from .runtime import pin_threads, torch_device
from .study import Execution, Study, load_study

DVC_STAGE = "DVC_STAGE"  # set by DVC to the name of the stage whose command it runs


def run(main: Callable[[list[str]], None], usage: str) -> None:
    """Call main(argv) and turn bad input into a one-line error and exit status 2.

    `usage` names the positional arguments (`<...>`); a call with another count prints it.
    Under the driver, a fork server with torch already imported runs the command instead of this
    process (stages/common/forkserver.py), unless it declines.
    """
    spec = getattr(sys.modules["__main__"], "__spec__", None)  # None unless run as `python -m`
    if spec is not None and os.environ.get(forkserver.ENVIRONMENT_VARIABLE):
        status = forkserver.run_command(spec.name)
        if status is not None:
            forkserver.exit_like(status)
    try:
        argv = arguments(sys.argv[1:], usage)
        confine_writes(paths.DATA, paths.REPORTS)
        main(argv)
    except (ParamError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except MemoryError:
        print(
            f"error: out of memory in `{usage}`: the sizes in params.yaml need more memory than "
            "this process could get",
            file=sys.stderr,
        )
        sys.exit(1)


def arguments(argv: list[str], usage: str) -> list[str]:
    """The positional arguments `usage` names; a last `<variant>` left out comes from DVC_STAGE."""
    wanted = re.findall(r"<([^>]+)>", usage)
    if (
        wanted
        and wanted[-1] == "variant"
        and len(argv) == len(wanted) - 1
        and DVC_STAGE in os.environ
    ):
        kind = re.search(r"-m stages\.(\w+)", usage).group(1)
        argv = [*argv, variant_of_stage(os.environ[DVC_STAGE], kind, argv[0])]
    if len(argv) != len(wanted):
        hint = " (under DVC the variant comes from DVC_STAGE)" if "<variant>" in usage else ""
        print(f"usage: {usage}{hint}", file=sys.stderr)
        sys.exit(2)
    return argv


def variant_of_stage(stage: str, kind: str, study: str) -> str:
    """The variant in a foreach stage's name, `[<dvc.yaml path>:]<kind>-<study>[-<block>]@<variant>`
    (DVC names the stage `<block>@<key>`, with the key as params.yaml spells it, and prefixes the
    path of a dvc.yaml outside the root)."""
    address, at, variant = stage.partition("@")
    block = address.rpartition(":")[2]
    if not at or not (block == f"{kind}-{study}" or block.startswith(f"{kind}-{study}-")):
        raise ParamError(
            DVC_STAGE, stage, f"a stage of {study} named {kind}-{study}[-<experiment>]@<variant>"
        )
    return variant


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
