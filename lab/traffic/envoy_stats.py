"""Envoy's /stats as counts per outbound cluster: requests, 5xx answers and the latency histogram's
buckets (since Envoy started). One parser for the rollout's metrics (lab/traffic/metrics.py) and the
gateway admin's upstream counts (lab/envoy_admin.py)."""

import re
from collections import Counter
from dataclasses import dataclass, field

STATS_FILTER = (r"^cluster\.outbound\|[^.]*\|[^|]*\|[^|]*\."
                r"(upstream_rq_total|upstream_rq_5xx|upstream_cx_none_healthy|upstream_rq_time)$")
# The per-cluster totals only: Envoy also splits some by origin (`...local.external.upstream_rq_5xx`).
_STAT_LINE = re.compile(r"^cluster\.(outbound\|.+?)(?<!\.external)(?<!\.internal)(?<!\.canary)"
                        r"\.(upstream_rq_total|upstream_rq_5xx|upstream_cx_none_healthy|upstream_rq_time):\s*(.*)$")
_BUCKET = re.compile(r"([-\d.e+]+),([-\d.e+]+):(\d+)")


@dataclass
class ClusterCounts:
    """One Envoy cluster's totals since Envoy started."""
    requests: int = 0
    errors: int = 0
    latency: Counter = field(default_factory=Counter)   # (bucket lower bound ms, width ms) → count


def parse_stats(text: str) -> dict[str, ClusterCounts]:
    """/stats?histogram_buckets=detailed output → counts per cluster. A request that found no
    healthy upstream (503 UH) is in upstream_rq_5xx but not upstream_rq_total, so requests add
    upstream_cx_none_healthy (Envoy 1.40)."""
    clusters: dict[str, ClusterCounts] = {}
    current_histogram: ClusterCounts | None = None
    for line in text.splitlines():
        if line.startswith(" ") and current_histogram is not None:
            key, _, buckets = line.strip().partition("=")
            if key == "totals":
                for lower, width, number in _BUCKET.findall(buckets):
                    current_histogram.latency[(float(lower), float(width))] += int(number)
            continue
        current_histogram = None
        match = _STAT_LINE.match(line)
        if not match:
            continue
        name, stat, value = match.groups()
        counts = clusters.setdefault(name, ClusterCounts())
        if stat == "upstream_rq_time":
            current_histogram = counts
        elif value.isdigit():
            if stat == "upstream_rq_5xx":
                counts.errors += int(value)
            else:
                counts.requests += int(value)
    return clusters
