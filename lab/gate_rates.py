"""How often the rollout's gate is wrong, as the checks state their α and β.

A window's gate compares what it saw with fixed limits: errors ≤ --max-error-rate percent of the
canary's requests, p95 ≤ --max-p95-ms. A window of n requests sees a sample, so a canary erring at
half the limit is still rolled back now and then, and one erring at twice the limit promoted: both
are binomial tails, stated here so `invoke rollout` can print them beside its knobs. (A p95 over
the limit means more than 5% of the window's answers took longer: the same tail, with the share
of answers over the limit in place of the error rate.)
"""

import math


def more_than(n: int, share: float, limit: float) -> float:
    """P(more than `limit` × n of n draws hit), each hitting with probability `share` (0–1)."""
    most = math.floor(limit * n + 1e-9)      # at most this many hits pass
    if share <= 0:
        return 0.0
    if share >= 1:
        return 1.0 if most < n else 0.0
    log_p, log_q = math.log(share), math.log1p(-share)
    total = 0.0
    for hits in range(min(most, n) + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(hits + 1) - math.lgamma(n - hits + 1)
                          + hits * log_p + (n - hits) * log_q)
    return max(0.0, 1.0 - total)


def window_rollback(n: int, error_rate: float, max_error_rate: float) -> float:
    """P(one window of n canary requests rolls back on errors), both rates in percent."""
    return more_than(n, error_rate / 100, max_error_rate / 100)


def rollout_rollback(per_window: float, steps: int) -> float:
    """P(at least one of `steps` windows rolls back), windows independent."""
    return 1 - (1 - per_window) ** steps


def gate_in_words(n: int, max_error_rate: float, steps: int) -> str:
    """The gate's error rates at n canary requests a window, said once beside the knobs."""
    half, twice = max_error_rate / 2, max_error_rate * 2
    wrong_rollback = window_rollback(n, half, max_error_rate)
    wrong_promote = 1 - window_rollback(n, twice, max_error_rate)
    over = more_than(n, 0.025, 0.05)
    return (f"gate error rates at {n} canary requests a window: a canary erring {half:g}% (half the limit) is "
            f"rolled back {percent(wrong_rollback)} of windows ({percent(rollout_rollback(wrong_rollback, steps))} of "
            f"{steps}-step rollouts), one erring {twice:g}% (twice) passes {percent(wrong_promote)} of windows; "
            f"a canary with 2.5% of answers over --max-p95-ms fails the p95 gate {percent(over)} of windows. "
            "More requests a window (a longer --interval, more traffic) make both rarer")


def percent(probability: float) -> str:
    return f"{100 * probability:.0f}%" if probability >= 0.01 or probability == 0 else "under 1%"
