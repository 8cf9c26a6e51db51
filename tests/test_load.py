"""Under steady traffic the local gateway behaves like Istio's: a dead replica or a config change
costs no request (Istio's default retries, clusters drained before they go). Loopback only,
bounded in time: a few seconds of traffic from a few threads."""

import http.client
import os
import signal
import threading
import time
from collections import Counter

import psutil
import pytest

from lab.config import EXERCISES_DIR, PROJECT_DIR
from tests.lab_process import running_lab

pytestmark = pytest.mark.slow

SAMPLE = (PROJECT_DIR / "apps" / "sample-apps.yaml").read_text()
SOLUTION = (EXERCISES_DIR / "canary" / "solutions" / "virtualservice-80-20.yaml").read_text()
ONLY_HTTPBIN = (EXERCISES_DIR / "canary" / "solutions" / "virtualservice-100.yaml").read_text()


def split(httpbin: int) -> str:
    return SOLUTION.replace("weight: 80", "weight: HTTPBIN").replace("weight: 20", f"weight: {100 - httpbin}") \
        .replace("HTTPBIN", str(httpbin))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("load"),
                     ("apply", "-", SAMPLE.replace("replicas: 1", "replicas: 2", 1)),
                     ("apply", str(EXERCISES_DIR / "canary" / "manifests" / "gateway.yaml")),
                     ("apply", "-", split(50))) as lab:
        yield lab


class Traffic:
    """Keep-alive GETs through the gateway from a few threads until stopped; counts statuses."""

    def __init__(self, port: int, threads: int = 3):
        self.port, self.counts, self.stopping = port, Counter(), threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def until(self, answered: int, timeout: float = 30.0) -> None:
        """Until the gateway has answered this many requests (a count, not a guess at the time it takes)."""
        deadline = time.monotonic() + timeout
        while sum(self.counts.values()) < answered and time.monotonic() < deadline:
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stopping.is_set():
            try:
                connection.request("GET", "/", headers={"Host": "canary.lab.local"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = "no answer"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            with self.lock:
                self.counts[status] += 1
        connection.close()


def failures(counts: Counter) -> dict:
    return {status: n for status, n in counts.items() if status != 200}


def test_a_replica_that_died_costs_almost_no_request(lab):
    """Istio's default retry (connect-failure, to another host): the dead replica's share is retried.
    Not quite all: a retry picks its host at random too, and can meet the dead one again (seen: 1
    in about 1,000). Without retries a quarter of the requests fail (253 of 1,005 when tried)."""
    [victim, *_] = [s["pid"] for n, s in sorted(lab.processes.status().items()) if n.startswith("canary-lab/httpbin")]
    os.kill(victim, signal.SIGKILL)   # its endpoint stays in the gateway's cluster until `up` restarts it
    psutil.wait_procs([psutil.Process(victim)], timeout=10)   # gone (a zombie until reaped): connections refused
    with Traffic(lab.port) as traffic:
        traffic.until(600)              # a quarter of them would go to the dead replica first
    try:
        total = sum(traffic.counts.values())
        assert total > 100
        assert sum(failures(traffic.counts).values()) <= 0.005 * total, traffic.counts
    finally:
        lab.invoke("up")   # the next test starts with both replicas, whatever happened here


def test_applies_that_change_weights_and_remove_a_destination_fail_no_request(lab):
    changes = [split(10), ONLY_HTTPBIN, split(90), ONLY_HTTPBIN, split(50), split(20)]
    with Traffic(lab.port) as traffic:
        for manifest in changes:
            lab.invoke("apply", "-", input=manifest)
    assert sum(traffic.counts.values()) > 200
    assert not failures(traffic.counts), traffic.counts
