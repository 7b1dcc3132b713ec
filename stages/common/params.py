"""Reading and validating params.yaml.

Every stage reads only its study's section and validates all of it before any compute.
A bad value stops the stage with a `ParamError` that names the key (as a dotted path),
the value found and what is allowed, e.g.

    sparse_features.variants.diag_sgd_decay10.schedule.decay_at = 1.5: allowed: a number in (0, 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamError(ValueError):
    """A parameter is missing, of the wrong type or out of range."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key} = {value!r}: allowed: {allowed}")


def load_yaml(path: Path) -> dict:
    """Parse a YAML mapping; a missing or malformed file is a ParamError naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ParamError(str(path), None, f"a readable YAML file ({error.strerror})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamError(str(path), "<unparsable>", f"valid YAML ({error})") from None
    if not isinstance(loaded, dict):
        raise ParamError(str(path), type(loaded).__name__, "a YAML mapping at the top level")
    return loaded


class Section:
    """A validated view of one mapping in params.yaml that remembers its dotted path.

    Accessors raise ParamError naming `path.key` when the key is missing or the value is wrong.
    """

    def __init__(self, mapping: Any, path: str):
        if not isinstance(mapping, Mapping):
            raise ParamError(path, mapping, "a mapping of keys to values")
        self.mapping, self.path = mapping, path

    def only(self, *allowed: str) -> Section:
        """Reject keys outside `allowed` (a misspelt key must not be silently ignored)."""
        unknown = [str(k) for k in self.mapping if k not in allowed]
        if unknown:
            raise ParamError(
                self.key(unknown[0]),
                self.mapping[unknown[0]],
                f"a known key here ({', '.join(allowed)}); {unknown[0]!r} is not one",
            )
        return self

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def has(self, name: str) -> bool:
        return name in self.mapping

    def raw(self, name: str) -> Any:
        if name not in self.mapping:
            raise ParamError(self.key(name), "<missing>", "a value (the key is required)")
        return self.mapping[name]

    def section(self, name: str) -> Section:
        return Section(self.raw(name), self.key(name))

    def sections(self, name: str) -> dict[str, Section]:
        """A mapping of named sub-sections, e.g. the study's variants."""
        inner = self.section(name)
        if not inner.mapping:
            raise ParamError(inner.path, {}, "at least one entry")
        return {str(k): inner.section(str(k)) for k in inner.mapping}

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(self.key(name), value, _int_allowed(minimum))
        if minimum is not None and value < minimum:
            raise ParamError(self.key(name), value, _int_allowed(minimum))
        return value

    def number(
        self,
        name: str,
        *,
        positive: bool = False,
        low: float | None = None,
        high: float | None = None,
        open_interval: bool = False,
    ) -> float:
        """A finite float; `positive` means > 0; [low, high] bounds (open with `open_interval`)."""
        value = self.raw(name)
        allowed = _number_allowed(positive, low, high, open_interval)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ParamError(self.key(name), value, allowed)
        value = float(value)
        if positive and value <= 0:
            raise ParamError(self.key(name), value, allowed)
        if low is not None and (value < low or (open_interval and value == low)):
            raise ParamError(self.key(name), value, allowed)
        if high is not None and (value > high or (open_interval and value == high)):
            raise ParamError(self.key(name), value, allowed)
        return value

    def fraction(self, name: str) -> float:
        """A number strictly inside (0, 1), e.g. the point of training where a step size decays."""
        return self.number(name, low=0.0, high=1.0, open_interval=True)

    def choice(self, name: str, allowed: Sequence[str]) -> str:
        value = self.raw(name)
        if not isinstance(value, str) or value not in allowed:
            raise ParamError(self.key(name), value, "one of " + ", ".join(allowed))
        return value

    def text(self, name: str) -> str:
        value = self.raw(name)
        if not isinstance(value, str) or not value:
            raise ParamError(self.key(name), value, "a non-empty string")
        return value

    def boolean(self, name: str) -> bool:
        value = self.raw(name)
        if not isinstance(value, bool):
            raise ParamError(self.key(name), value, "true or false")
        return value

    def numbers(
        self, name: str, *, positive: bool = False, increasing: bool = False
    ) -> list[float]:
        value = self.raw(name)
        allowed = (
            "a non-empty list of "
            + ("positive " if positive else "")
            + "numbers"
            + (" in increasing order" if increasing else "")
        )
        if not isinstance(value, list) or not value:
            raise ParamError(self.key(name), value, allowed)
        for item in value:
            if (
                isinstance(item, bool)
                or not isinstance(item, (int, float))
                or not math.isfinite(item)
                or (positive and item <= 0)
            ):
                raise ParamError(self.key(name), value, allowed)
        if increasing and any(b <= a for a, b in pairwise(value)):
            raise ParamError(self.key(name), value, allowed)
        return [float(item) for item in value]


def _int_allowed(minimum: int | None) -> str:
    return "an integer" + ("" if minimum is None else f" >= {minimum}")


def _number_allowed(
    positive: bool, low: float | None, high: float | None, open_interval: bool
) -> str:
    if low is not None and high is not None:
        return (
            f"a number in ({low:g}, {high:g})"
            if open_interval
            else f"a number in [{low:g}, {high:g}]"
        )
    if positive:
        return "a number > 0"
    if low is not None:
        return f"a number >= {low:g}"
    if high is not None:
        return f"a number <= {high:g}"
    return "a finite number"


def study_section(study: str, params_file: Path = PARAMS_FILE) -> Section:
    """The validated-on-access section of params.yaml for one study."""
    params = load_yaml(params_file)
    if study not in params:
        raise ParamError(
            study, "<missing>", f"a top-level section named {study!r} in {params_file}"
        )
    return Section(params[study], study)


def execution_section(params_file: Path = PARAMS_FILE) -> Section:
    """Where runs execute (device). Not a DVC dependency: it never changes results on one machine."""
    params = load_yaml(params_file)
    return Section(params.get("execution", {}), "execution")
