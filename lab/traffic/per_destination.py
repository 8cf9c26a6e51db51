"""`invoke metrics`: per destination (a version, when versions are subsets) the request rate, the
error rate and latency percentiles over one window, as the gateway's own Envoy counted them.

The numbers are what a learner holds against an SLO; the lab gives no verdict of its own. The
window is either traffic the command sends itself (`--requests N`) or whatever arrives during
`--window` seconds (a curl loop, `invoke traffic`). Envoy merges latency histograms into /stats
only when it flushes (lab/traffic/metrics.py), so the closing reading waits, a few seconds at
most, until every request counted has its latency sample too.
"""

import time
from dataclasses import dataclass
from typing import Callable

from lab import ui
from lab.envoy_admin import EnvoyAdmin, destination_name
from lab.traffic import metrics
from lab.traffic.metrics import Reading, WindowStats

FLUSH_WAIT = 7.0     # seconds: Istio's gateway flushes every 5 s, the local lab's every second
PERCENTILES = (50, 95, 99)
ON_A_CLUSTER = ("On a cluster, Prometheus keeps the same numbers from every sidecar and gateway: "
                "istio_requests_total and istio_request_duration_milliseconds, by destination_version.")


@dataclass(frozen=True)
class Row:
    destination: str      # `checkout.checkout (v2)`, as routes show it
    stats: WindowStats
    seconds: float

    @property
    def rate(self) -> float:
        return self.stats.requests / self.seconds if self.seconds > 0 else 0.0


def measure(admin: EnvoyAdmin, during: Callable[[], None], flush_wait: float = FLUSH_WAIT) -> list[Row]:
    """Read the gateway's counters, run `during` (it sends traffic, or waits), read them again once the
    latency histograms caught up; one Row per destination that got requests, busiest first."""
    start = metrics.read(admin)
    during()
    ended = time.monotonic()
    deadline = ended + flush_wait
    while True:
        now = metrics.read(admin)
        windows = _windows(start, now)
        flushed = all(w.latency_samples >= w.requests for w in windows.values())
        if flushed or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    seconds = max(ended - start.taken_at, 1e-9)
    rows = [Row(name, stats, seconds) for name, stats in windows.items() if stats.requests]
    return sorted(rows, key=lambda row: (-row.stats.requests, row.destination))


def _windows(earlier: Reading, later: Reading) -> dict[str, WindowStats]:
    destinations = {}
    for cluster in later.clusters:
        name = destination_name(cluster)
        service, _, subset = name.partition(" (")
        destinations[name] = metrics.Destination(service, subset.rstrip(")"))
    return {name: metrics.window(earlier, later, destination) for name, destination in destinations.items()}


def show(rows: list[Row], what: str) -> None:
    if not rows:
        ui.info(f"No requests reached any destination through the gateway during {what}.")
        return
    table = ui.table(title=f"What the gateway counted during {what}")
    # Never cut a destination's name: it says which version a row is.
    table.add_column("destination", no_wrap=True, min_width=max(len(row.destination) for row in rows))
    for heading in ("requests", "req/s", "5xx", "error rate", *(f"p{q}" for q in PERCENTILES)):
        table.add_column(heading, justify="right")
    for row in rows:
        stats = row.stats
        cells = [_ms(stats.percentile(q)) for q in PERCENTILES]
        table.add_row(row.destination, str(stats.requests), f"{row.rate:.1f}", str(stats.errors),
                      f"{stats.error_rate:.1f}%", *cells)
    ui.console.print(table)
    ui.info("[dim]Latency is the gateway's upstream time per request (Envoy's upstream_rq_time), "
            f"interpolated within its histogram buckets. {ON_A_CLUSTER}[/]")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
