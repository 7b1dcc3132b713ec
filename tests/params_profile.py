"""Apply a profile (a YAML of overrides) to params.yaml: nested mappings merge, anything else replaces."""

from __future__ import annotations

from pathlib import Path

import yaml


def merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


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
