"""Is the canary measurably worse? Checked by seeded simulation with stated error rates."""

import random

from lab.traffic.error_rates import Rate, measurably_worse, rates_by_source
from lab.traffic.sampler import Answer

RUNS = 2000


def simulate(canary_rate: float, stable_rate: float, requests: int = 1000, canary_share: float = 0.1,
             seed: int = 3) -> float:
    """Share of runs in which the canary is judged measurably worse."""
    rng = random.Random(seed)
    worse = 0
    for _ in range(RUNS):
        canary, stable = Rate(0, 0), Rate(0, 0)
        for _ in range(requests):
            rate, which = (canary_rate, canary) if rng.random() < canary_share else (stable_rate, stable)
            which.answers += 1
            which.errors += rng.random() < rate
        worse += measurably_worse(canary, stable)
    return worse / RUNS


def test_equal_error_rates_are_called_worse_less_than_1_percent_of_the_time():
    assert simulate(0.05, 0.05) < 0.01


def test_a_canary_failing_30_percent_at_10_percent_of_traffic_is_caught_99_percent_of_the_time():
    assert simulate(0.30, 0.0) >= 0.99


def test_no_canary_traffic_is_never_worse():
    assert not measurably_worse(Rate(0, 0), Rate(900, 0))


def test_rates_are_counted_per_answering_version():
    answers = [Answer(200, "v1", "", "v1")] * 8 + [Answer(500, "error", "HTTP 500", "v3")] * 3 + \
        [Answer(200, "v3", "", "v3")] * 7 + [Answer(0, "error", "no answer", "")]
    rates = rates_by_source(answers)
    assert (rates["v1"].answers, rates["v1"].errors) == (8, 0)
    assert (rates["v3"].answers, rates["v3"].errors) == (10, 3)
    assert rates["unclassified"].errors == 1
    assert str(rates["v3"]).startswith("30.0% of 10 [")
