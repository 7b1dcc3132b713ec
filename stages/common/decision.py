"""The one decision rule: every claim's verdict, with the seeds' uncertainty (ARCHITECTURE.md, Verdicts).

A study's check does not decide. It returns `Evidence`: for each part of the claim, the per-seed
(or per-pair) values its statistic is made of and the criterion the statistic must meet, and the
same parts computed where the claimed effect is absent (the control). This module decides:

1. Resample the seeds: a bootstrap with RESAMPLES draws from a fixed RESAMPLING_SEED; parts that
   share a `group` draw the same seeds (paired), other groups draw independently.
2. Per part: the statistic (default: the median over seeds) on the data and on every resample, its
   90% percentile interval, and the share of resamples in which its criterion holds.
3. p_holds: the share of resamples in which every part holds at once. reproduced when
   p_holds >= 0.95, not_reproduced when p_holds <= 0.05, inconclusive otherwise.
4. Diverged runs count. A lost seed (NaN) enters a part as a run where the criterion fails, unless
   the part declares `diverged="excluded"` (the check then judges the survival share as a part of
   its own). The verdict on survivors only is computed beside it, and shown where it differs.
5. The control must come out not_reproduced, or the claim is `unfalsifiable` (the check proves
   nothing), whatever its own verdict.
6. Split halves: the same rule on the first and the second half of each group's seeds (in seed
   order); the claim is `stable` when both halves agree with the whole, else `fragile`.

A part on a deterministic quantity (a closed-form toy, a count over a fixed grid) says so: it is
not resampled, holds in every resample or in none, and the report marks it.

A part may be a premise: a condition of the setting the claim speaks about (e.g. "at a bit width
where GPFQ loses at least a point"), not the claim itself. Where the premises fail (p_premise <=
0.05) the claim was not tested here: inconclusive, never not_reproduced. Otherwise p_holds is taken
among the resamples in which the premises hold. A diverged seed counts against the claim, never
against its premise: in a premise it meets the criterion (were it to fail there, conditioning on
the premise would keep exactly the resamples that drew no lost seed, and divergence would vanish).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not_reproduced", "inconclusive"
UNFALSIFIABLE = "unfalsifiable"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, UNFALSIFIABLE)
RESAMPLES = 4000  # bootstrap draws (>= 2000); p_holds then moves by < 0.01 between resampling seeds
RESAMPLING_SEED = 20261201  # fixed: the same table always gives the same verdict
INTERVAL = 0.90  # the statistic's percentile interval over resamples
HOLDS_AT, FAILS_AT = 0.95, 0.05  # p_holds thresholds of reproduced and not_reproduced
FAILS, EXCLUDED = "fails", "excluded"  # how a diverged (NaN) seed enters a part


@dataclass(frozen=True)
class Criterion:
    """What a part's statistic must satisfy: >= at_least, <= at_most, or both (a band)."""

    at_least: float | None = None
    at_most: float | None = None

    def __post_init__(self):
        if self.at_least is None and self.at_most is None:
            raise ValueError("a criterion needs at_least, at_most or both")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError(f"empty band [{self.at_least}, {self.at_most}]")

    def holds(self, statistic):
        """Elementwise: NaN (no statistic could be formed) never holds."""
        statistic = np.asarray(statistic, dtype=np.float64)
        ok = ~np.isnan(statistic)
        if self.at_least is not None:
            ok &= statistic >= self.at_least
        if self.at_most is not None:
            ok &= statistic <= self.at_most
        return ok

    @property
    def failing(self) -> float:
        """A value that fails the criterion on every side: what a diverged seed contributes."""
        return -math.inf if self.at_most is None else math.inf

    @property
    def meeting(self) -> float:
        """A value that meets the criterion: what a diverged seed contributes to a premise."""
        if self.at_least is not None and self.at_most is not None:
            return (self.at_least + self.at_most) / 2
        return math.inf if self.at_most is None else -math.inf

    def text(self) -> str:
        if self.at_least is not None and self.at_most is not None:
            return f"in [{self.at_least:.4g}, {self.at_most:.4g}]"
        return f"≥ {self.at_least:.4g}" if self.at_most is None else f"≤ {self.at_most:.4g}"


def at_least(value: float) -> Criterion:
    return Criterion(at_least=float(value))


def at_most(value: float) -> Criterion:
    return Criterion(at_most=float(value))


def within(low: float, high: float) -> Criterion:
    return Criterion(at_least=float(low), at_most=float(high))


def median_over_seeds(values: np.ndarray) -> np.ndarray:
    """The default statistic: the median over seeds of a (resamples, seeds) array."""
    return np.median(values, axis=1)


