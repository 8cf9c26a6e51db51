"""What the gateway itself counted per destination: requests, 5xx answers and latency.

Read from Envoy's /stats on both backends (the local gateway and Istio's ingress gateway
are Envoys; their clusters are named `outbound|port|subset|fqdn`). Counters are totals since
Envoy started, so a window is the difference of two readings. Latency comes from the
`upstream_rq_time` histogram's detailed buckets (`histogram_buckets=detailed`), differenced
the same way, so a p95 is over the window and not since start. Envoy merges histograms into
/stats only when it flushes its stats (the local lab: every second; Envoy's default: 5 s).
"""

import time
from collections import Counter
from dataclasses import dataclass

from lab.envoy_admin import EnvoyAdmin
from lab.traffic.envoy_stats import STATS_FILTER, ClusterCounts, parse_stats


@dataclass(frozen=True)
class Reading:
    taken_at: float
    clusters: dict[str, ClusterCounts]




def read(admin: EnvoyAdmin) -> Reading:
    return Reading(time.monotonic(), parse_stats(admin.stats_text(STATS_FILTER, histogram_buckets="detailed")))


@dataclass(frozen=True)
class Destination:
    """A route destination as a VirtualService names it: service `host.namespace`, maybe a subset."""
    service: str
    subset: str = ""

    def owns(self, cluster: str) -> bool:
        parts = cluster.split("|")
        return (len(parts) == 4 and parts[2] == self.subset
                and ".".join(parts[3].split(".")[:2]) == self.service)


@dataclass(frozen=True)
class WindowStats:
    """One destination over a window: what the gateway counted between two readings."""
    requests: int
    errors: int
    latency: Counter

    @property
    def error_rate(self) -> float:
        """Percent of requests answered 5xx (0 with no requests)."""
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    @property
    def latency_samples(self) -> int:
        return sum(self.latency.values())

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100) of upstream time in ms, interpolated within Envoy's bucket;
        None with no samples."""
        total = self.latency_samples
        if not total:
            return None
        rank = q / 100 * total
        seen = 0
        for (lower, width), number in sorted(self.latency.items()):
            if number and seen + number >= rank:
                return lower + width * (rank - seen) / number
            seen += number
        lower, width = max(self.latency)
        return lower + width


def window(earlier: Reading, later: Reading, destination: Destination) -> WindowStats:
    """The destination's traffic between two readings (all its ports). If Envoy restarted in
    between (its totals went down), the later reading alone is the window."""
    def totals(reading: Reading) -> ClusterCounts:
        summed = ClusterCounts()
        for name, counts in reading.clusters.items():
            if destination.owns(name):
                summed.requests += counts.requests
                summed.errors += counts.errors
                summed.latency.update(counts.latency)
        return summed

    before, after = totals(earlier), totals(later)
    if after.requests < before.requests or after.errors < before.errors:
        before = ClusterCounts()
    latency = Counter(after.latency)
    latency.subtract(before.latency)
    return WindowStats(requests=after.requests - before.requests, errors=after.errors - before.errors,
                       latency=Counter({bucket: n for bucket, n in latency.items() if n > 0}))
