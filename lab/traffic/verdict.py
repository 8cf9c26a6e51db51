"""A sequential verdict: does the traffic match the expected split?

Stated error rates (defaults): a split exactly as expected fails with
probability ≤ α = 1%; a split `tolerance` = 10 points off passes with
probability ≤ β = 1%. Between the two (an indifference zone) either answer
may come; roughly, errors under half the tolerance pass.

- Shares of 0% and 100% are deterministic: one answer from a destination
  expected at 0% (or from no known destination at all) fails at once. When
  every share is 0 or 100, the check passes after n right answers in a row,
  n = ceil(ln β / ln(1 − tolerance)) = 44: had ≥ 10% gone elsewhere, 44
  answers would have shown it with probability ≥ 99%.
- Otherwise, each destination with 0 < p0 < 100 gets two Wald SPRTs on "this
  answer came from it": p = p0 against p0 + tolerance, and p = p0 against
  p0 − tolerance (an alternative past 0% or 100% is clamped to it, so 100% is
  still caught as "off" from 90%; the sides split α). With two destinations only one is tested (they are
  complementary); with k ≥ 3 each gets α/k, β/k (Bonferroni). Fail as soon as any side accepts its alternative; pass
  when every side has accepted p0.
- Errors (no answer, 5xx) are not samples; more than `max_error_rate` of
  requests (and at least 3) fails the check. An error from a destination
  expected at 0% (a failing canary that should be rolled back) fails at once.
- Past `max_requests` without a decision: inconclusive (which a check does not count as a pass).

Reasons read true: the observed share with its 1 − α interval, and for a FAIL the two shares
the test weighed and the side the answers fell on (an SPRT accepts the alternative only when
the answers lie on its side of the line between the two), so a FAIL never contradicts its numbers.
"""

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from lab.errors import LabError
from lab.traffic.classify import ERROR, UNCLASSIFIED

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
MIN_ERRORS_TO_FAIL = 3
# Wald's boundaries only approximate the error rates (Bernoulli steps overshoot them, and a
# pass needs both sides). The boundaries use 80% of α and β, so the realized rates stay
# under the stated ones; tests/test_verdict.py measures them by simulation.
BOUNDARY_SHADING = 0.8


@dataclass(frozen=True)
class Expectation:
    shares: dict[str, float]      # destination → expected percent, adding up to 100
    tolerance: float = 10.0       # percentage points
    alpha: float = 0.01
    beta: float = 0.01
    max_requests: int = 2000
    max_error_rate: float = 0.01
    count_failed_answers: bool = False   # a failed answer that names its sender counts for it (the split is routing)

    def __post_init__(self):
        if not self.shares or any(not 0 <= p <= 100 for p in self.shares.values()):
            raise LabError(f"expected shares {self.shares} must each be 0 to 100", "fix the check's expect")
        if abs(sum(self.shares.values()) - 100) > 0.01:
            raise LabError(f"expected shares add up to {sum(self.shares.values()):g}, not 100",
                           "fix the check's expect")
        if not 0 < self.tolerance < 100:
            raise LabError(f"tolerance {self.tolerance} must be between 0 and 100 points", "fix the check")

    @property
    def deterministic(self) -> bool:
        return all(p in (0, 100) for p in self.shares.values())

    def streak_needed(self) -> int:
        return math.ceil(math.log(self.beta) / math.log(1 - self.tolerance / 100))


@dataclass
class Verdict:
    decision: str | None
    requests: int
    counts: dict[str, int]
    reason: str
    alpha: float = 0.01

    @property
    def classified(self) -> int:
        return sum(n for name, n in self.counts.items() if name not in (ERROR, UNCLASSIFIED))

    def share(self, name: str) -> float:
        return 100 * self.counts.get(name, 0) / self.classified if self.classified else 0.0

    def interval(self, name: str) -> tuple[float, float]:
        """Wilson score interval (confidence 1 − α) for the share, in percent."""
        n = self.classified
        if n == 0:
            return 0.0, 100.0
        z = NormalDist().inv_cdf(1 - self.alpha / 2)
        p = self.counts.get(name, 0) / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


