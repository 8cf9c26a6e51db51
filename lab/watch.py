"""`invoke watch`: the lab's Kiali in a terminal. About once a second: per destination, the share of
requests and the error rate over a sliding window, from the gateway's own per-cluster counters
(so the learner's own curl loops show too); the live routes with their weights; each pod's state.

Both backends give the same three things through the Backend verbs (upstream_counts,
live_routes, status). On a terminal the view is redrawn in place; elsewhere each frame is
printed in turn (what the tests read).
"""

import time
from collections import deque
from dataclasses import dataclass

from contextlib import nullcontext

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lab import ui
from lab.backends.base import Backend
from lab.envoy_admin import destination_name
from lab.traffic.chart import _bar
from lab.traffic.steady import SteadyTraffic

TRAFFIC_RATE = 20   # requests/s of --traffic: light, steady


@dataclass(frozen=True)
class Share:
    destination: str
    requests: int
    share: float        # % of the window's requests
    error_rate: float   # % of this destination's requests that failed


class Window:
    """Counter readings of the last `seconds`; the difference between the oldest and the newest is
    what happened in the window."""

    def __init__(self, seconds: float, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.readings: deque[tuple[float, dict[str, tuple[int, int]]]] = deque()

    def add(self, counts: dict[str, tuple[int, int]]) -> None:
        now = self.clock()
        self.readings.append((now, counts))
        while len(self.readings) > 2 and self.readings[1][0] <= now - self.seconds:
            self.readings.popleft()

    def shares(self) -> list[Share]:
        if len(self.readings) < 2:
            return []
        (_, first), (_, last) = self.readings[0], self.readings[-1]
        deltas = {}
        for cluster, (requests, errors) in last.items():
            before = first.get(cluster, (0, 0))
            deltas[destination_name(cluster)] = (max(0, requests - before[0]), max(0, errors - before[1]))
        total = sum(requests for requests, _ in deltas.values())
        return [Share(name, requests, 100 * requests / total if total else 0.0,
                      100 * errors / requests if requests else 0.0)
                for name, (requests, errors) in sorted(deltas.items(), key=lambda kv: -kv[1][0]) if requests]


def frame(backend: Backend, window: Window, number: int) -> RenderableType:
    """One refresh: read the gateway and the lab, and draw them."""
    window.add(backend.upstream_counts())
    status = backend.status()
    shares = window.shares()
    traffic = Table(title=f"traffic at the gateway, last {window.seconds:g} s", title_justify="left",
                    box=None, padding=(0, 1))
    for column in ("destination", "", "requests", "share", "errors"):
        traffic.add_column(column, justify="left" if column in ("destination", "") else "right")
    for share in shares:
        style = "red" if share.error_rate else "cyan"
        traffic.add_row(share.destination, _bar(share.share, style), str(share.requests), f"{share.share:.0f}%",
                        Text(f"{share.error_rate:.0f}%", style="red" if share.error_rate else "green"))
    if not shares:
        traffic.add_row(Text("no requests in the window (send some, or `invoke watch --traffic`)", style="dim"))
    routes = Table(title="live routes (from Envoy)", title_justify="left", box=None, padding=(0, 1))
    for column in ("host", "match", "destinations"):
        routes.add_column(column)
    for route in status.routes:
        host = route.host if route.scheme == "http" else f"{route.host} (https)"
        routes.add_row(host, route.match, ", ".join(str(d) for d in route.destinations))
    pods = Table(title="pods", title_justify="left", box=None, padding=(0, 1))
    for column in ("name", "state", "detail"):
        pods.add_column(column)
    for process in status.processes:
        pods.add_row(process.name, Text(process.state, style="green" if process.state == "running" else "red"),
                     process.detail)
    heading = Text(f"canary-lab watch · {status.provider} · refresh {number} · Ctrl-C stops", style="bold")
    return Group(heading, traffic, routes, pods)


def run_watch(backend: Backend, interval: float, window: float, traffic: bool, host: str, path: str,
              count: int) -> None:
    """Refresh every `interval` seconds, `count` times (0: until Ctrl-C, which ends it quietly)."""
    readings = Window(window)
    readings.add(backend.upstream_counts())   # the window's start: the first frame shows one interval
    load = SteadyTraffic(backend.gateway_endpoint("http", host)[0], host, path, rate=TRAFFIC_RATE) if traffic else nullcontext()
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
