"""Apply a profile (a YAML of overrides) to params.yaml: nested mappings merge, anything else replaces
(stages/profile.py's merge), and build one bad parameter at a time."""

from __future__ import annotations

from pathlib import Path

import yaml

from stages.profile import merge


def apply_profile(params_file: Path, profile_file: Path) -> None:
    params = yaml.safe_load(params_file.read_text())
    params_file.write_text(
        yaml.safe_dump(merge(params, yaml.safe_load(profile_file.read_text())), sort_keys=False)
    )


def edited(mapping: dict, path: str, value):
    """A deep copy of `mapping` with the dotted `path` set to `value` (None deletes the key): the tests'
    way to build one bad parameter at a time."""
    import copy

    changed = copy.deepcopy(mapping)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return changed