@dataclass
class _Side:
    """One Wald SPRT: H0 p = p0 against H1 p = p1, on 'the answer came from this destination'."""
    p0: float
    p1: float
    upper: float                       # accept H1 at or above
    lower: float                       # accept H0 at or below
    llr: float = 0.0
    outcome: str | None = None         # "h0" | "h1"
    step_hit: float = field(init=False)
    step_miss: float = field(init=False)

    def __post_init__(self):
        # An alternative at the edge (0% or 100%) is allowed: one answer it rules out
        # settles that side at once (log 0 = -inf).
        self.step_hit = math.log(self.p1 / self.p0) if self.p1 > 0 else -math.inf
        self.step_miss = math.log((1 - self.p1) / (1 - self.p0)) if self.p1 < 1 else -math.inf

    def add(self, hit: bool) -> None:
        if self.outcome:
            return
        self.llr += self.step_hit if hit else self.step_miss
        if self.llr >= self.upper:
            self.outcome = "h1"
        elif self.llr <= self.lower:
            self.outcome = "h0"


class SequentialVerdict:
    def __init__(self, expectation: Expectation):
        self.expectation = expectation
        self.counts = {name: 0 for name in expectation.shares} | {UNCLASSIFIED: 0, ERROR: 0}
        self.requests = 0
        self.streak = 0
        self.decision: str | None = None
        self.reason = "undecided"
        self.sides: dict[str, list[_Side]] = self._sides()

    def _sides(self) -> dict[str, list[_Side]]:
        e = self.expectation
        tested = sorted(name for name, p in e.shares.items() if 0 < p < 100)
        if len(tested) == 2:
            tested = tested[:1]
        k = max(1, len(tested))
        sides = {}
        for name in tested:
            p0 = e.shares[name] / 100
            # Alternatives past an edge are clamped to it: 100% is still "10 points off" a 90% share.
            alternatives = sorted({min(1.0, max(0.0, p0 + sign * e.tolerance / 100)) for sign in (1, -1)} - {p0})
            # A false fail can come from either side, so the sides share α; a false pass
            # needs the side facing the true split to err, so each side keeps all of β.
            alpha = BOUNDARY_SHADING * e.alpha / k / len(alternatives)
            beta = BOUNDARY_SHADING * e.beta / k
            upper, lower = math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))
            sides[name] = [_Side(p0, p1, upper, lower) for p1 in alternatives]
        return sides

    def add(self, outcome: str, source: str = "") -> str | None:
        """One answer: its outcome (a destination, ERROR or UNCLASSIFIED) and, for an error that
        still says who sent it (a 500 with x-version), its source."""
        if self.decision:
            return self.decision
        if outcome == ERROR and source not in ("", ERROR, UNCLASSIFIED) and \
                (not self.expectation.shares.get(source) or self.expectation.count_failed_answers):
            outcome = source   # an answer from a destination that should get nothing is wrong, failed or not
        self.requests += 1
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        e = self.expectation
        if outcome == ERROR:
            errors = self.counts[ERROR]
            if errors >= MIN_ERRORS_TO_FAIL and errors / self.requests > e.max_error_rate:
                self._decide(FAIL, f"{errors} of {plural(self.requests, 'request')} failed "
                                   f"({100 * errors / self.requests:.0f}%, "
                                   f"more than {100 * e.max_error_rate:g}% allowed)")
        elif e.shares.get(outcome, 0) == 0:
            what = "an answer matched none of the expected apps" if outcome == UNCLASSIFIED else \
                f"an answer came from {outcome}, which should get 0%"
            self._decide(FAIL, f"{what} (answer {self.requests})")
        elif e.deterministic:
            self.streak += 1
            if self.streak >= e.streak_needed():
                self._decide(PASS, self._all_reason())
        else:
            for name, sides in self.sides.items():
                for side in sides:
                    side.add(outcome == name)
            self._judge_sides()
        if not self.decision and self.requests >= e.max_requests:
            self._decide(INCONCLUSIVE, f"after {plural(self.requests, 'request')} the split ({self._observed()}) "
                                       f"is neither clearly within nor clearly outside {e.tolerance:g} points of "
                                       f"{self._expected()}; run the check again")
        return self.decision

    def out_of_time(self, seconds: float) -> None:
        """The check's time ran out before the answers decided: inconclusive, saying so."""
        if not self.decision:
            self._decide(INCONCLUSIVE, f"after {plural(self.requests, 'request')} in {seconds:g} s, the check's time "
                                       f"limit, the split ({self._observed()}) is not decided: the answers are slow; "
                                       "run the check again (`invoke traffic` shows which destination is slow)")

    def _judge_sides(self) -> None:
        e = self.expectation
        for name, sides in self.sides.items():
            crossed = next((side for side in sides if side.outcome == "h1"), None)
            if crossed:
                self._decide(FAIL, f"{name} got {self._share_with_interval(name)}; expected "
                                   f"{e.shares[name]:g}%. The test weighs {100 * crossed.p0:g}% (right) against "
                                   f"{100 * crossed.p1:g}% ({e.tolerance:g} points off), and these answers sit on "
                                   f"the {100 * crossed.p1:g}% side of the line between them")
                return
        if all(side.outcome == "h0" for sides in self.sides.values() for side in sides):
            tested = ", ".join(f"{name} {self._share_with_interval(name)}" for name in self.sides)
            weighed = "; ".join(f"{name}: {100 * sides[0].p0:g}% (right) against "
                                f"{' and '.join(f'{100 * side.p1:g}%' for side in sides)}"
                                for name, sides in self.sides.items())
            self._decide(PASS, f"{tested}: consistent with {an(self._expected())} split — the test weighed {weighed} "
                               f"({e.tolerance:g} points off), and these answers are likelier under the right share")

    def _share_with_interval(self, name: str) -> str:
        verdict = self.verdict
        low, high = verdict.interval(name)
        return (f"{verdict.share(name):.0f}% of {plural(verdict.classified, 'answer')} "
                f"({100 * (1 - self.expectation.alpha):g}% interval {low:.0f}–{high:.0f}%)")

    def _all_reason(self) -> str:
        e = self.expectation
        [name] = [n for n, p in e.shares.items() if p == 100]
        return (f"all {plural(self.streak, 'answer')} came from {name}; had {e.tolerance:g}% or more gone elsewhere, "
                f"{plural(self.streak, 'answer')} would show it with probability ≥ {100 * (1 - e.beta):g}%")

    def _observed(self) -> str:
        verdict = self.verdict
        return " / ".join(f"{name} {verdict.share(name):.0f}%" for name in self.expectation.shares)

    def _expected(self) -> str:
        return "/".join(f"{p:g}" for p in self.expectation.shares.values())

    def _decide(self, decision: str, reason: str) -> None:
        self.decision = decision
        self.reason = reason

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.decision, self.requests, dict(self.counts), self.reason, self.expectation.alpha)


def plural(n: int, word: str) -> str:
    """"1 request", "2 requests"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def an(split: str) -> str:
    """"an 80/20", "a 90/10": by how the number is said."""
    return ("an " if split[:1] == "8" or split.startswith(("11/", "18/")) else "a ") + split


def rates_in_words(alpha: float, beta: float, tolerance: float) -> str:
    """What α and β mean, said once in plain words."""
    return (f"α = {alpha:g}: a right split fails this check at most {one_in(alpha)}; β = {beta:g}: a split "
            f"{tolerance:g} points off passes it at most {one_in(beta)}")


def one_in(rate: float) -> str:
    return f"1 time in {round(1 / rate):,}" if rate > 0 else "never"
