"""`invoke watch`: the lab's Kiali in a terminal. About once a second: per destination, the share of
requests, the error rate and the p95 latency over a sliding window, from the gateway's own
per-cluster counters (so the learner's own curl loops show too); the live routes with their
weights; each pod's state. `invoke dashboard` draws the same window in a browser.

Both backends give the same three things through the Backend verbs (read_gateways: Envoy's
/stats, read as lab/traffic/metrics.py reads them; live_routes; status). On a terminal the view
is redrawn in place; elsewhere each frame is printed in turn (what the tests read).
"""

import time
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from lab import ui
from lab.backends.base import Backend
from lab.envoy_admin import destination_name
from lab.traffic.chart import _bar
from lab.traffic.envoy_stats import ClusterCounts
from lab.traffic.metrics import Destination, Reading, read, window
from lab.traffic.steady import SteadyTraffic

TRAFFIC_RATE = 20   # requests/s of --traffic: light, steady


@dataclass(frozen=True)
class Share:
    destination: str
    requests: int
    share: float           # % of the window's requests
    error_rate: float      # % of this destination's requests that failed
    p95: float | None      # ms, over the window's requests (None: no latency sample yet)


class Window:
    """Readings of the gateway's per-cluster counters over the last `seconds` (lab/traffic/metrics.py,
    as `invoke metrics` and `invoke rollout` read them); the difference between the oldest and the
    newest is what happened in the window."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.readings: deque[Reading] = deque()

    def add(self, clusters: dict[str, ClusterCounts]) -> None:
        now = self.clock()
        self.readings.append(Reading(now, clusters))
        while len(self.readings) > 2 and self.readings[1].taken_at <= now - self.seconds:
            self.readings.popleft()

    def clear(self) -> None:
        self.readings.clear()

    def shares(self) -> list[Share]:
        if len(self.readings) < 2:
            return []
        first, last = self.readings[0], self.readings[-1]
        destinations = {destination_name(c): _destination(c) for c in last.clusters}
        stats = {name: window(first, last, destination) for name, destination in destinations.items()}
        total = sum(s.requests for s in stats.values())
        return [Share(name, s.requests, 100 * s.requests / total if total else 0.0, s.error_rate, s.percentile(95))
                for name, s in sorted(stats.items(), key=lambda kv: -kv[1].requests) if s.requests]


def _destination(cluster: str) -> Destination:
    """`outbound|80|v1|httpbin.ns.svc.cluster.local` → the destination it serves (service, subset)."""
    parts = cluster.split("|")
    return Destination(".".join(parts[3].split(".")[:2]), parts[2]) if len(parts) == 4 else Destination(cluster)


def gateway_counters(backend: Backend) -> dict[str, ClusterCounts]:
    """Every gateway's per-cluster counters and latency buckets, summed by cluster (a cluster's Gateway
    API track has gateways of its own beside the ingress gateway)."""
    summed: dict[str, ClusterCounts] = {}
    for reading in backend.read_gateways(read):
        for name, counts in reading.clusters.items():
            total = summed.setdefault(name, ClusterCounts())
            total.requests += counts.requests
            total.errors += counts.errors
            total.latency.update(counts.latency)
    return summed


def frame(backend: Backend, window: Window, number: int) -> RenderableType:
    """One refresh: read the gateway and the lab, and draw them."""
    window.add(gateway_counters(backend))
    status = backend.status()
    shares = window.shares()
    traffic = ui.table(title=f"traffic at the gateway, last {window.seconds:g} s", title_justify="left",
                       box=None, padding=(0, 1))
    for column in ("destination", "", "requests", "share", "errors", "p95"):
        traffic.add_column(column, justify="left" if column in ("destination", "") else "right")
    for share in shares:
        style = "red" if share.error_rate else "cyan"
        traffic.add_row(share.destination, _bar(share.share, style), str(share.requests), f"{share.share:.0f}%",
                        Text(f"{share.error_rate:.0f}%", style="red" if share.error_rate else "green"),
                        "-" if share.p95 is None else f"{share.p95:.0f} ms")
    if not shares:
        traffic.add_row(Text("no requests in the window (send some, or `invoke watch --traffic`)", style="dim"))
    routes = ui.table(title="live routes (from Envoy)", title_justify="left", box=None, padding=(0, 1))
    for column in ("host", "match", "destinations"):
        routes.add_column(column)
    for route in status.routes:
        host = route.host if route.scheme == "http" else f"{route.host} (https)"
        routes.add_row(host, route.match, ", ".join(str(d) for d in route.destinations))
    pods = ui.table(title="pods", title_justify="left", box=None, padding=(0, 1))
    for column in ("name", "state", "detail"):
        pods.add_column(column)
    for process in status.processes:
        pods.add_row(process.name, Text(process.state, style="green" if process.state == "running" else "red"),
                     process.detail)
    heading = Text(f"canary-lab watch · {status.provider} · refresh {number} · Ctrl-C stops", style="bold")
    return Group(heading, traffic, routes, pods)


def run_watch(backend: Backend, interval: float, window: float, traffic: bool, host: str, path: str,
              count: int) -> None:
    """Refresh every `interval` seconds, `count` times (0: until Ctrl-C, which exits 130 as elsewhere)."""
    readings = Window(window)
    readings.add(gateway_counters(backend))   # the window's start: the first frame shows one interval
    load = (SteadyTraffic(backend.gateway_endpoint("http", host)[0], host, path, rate=TRAFFIC_RATE) if traffic
            else nullcontext())
    shown = 0
    try:
        with load:
            if ui.console.is_terminal:   # redrawn in place
                with Live(console=ui.console, auto_refresh=False) as live:
                    while not count or shown < count:
                        time.sleep(interval)
                        shown += 1
                        live.update(frame(backend, readings, shown), refresh=True)
            else:                        # piped, or in a test: one frame after another
                while not count or shown < count:
                    time.sleep(interval)
                    shown += 1
                    ui.console.print(frame(backend, readings, shown))
                    ui.console.rule(style="dim")
    except KeyboardInterrupt:
        ui.info("watch stopped.")
        raise   # 130 through the edge, as every command that Ctrl-C ends