@dataclass(frozen=True)
class Part:
    """One criterion of a claim on a statistic of per-seed values.

    name: what the part tests, as the report prints it ("l0, decay at 50% over small step").
    seeds: the seed of each unit (a run, or a pair of runs on one seed); they label the units for
      pairing across parts, halves and the report's seed counts.
    values: one value per unit (shape (units,)), or one row per unit (shape (units, k)) for a
      statistic of several numbers per seed (e.g. a spread across perturbations); NaN = lost.
    criterion: what the statistic must meet; tolerance: the claims.yaml key it comes from.
    statistic: a function of a (resamples, units, ...) array returning one number per resample when
      `vectorised` (default: the median over seeds), else of one (units, ...) sample; it returns
      NaN where it cannot be formed (a NaN statistic never meets its criterion).
    diverged: FAILS (a lost unit fails the criterion; default) or EXCLUDED (dropped).
    group: parts with the same group and seeds are resampled together (paired).
    deterministic: the values are not a seed sample (a closed form, a fixed grid): no resampling.
    timed: the values are this machine's wall-clock times: another machine's differ by construction,
      so CI compares the claim's verdict there, not this part's interval (stages/check_report.py).
    paper: the paper's number for this part, as the report prints it ("" if none).
    premise: a condition of the claim's setting, not the claim (module docstring).
    """

    name: str
    seeds: Sequence[int]
    values: np.ndarray
    criterion: Criterion
    tolerance: str
    statistic: Callable[[np.ndarray], np.ndarray] = median_over_seeds
    vectorised: bool = True
    diverged: str = FAILS
    group: str = ""
    deterministic: bool = False
    timed: bool = False
    paper: str = ""
    premise: bool = False

    def __post_init__(self):
        values = np.asarray(self.values, dtype=np.float64)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if values.ndim not in (1, 2) or len(values) != len(self.seeds):
            raise ValueError(
                f"part {self.name!r}: {len(self.seeds)} seeds but values of shape {values.shape}"
            )
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"part {self.name!r}: repeated seeds {self.seeds}")
        if self.diverged not in (FAILS, EXCLUDED):
            raise ValueError(f"part {self.name!r}: diverged must be {FAILS!r} or {EXCLUDED!r}")
        if not self.seeds:
            raise ValueError(f"part {self.name!r}: no seeds")

    @property
    def lost(self) -> int:
        """Units with a NaN anywhere: diverged or otherwise lost runs."""
        return int(np.isnan(self.values.reshape(len(self.seeds), -1)).any(axis=1).sum())

    def prepared(self, survivors_only: bool) -> np.ndarray:
        """The values the statistic sees: a lost unit becomes a failing value (FAILS; a meeting
        one in a premise, module docstring), or is dropped (EXCLUDED, or when judging survivors
        only)."""
        lost = np.isnan(self.values.reshape(len(self.seeds), -1)).any(axis=1)
        if self.diverged == EXCLUDED or survivors_only:
            return self.values[~lost]
        filled = self.values.copy()
        filled[np.isnan(filled)] = (
            self.criterion.meeting if self.premise else self.criterion.failing
        )
        return filled

    def evaluate(self, values: np.ndarray) -> np.ndarray:
        """The statistic of `values` with a leading resample axis, shape (resamples,)."""
        if len(values[0]) == 0:
            return np.full(len(values), np.nan)
        if self.vectorised:
            return np.asarray(self.statistic(values), dtype=np.float64)
        return np.array([self.statistic(sample) for sample in values], dtype=np.float64)


@dataclass
class Evidence:
    """What a claim's check returns: the parts, the control's parts, and what the report shows.

    control_description: where the effect is absent and why the control must fail.
    rows: the report's table of numbers shown beside the parts (not judged).
    numbers: further numbers for claims_detail.json (not judged).
    """

    parts: list[Part]
    control: list[Part]
    control_description: str
    summary: str = ""
    rows: list[dict] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if not self.parts:
            raise ValueError("a claim check must judge at least one part")
        if not self.control:
            raise ValueError("every claim has a control that must fail (ARCHITECTURE.md)")


@dataclass(frozen=True)
class PartResult:
    name: str
    tolerance: str
    criterion: str
    statistic: float
    interval: tuple[float, float]
    p_holds: float
    seeds: int
    lost: int
    deterministic: bool
    paper: str
    premise: bool = False
    timed: bool = False


