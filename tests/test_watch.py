"""`invoke watch` driven for real: frames read from its output while the lab changes under it
(another terminal's apply and delete), on a real local lab with --traffic."""

import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from lab.config import EXERCISES_DIR, PROJECT_DIR
from lab.traffic.envoy_stats import ClusterCounts
from lab.watch import Window
from tests.lab_process import ctrl_c, new_lab

pytestmark = pytest.mark.slow

SOLUTIONS = EXERCISES_DIR / "canary" / "solutions"
RULE = "────"


@pytest.fixture
def lab(tmp_path):
    lab = new_lab(tmp_path)
    lab.invoke("up", "--provider", "local")
    lab.invoke("apply", str(EXERCISES_DIR / "canary" / "manifests" / "gateway.yaml"))
    lab.invoke("apply", str(SOLUTIONS / "virtualservice-80-20.yaml"))
    yield lab
    lab.cleanup()


class Frames:
    """The frames a running `invoke watch` prints, one at a time."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    def next(self) -> str:
        lines = []
        for line in self.process.stdout:
            if line.startswith(RULE):
                return " ".join(" ".join(lines).split())
            lines.append(line)
        raise AssertionError(f"watch ended: {self.process.stderr.read()}")

    def until(self, condition, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = self.next()
            if condition(shown):
                return shown
        raise AssertionError(f"no frame within {seconds:g} s showed it; the last:\n{shown}")


def row(frame: str, destination: str) -> tuple[int, int, int] | None:
    """(requests, share %, errors %) of a destination in a frame's traffic table."""
    found = re.search(rf"{re.escape(destination)} [█·]+ (\d+) (\d+)% (\d+)%", frame)
    return tuple(int(g) for g in found.groups()) if found else None


def test_watch_shows_shares_errors_routes_and_pods_and_follows_changes_within_seconds(lab):
    watch = subprocess.Popen([sys.executable, "-m", "invoke", "watch", "--traffic", "--interval", "0.5",
                              "--window", "2"], cwd=PROJECT_DIR, env=lab.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    frames = Frames(watch)
    try:
        first = frames.until(lambda f: row(f, "tornado.canary-lab") and row(f, "httpbin.canary-lab"))
        assert "canary-lab watch · local" in first
        assert "httpbin.canary-lab: 80, tornado.canary-lab: 20" in first       # the live route's weights
        assert re.search(r"canary-lab/httpbin-\w+-0 running", first) and "gateway running" in first
        assert row(first, "httpbin.canary-lab")[2] == 0 and row(first, "tornado.canary-lab")[2] == 0

        lab.invoke("delete", "deploy", "tornado")      # its 20% now finds no healthy upstream
        broken = frames.until(lambda f: (row(f, "tornado.canary-lab") or (0, 0, 0))[2] == 100)
        assert not re.search(r"canary-lab/tornado-\w+-0", broken)               # its pod is gone
        assert row(broken, "httpbin.canary-lab")[2] == 0

        lab.invoke("apply", str(PROJECT_DIR / "apps" / "sample-apps.yaml"))
        lab.invoke("apply", str(SOLUTIONS / "virtualservice-100.yaml"))       # all of / to httpbin
        shifted = frames.until(lambda f: "uri /* httpbin.canary-lab: 100" in f and not row(f, "tornado.canary-lab"))
        assert row(shifted, "httpbin.canary-lab")[1] == 100
    finally:
        out, err = ctrl_c(watch)
    assert watch.returncode == 130 and "watch stopped." in out and "Traceback" not in err   # as every Ctrl-C


def test_the_window_counts_only_its_last_seconds():
    now = [0.0]
    window = Window(2, clock=lambda: now[0])
    cluster = "outbound|80||httpbin.canary-lab.svc.cluster.local"
    for second, (requests, errors) in enumerate([(0, 0), (100, 0), (110, 5), (120, 10)]):
        now[0] = float(second)
        # latency: 100 requests in the 0-1 ms bucket before t=1, then 20 in the 10-11 ms one
        latency = Counter({(0.0, 1.0): min(requests, 100), (10.0, 1.0): max(0, requests - 100)})
        window.add({cluster: ClusterCounts(requests, errors, latency)})
    [share] = window.shares()            # from t=1 to t=3: 20 requests, 10 of them errors
    assert (share.destination, share.requests, share.share, share.error_rate) == ("httpbin.canary-lab", 20, 100, 50)
    assert 10 <= share.p95 <= 11         # the window's latency only, not the 100 fast ones before it
