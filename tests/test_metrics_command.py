"""`invoke metrics` through the real Envoy gateway: per version, the requests and 5xx it shows are
exactly what clients got, and its percentiles find a regression that is in the tail only.

The lab runs the metrics exercise's checkout at 50/50, with v2 as the exercise ships it (one
answer in five 400 ms slower) plus errors on a quarter of its answers, so every column has
something to show."""

import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from lab import commands
from lab.envoy_admin import EnvoyAdmin
from lab.exercises.catalogue import load_exercise
from lab.state import load_state
from lab.traffic.per_destination import measure
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

HOST = "metrics.lab.local"
SLOW_MS = 400          # v2's LATENCY_MS in the exercise
# Envoy's detailed buckets are a few percent wide; a busy machine adds some upstream time.
SLOW_FLOOR, SLOW_CEILING, FAST_CEILING = SLOW_MS * 0.95, SLOW_MS + 200, 150


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = load_exercise("metrics").folder
    app = (folder / "manifests" / "app.yaml").read_text()
    assert f'{{name: LATENCY_MS, value: "{SLOW_MS}"}}' in app
    app = app.replace('            - {name: VERSION, value: v2}\n',
                      '            - {name: VERSION, value: v2}\n            - {name: ERROR_RATE, value: "0.25"}\n')
    half = (folder / "solutions" / "virtualservice-80-20.yaml").read_text() \
        .replace("weight: 80", "weight: 50").replace("weight: 20", "weight: 50")
    root = tmp_path_factory.mktemp("metrics-lab")
    lab = new_lab(root)
    try:
        lab.invoke("up", "--provider", "local")
        manifest = root / "checkout.yaml"
        manifest.write_text(app + "\n---\n" + half)
        lab.invoke("apply", str(manifest))
        yield lab
    finally:
        lab.cleanup()


def send(lab, requests: int) -> dict[str, list[int]]:
    """`requests` GETs, 8 at a time; per version [answers, 5xx answers] as the client saw them."""
    def one(_):
        request = urllib.request.Request(lab.url + "/", headers={"Host": HOST})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.headers["x-version"], response.status
        except urllib.error.HTTPError as e:
            return e.headers["x-version"], e.code

    seen = {"v1": [0, 0], "v2": [0, 0]}
    with ThreadPoolExecutor(8) as pool:
        for version, status in pool.map(one, range(requests)):
            seen[version][0] += 1
            seen[version][1] += status >= 500
    return seen


def admin_of(lab) -> EnvoyAdmin:
    return EnvoyAdmin(f"http://127.0.0.1:{load_state(lab.paths).settings['admin_port']}")


def test_it_counts_what_clients_got_and_finds_the_slow_tail(lab):
    seen = {}
    rows = measure(admin_of(lab), lambda: seen.update(send(lab, 400)))
    by_version = {row.destination: row for row in rows}
    assert set(by_version) == {"checkout.checkout (v1)", "checkout.checkout (v2)"}
    v1, v2 = by_version["checkout.checkout (v1)"].stats, by_version["checkout.checkout (v2)"].stats
    assert (v1.requests, v1.errors) == tuple(seen["v1"]) and (v2.requests, v2.errors) == tuple(seen["v2"])
    assert v1.latency_samples == v1.requests and v2.latency_samples == v2.requests   # histograms flushed
    assert v1.errors == 0 and v2.errors > 0
    assert v2.error_rate == pytest.approx(100 * seen["v2"][1] / seen["v2"][0])
    # The tail, not the median: v2's p50 is as fast as v1's, its p95 is the slow answers'.
    assert v1.percentile(95) < FAST_CEILING and v2.percentile(50) < FAST_CEILING
    assert SLOW_FLOOR <= v2.percentile(95) <= SLOW_CEILING
    assert v2.percentile(50) <= v2.percentile(95) <= v2.percentile(99)


def test_the_command_shows_each_version_as_a_row(lab):
    shown = lab.invoke("metrics", "--requests", "300", "--host", HOST).stdout
    rows = {m[0]: m[1:] for m in re.findall(
        r"checkout\.checkout \((v\d)\)\W+(\d+)\W+([\d.]+)\W+(\d+)\W+([\d.]+)%\W+(\d+) ms\W+(\d+) ms\W+(\d+) ms", shown)}
    assert set(rows) == {"v1", "v2"}, shown
    assert sum(int(row[0]) for row in rows.values()) == 300
    for requests, rate, errors, error_rate, *_ in rows.values():
        assert float(rate) > 0 and float(error_rate) == pytest.approx(100 * int(errors) / int(requests), abs=0.05)
    assert int(rows["v1"][2]) == 0 and int(rows["v2"][2]) > 0
    assert int(rows["v2"][6]) >= SLOW_FLOOR and int(rows["v1"][5]) < FAST_CEILING
    assert "istio_requests_total" in shown and "destination_version" in shown


def test_without_requests_it_counts_the_learners_own_traffic(lab, monkeypatch, capsys):
    monkeypatch.setenv("CANARY_LAB_ROOT", str(lab.root))
    seen = {}
    learner = threading.Timer(1.0, lambda: seen.update(send(lab, 60)))
    learner.start()
    try:
        commands.metrics(window="5")
    finally:
        learner.join()
    shown = " ".join(capsys.readouterr().out.split())
    assert "What the gateway counted during 5 s" in shown
    for version, (answers, _) in seen.items():
        assert re.search(rf"checkout\.checkout \({version}\) \W+ {answers} ", shown), shown


@pytest.mark.parametrize("flags", [["--requests", "lots"], ["--requests", "-3"], ["--window", "0"]])
def test_bad_flags_are_one_line_and_exit_1(lab, flags):
    result = lab.invoke("metrics", *flags, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "--requests" in result.stderr


def test_nothing_sent_is_said_plainly(lab, monkeypatch, capsys):
    monkeypatch.setenv("CANARY_LAB_ROOT", str(lab.root))
    started = time.monotonic()
    commands.metrics(window="1")
    assert "No requests reached any destination through the gateway during 1 s" in capsys.readouterr().out
    assert time.monotonic() - started < 10
