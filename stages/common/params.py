"""Reading and validating params.yaml (and every other YAML file the stages read).

Every stage reads only its study's section and validates all of it before any compute.
A bad value stops the stage with a `ParamError` that names the key (as a dotted path),
the value found and what is allowed, e.g.

    sparse_features.variants.diag_sgd_decay10.schedule.decay_at = 1.5: allowed: a number in (0, 1)

YAML is read as DVC reads it (YAML 1.2 through ruamel.yaml's safe loader, the call DVC's own
`parse_yaml` makes), so a value means the same to a stage as to `dvc status`: `282e-3` is 0.282,
`yes` is a string. On top of what DVC checks, a key may appear once per mapping and every key is a
name (NAME): a key becomes a file name, a DVC stage name and a dotted params path, so a key such as
`;touch x;` or `../x` stops here, before any stage command or path is built from it.

Sizes have upper bounds before any compute: every integer has one (INTEGER_LIMIT unless the caller
gives another), and a study whose sizes multiply into memory checks its estimate against the
machine's memory (`require_memory`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

PARAMS_FILE = Path("params.yaml")
EXECUTION = "execution"  # the one top-level section of params.yaml that is not a study
# a name: a study, a variant, a claim id, any key of params.yaml or claims.yaml
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,99}")
NAME_ALLOWED = (
    "a name of letters, digits, _ and - (not first), at most 100 characters: it becomes a file "
    "name, a DVC stage name and a dotted params key"
)
# the largest value any integer parameter may take unless its accessor names another bound: far
# above every size the studies use (the papers' 10^5 steps), below what would exhaust memory or
# overflow a 32-bit seed when sizes and seeds add up
INTEGER_LIMIT = 10**8
SHOWN_VALUE_CHARACTERS = 80  # a longer value (a whole section) is cut in the message
SHOWN_TEXT_CHARACTERS = 200  # likewise a longer text


class ParamError(ValueError):
    """A parameter is missing, of the wrong type or out of range."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{_printable(key)} = {_shown(value)}: allowed: {allowed}")


def _printable(text: str) -> str:
    """`text` on one line: a newline or other control character in a key is shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _shown(value: Any) -> str:
    """repr(value), cut where it is long: a whole section is cut short, a text (an estimate, a
    stage name) later."""
    shown = _printable(repr(value))
    limit = SHOWN_TEXT_CHARACTERS if isinstance(value, str) else SHOWN_VALUE_CHARACTERS
    return shown if len(shown) <= limit else shown[:limit] + " ..."


def check_name(key: str, value: Any) -> str:
    """`value` if it is a NAME, else a ParamError at `key`."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ParamError(key, value, NAME_ALLOWED)
    return value


