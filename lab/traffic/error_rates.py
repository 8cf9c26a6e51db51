"""Error rate per destination, and whether a canary is measurably worse than stable.

"Worse" means the two 99% Wilson intervals do not overlap (canary's lower bound above
stable's upper bound): when the two really fail equally often, that happens less
than 1% of the time.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

from lab.traffic.classify import UNCLASSIFIED
from lab.traffic.sampler import Answer

CONFIDENCE = 0.99


@dataclass
class Rate:
    answers: int
    errors: int

    @property
    def value(self) -> float:
        return self.errors / self.answers if self.answers else 0.0

    def interval(self) -> tuple[float, float]:
        n = self.answers
        if n == 0:
            return 0.0, 1.0
        z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)
        p = self.value
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def __str__(self) -> str:
        low, high = self.interval()
        return f"{100 * self.value:.1f}% of {self.answers} [{100 * low:.1f}–{100 * high:.1f}%]"


def rates_by_source(answers: list[Answer]) -> dict[str, Rate]:
    rates: dict[str, Rate] = {}
    for answer in answers:
        source = answer.source or UNCLASSIFIED
        rate = rates.setdefault(source, Rate(0, 0))
        rate.answers += 1
        rate.errors += answer.status == 0 or answer.status >= 500
    return rates


def measurably_worse(canary: Rate, stable: Rate) -> bool:
    return canary.answers > 0 and stable.answers > 0 and canary.interval()[0] > stable.interval()[1]