@dataclass(frozen=True)
class Decision:
    """The rule's answer for one set of parts: the verdict, p_holds and every part's numbers.
    p_premise: the share of resamples in which the premises hold (1 without premises); p_holds is
    then the share, among those, in which every part holds."""

    verdict: str
    p_holds: float
    parts: tuple[PartResult, ...]
    p_premise: float = 1.0

    @property
    def untested(self) -> bool:
        """The claim's setting was not reached (its premises failed): nothing was decided."""
        return self.p_premise <= FAILS_AT

    @property
    def deciding(self) -> PartResult:
        """The part with the least support: what decided the verdict (for reproduced: the weakest
        part that still held; for not_reproduced: the part that failed)."""
        return min(self.parts, key=lambda p: p.p_holds)


@dataclass(frozen=True)
class Judgement:
    """A claim's verdict with everything the report and claims.json show."""

    verdict: str
    decision: Decision  # on all runs (diverged ones counted as failing)
    survivors: Decision  # on survivors only, shown where its verdict differs
    halves: tuple[str, str]
    control: Decision
    control_description: str

    @property
    def stable(self) -> bool:
        return self.halves[0] == self.halves[1] == self.decision.verdict


def verdict_of(p_holds: float) -> str:
    if p_holds >= HOLDS_AT:
        return REPRODUCED
    if p_holds <= FAILS_AT:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def decide(parts: Sequence[Part], survivors_only: bool = False) -> Decision:
    """The bootstrap rule on `parts` (module docstring, steps 1-4)."""
    rng = np.random.default_rng(RESAMPLING_SEED)
    draws: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
    holds_all = np.ones(RESAMPLES, dtype=bool)
    premises = np.ones(RESAMPLES, dtype=bool)
    results = []
    for part in parts:
        values = part.prepared(survivors_only)
        observed = float(part.evaluate(values[None])[0])
        if part.deterministic:
            statistics = np.full(RESAMPLES, observed)
        else:
            key = (part.group or part.name, part.seeds)
            if key not in draws:  # one index draw per group of seeds, shared by its parts
                draws[key] = rng.integers(0, len(part.seeds), size=(RESAMPLES, len(part.seeds)))
            index = draws[key]
            if len(values) != len(part.seeds):  # survivors only: resample among the survivors
                index = rng.integers(0, max(len(values), 1), size=(RESAMPLES, len(values)))
            statistics = part.evaluate(values[index]) if len(values) else np.full(RESAMPLES, np.nan)
        holds = part.criterion.holds(statistics)
        holds_all &= holds
        if part.premise:
            premises &= holds
        low, high = _interval(statistics)
        results.append(
            PartResult(
                name=part.name,
                tolerance=part.tolerance,
                criterion=part.criterion.text(),
                statistic=observed,
                interval=(low, high),
                p_holds=float(holds.mean()),
                seeds=len(part.seeds),
                lost=part.lost,
                deterministic=part.deterministic,
                paper=part.paper,
                premise=part.premise,
                timed=part.timed,
            )
        )
    p_premise = float(premises.mean())
    if p_premise <= FAILS_AT:  # the claim's setting was not reached: not tested, not refuted
        return Decision(INCONCLUSIVE, math.nan, tuple(results), p_premise)
    p_holds = float(holds_all.sum() / premises.sum())
    return Decision(verdict_of(p_holds), p_holds, tuple(results), p_premise)


def _interval(statistics: np.ndarray) -> tuple[float, float]:
    formed = statistics[~np.isnan(statistics)]
    if not len(formed):
        return math.nan, math.nan
    low, high = np.quantile(formed, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2], method="inverted_cdf")
    return float(low), float(high)


def halves(parts: Sequence[Part]) -> tuple[list[Part], list[Part]]:
    """Each part on the first and on the second half of its seeds, in seed order (an odd count
    gives the first half the smaller share); deterministic parts stay whole."""
    first, second = [], []
    for part in parts:
        if part.deterministic or len(part.seeds) < 2:
            first.append(part)
            second.append(part)
            continue
        order = np.argsort(part.seeds, kind="stable")
        cut = len(order) // 2
        for half, index in ((first, order[:cut]), (second, order[cut:])):
            half.append(
                Part(
                    **{
                        **part.__dict__,
                        "seeds": [part.seeds[i] for i in index],
                        "values": part.values[index],
                    }
                )
            )
    return first, second


def judge(evidence: Evidence) -> Judgement:
    """The claim's verdict by the rule, with its halves, its survivors-only twin and its control."""
    decision = decide(evidence.parts)
    control = decide(evidence.control)
    first, second = halves(evidence.parts)
    verdict = decision.verdict if control.verdict == NOT_REPRODUCED else UNFALSIFIABLE
    return Judgement(
        verdict=verdict,
        decision=decision,
        survivors=decide(evidence.parts, survivors_only=True),
        halves=(decide(first).verdict, decide(second).verdict),
        control=control,
        control_description=evidence.control_description,
    )