def load_yaml(path: Path) -> dict:
    """Parse a YAML mapping as DVC does; a missing, empty or malformed file, a repeated key or a key
    that is not a NAME is a ParamError naming the file (and the line, where there is one)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ParamError(str(path), None, f"a readable YAML file ({reason})") from None
    yaml = YAML(typ="safe")  # what dvc.utils.serialize.parse_yaml calls: YAML 1.2, no tags
    try:
        document = yaml.compose(text)
        if document is not None:
            _check_keys(document, path)
        loaded = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path} line {mark.line + 1}" if mark is not None else str(path)
        problem = " ".join(f"{error.context or ''} {error.problem or ''}".split())
        raise ParamError(where, "<unparsable>", f"valid YAML ({problem})") from None
    except YAMLError as error:
        raise ParamError(
            str(path), "<unparsable>", f"valid YAML ({' '.join(str(error).split())})"
        ) from None
    if loaded is None:
        raise ParamError(
            str(path), "<empty>", "a YAML mapping at the top level (the file holds no document)"
        )
    if not isinstance(loaded, dict):
        raise ParamError(str(path), type(loaded).__name__, "a YAML mapping at the top level")
    return loaded


def _check_keys(root, path: Path) -> None:
    """Walk the composed document: every mapping key once per mapping, and a NAME."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    seen: set[int] = set()
    pending = [(root, "")]
    while pending:
        node, where = pending.pop()
        if id(node) in seen:  # an alias of a node already walked
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            pending += [(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        if not isinstance(node, MappingNode):
            continue
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag.endswith(":merge"):  # `<<: *anchor`, as DVC's loader merges it
                pending.append((value_node, where))
                continue
            name = key_node.value if isinstance(key_node, ScalarNode) else "<a complex key>"
            dotted = f"{where}.{name}" if where else str(name)
            if not (key_node.tag.endswith(":str") and NAME.fullmatch(name)):
                raise ParamError(
                    f"{path} line {line}: {where or '<top level>'}",
                    name,
                    "keys that are " + NAME_ALLOWED,
                )
            if name in first_line:
                raise ParamError(
                    f"{path} line {line}: {dotted}",
                    "<repeated>",
                    f"each key once per mapping (it is first at line {first_line[name]})",
                )
            first_line[name] = line
            pending.append((value_node, dotted))


class Section:
    """A validated view of one mapping in params.yaml that remembers its dotted path.

    Accessors raise ParamError naming `path.key` when the key is missing or the value is wrong.
    """

    def __init__(self, mapping: Any, path: str):
        if not isinstance(mapping, Mapping):
            raise ParamError(path, mapping, "a mapping of keys to values")
        self.mapping, self.path = mapping, path
        self.read: set[str] = set()  # the keys asked for, by has() or any accessor (see unread)

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
        self.read.add(name)
        return name in self.mapping

    def unread(self) -> list[str]:
        """Keys present but never asked for: a misspelt or stale key that nothing uses."""
        return [str(k) for k in self.mapping if str(k) not in self.read]

    def raw(self, name: str) -> Any:
        self.read.add(name)
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

    def variant_entries(
        self, experiments: Sequence[str], every_experiment: bool = True
    ) -> Iterator[tuple[str, str, Section]]:
        """A study's `variants` section: one group per experiment (no other key; each required
        unless not `every_experiment`, then at least one), each a mapping of variant names to
        their settings. Yields (experiment, name, settings) in file order; every name is a NAME
        and names one variant of the study (claims.yaml names variants alone, and a name becomes
        a stage and a file)."""
        groups = self.section("variants").only(*experiments)
        present = experiments if every_experiment else [str(e) for e in groups.mapping]
        if not present:
            raise ParamError(groups.path, groups.mapping, "at least one experiment's variants")
        seen: dict[str, str] = {}
        for experiment in present:
            for name, entry in groups.sections(experiment).items():
                check_name(entry.path, name)
                if name in seen:
                    raise ParamError(
                        entry.path,
                        name,
                        f"a name no other variant of the study has (variants.{seen[name]} has "
                        "it; claims.yaml names variants alone)",
                    )
                seen[name] = experiment
                yield experiment, name, entry

    def integer(
        self,
        name: str,
        *,
        minimum: int | None = None,
        maximum: int = INTEGER_LIMIT,
        bound: str = "INTEGER_LIMIT, stages/common/params.py",
    ) -> int:
        """An integer in [minimum, maximum]; `bound` names where the maximum comes from (the
        message says it, so a user who means a larger size knows what to raise)."""
        value = self.raw(name)
        allowed = _int_allowed(minimum, maximum, bound)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(self.key(name), value, allowed)
        if (minimum is not None and value < minimum) or value > maximum:
            raise ParamError(self.key(name), value, allowed)
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


def _int_allowed(minimum: int | None, maximum: int, bound: str) -> str:
    return (
        "an integer"
        + ("" if minimum is None else f" >= {minimum}")
        + f" and <= {maximum} ({bound})"
    )


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


def machine_memory_bytes() -> int:
    """The physical memory of this machine: no stage can hold arrays larger than it."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def require_memory(key: str, estimate_bytes: int, estimate: str) -> None:
    """Refuse sizes whose arrays cannot fit, before any work: `estimate_bytes` is a lower bound of
    what the stage will hold (the formula in `estimate`, in the study's terms)."""
    limit = machine_memory_bytes()
    if estimate_bytes > limit:
        raise ParamError(
            key,
            f"{estimate_bytes / 2**30:.1f} GiB for {estimate}",
            f"sizes whose arrays fit in this machine's memory, {limit / 2**30:.1f} GiB "
            "(machine_memory_bytes, stages/common/params.py)",
        )


def load_params(params_file: Path = PARAMS_FILE) -> dict:
    """params.yaml, checked at the top level: one section per study package and `execution`."""
    from .study import study_names  # study.py imports this module

    params = load_yaml(params_file)
    allowed = (*study_names(), EXECUTION)
    for section in params:
        if section not in allowed:
            raise ParamError(
                f"{params_file}: {section}",
                "<unknown section>",
                "a study's section or execution (" + ", ".join(allowed) + ")",
            )
    return params


def study_section(study: str, params_file: Path = PARAMS_FILE) -> Section:
    """The validated-on-access section of params.yaml for one study."""
    params = load_params(params_file)
    if study not in params:
        raise ParamError(
            study, "<missing>", f"a top-level section named {study!r} in {params_file}"
        )
    return Section(params[study], study)


def execution_section(params_file: Path = PARAMS_FILE) -> Section:
    """Where runs execute (device). Not a DVC dependency: it never changes results on one machine."""
    params = load_params(params_file)
    return Section(params.get(EXECUTION, {}), EXECUTION)
