"""`invoke rollout` through the real Envoy gateway: a good canary is promoted step by step, a
bad one (errors) rolled back on its own, too little traffic is never a pass, and each decision
is shown. One lab for the module; each test applies the shop afresh."""

import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from lab.config import PROJECT_DIR
from lab.envoy_admin import EnvoyAdmin
from lab.rollout_record import read_record
from lab.state import load_state
from lab.traffic import metrics
from lab.traffic.metrics import Destination
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

HOST = "shop.lab.local"


def deployment(version: str, error_rate: float = 0) -> str:
    return f"""
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{version}, namespace: shop}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web, version: {version}}}}}
  template:
    metadata: {{labels: {{app: web, version: {version}}}}}
    spec:
      containers:
        - name: web
          image: canary-lab.invalid/version-app:1.0
          env: [{{name: VERSION, value: {version}}}, {{name: ERROR_RATE, value: "{error_rate}"}}]
"""


# v1 serves; v2 is a good release; v3 fails half of its requests.
SHOP = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8888}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
    - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.lab.local]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [shop.lab.local]
  gateways: [shop]
  http:
    - name: main
      route:
        - destination: {host: web, subset: v1}
""" + deployment("v1") + deployment("v2") + deployment("v3", error_rate=0.5)

def rollout(*flags: str, interval: str = "1") -> list[str]:
    """`invoke rollout` of the shop's main route from v1, with gates the tests' canaries sit far from."""
    return ["rollout", "VirtualService", "web", "--namespace", "shop", "--route", "main", "--stable", "v1",
            "--interval", interval, "--max-error-rate", "5", "--max-p95-ms", "2000", "--min-requests", "20", *flags]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("rollout-lab"))
    try:
        lab.invoke("up")
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def shop(lab, tmp_path):
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(SHOP)
    lab.invoke("apply", str(manifest))
    return lab


def versions_served(lab, requests: int = 40) -> set[str]:
    seen = set()
    for _ in range(requests):
        request = urllib.request.Request(lab.url + "/", headers={"Host": HOST})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                seen.add(response.headers["x-version"])
        except urllib.error.HTTPError as e:
            seen.add(e.headers["x-version"])
    return seen


def weights(lab) -> dict[str, int]:
    held = yaml.safe_load(lab.invoke("get", "VirtualService", "web", "--namespace", "shop").stdout)
    return {d["destination"]["subset"]: d.get("weight", 100) for d in held["spec"]["http"][0]["route"]}


def last_rollout(lab):
    """The outcome the rollout left on the VirtualService, read back as `invoke get` shows it."""
    return read_record(yaml.safe_load(lab.invoke("get", "VirtualService", "web", "--namespace", "shop").stdout))


def decision_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("step ")]


def test_a_good_canary_is_promoted_step_by_step(shop):
    result = shop.invoke(*rollout("--canary", "v2", "--steps", "25,50,100", "--traffic", "--scale-down", "web-v1"))
    lines = decision_lines(result.stdout)
    promoted = [line for line in lines if line.endswith(": promote")]
    assert [line.split(" — ")[0] for line in promoted] == \
        ["step 1/3: canary 25%", "step 2/3: canary 50%", "step 3/3: canary 100%"], result.stdout
    assert all(re.search(r"errors 0\.0% of (\d+) ≤ 5%", line) and "ms ≤ 2000 ms" in line for line in promoted)
    assert all(int(re.search(r"of (\d+) ", line).group(1)) >= 20 for line in promoted)   # --min-requests
    assert "promoted:" in result.stdout and "scaled Deployment shop/web-v1 to 0" in result.stdout
    assert "v1's destination is removed from the route" in result.stdout
    assert weights(shop) == {"v2": 100}     # the old version is gone from the route, then scaled to 0
    record = last_rollout(shop)
    assert (record.canary, record.stable, record.outcome, record.weight) == ("v2", "v1", "promoted", 100)
    assert versions_served(shop) == {"v2"}
    held = yaml.safe_load(shop.invoke("get", "Deployment", "web-v1", "--namespace", "shop").stdout)
    assert held["spec"]["replicas"] == 0
    assert not any(name.startswith("web-v1") for name in shop.processes.desired())


def test_a_bad_canary_is_rolled_back_automatically(shop):
    result = shop.invoke(*rollout("--canary", "v3", "--steps", "50,100", "--traffic"), check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = decision_lines(result.stdout)
    assert lines[-1].startswith("step 1/2: canary 50% — errors ") and lines[-1].endswith(": roll back"), lines
    assert "> 5%" in lines[-1]
    assert not any(line.startswith("step 2/2") for line in lines)
    assert "rollback: weights set to v1 100%, v3 0%" in result.stdout
    assert "rolled back to 100% v1" in result.stderr and "Traceback" not in result.stderr
    assert weights(shop) == {"v1": 100, "v3": 0}
    assert versions_served(shop) == {"v1"}
    record = last_rollout(shop)
    assert (record.canary, record.outcome, record.weight) == ("v3", "rolled-back", 50)
    assert record.reason in lines[-1]


def test_too_few_requests_is_never_a_pass(shop):
    """No traffic is sent: each window says so, waits, and the rollout gives up to stable."""
    result = shop.invoke(*rollout("--canary", "v2", "--steps", "50,100", interval="0.3"), check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = decision_lines(result.stdout)
    assert len(lines) == 4 and all("fewer than the 20 needed to judge" in line for line in lines), \
        result.stdout + result.stderr
    assert all(line.endswith(": wait another 0.3 s") for line in lines[:-1])
    assert lines[-1].endswith(": not enough traffic to judge")
    assert "send traffic while it runs (--traffic)" in result.stderr
    assert weights(shop) == {"v1": 100, "v2": 0}


def test_ctrl_c_says_which_weights_are_live(shop):
    argv = [sys.executable, "-m", "invoke", *rollout("--canary", "v2", "--steps", "25,100", interval="30")]
    process = subprocess.Popen(argv, cwd=PROJECT_DIR, env=shop.env(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while weights(shop).get("v2") != 25 and time.monotonic() < deadline:   # the first step is stored
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)      # in the 30 s window (or held until the step's save)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stdout + stderr
    assert "interrupted: live weights are v1 75%, v2 25%; nothing was rolled back" in stdout


def test_window_counts_match_what_clients_saw(shop):
    """The gateway's per-destination counters and latency buckets, differenced over a window,
    count exactly the requests and 500s the client got (v3 fails about half)."""
    shop.invoke("patch", "VirtualService", "web", "--namespace", "shop", "--patch",
                '[{"op": "add", "path": "/spec/http/0/route/0/weight", "value": 50},'
                ' {"op": "add", "path": "/spec/http/0/route/-", '
                '"value": {"destination": {"host": "web", "subset": "v3"}, "weight": 50}}]')
    admin = EnvoyAdmin(f"http://127.0.0.1:{load_state(shop.paths).settings['admin_port']}")
    before = metrics.read(admin)
    seen = {"v1": [0, 0], "v3": [0, 0]}
    for _ in range(200):
        request = urllib.request.Request(shop.url + "/", headers={"Host": HOST})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                seen[response.headers["x-version"]][0] += 1
        except urllib.error.HTTPError as e:
            seen[e.headers["x-version"]][0] += 1
            seen[e.headers["x-version"]][1] += e.code >= 500
    deadline = time.monotonic() + 10   # until a stats flush (every 1 s locally) put every latency in the histograms
    while True:
        after = metrics.read(admin)
        flushed = all(metrics.window(before, after, Destination("web.shop", subset)).latency_samples == requests
                      for subset, (requests, _) in seen.items())
        if flushed or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for subset, (requests, errors) in seen.items():
        window = metrics.window(before, after, Destination("web.shop", subset))
        assert (window.requests, window.errors, window.latency_samples) == (requests, errors, requests)
        assert 0 <= window.percentile(50) <= window.percentile(95) <= window.percentile(100) < 1000
    assert seen["v1"][1] == 0 and 0 < seen["v3"][1] < seen["v3"][0]


# The sample apps by host: tornado serves, httpbin is the canary; on /delay/0.3 httpbin takes
# 300 ms to answer (tornado answers that path with a quick 404, which is no 5xx).
SAMPLES_ROUTE = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: samples, namespace: canary-lab}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [canary.lab.local]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: samples, namespace: canary-lab}
spec:
  hosts: [canary.lab.local]
  gateways: [samples]
  http:
    - route:
        - destination: {host: tornado}
"""


def test_a_slow_canary_is_rolled_back_on_its_p95(lab, tmp_path):
    manifest = tmp_path / "samples.yaml"
    manifest.write_text(SAMPLES_ROUTE)
    lab.invoke("apply", str(manifest))
    result = lab.invoke("rollout", "VirtualService", "samples", "--stable", "tornado", "--canary", "httpbin",
                        "--steps", "50,100", "--interval", "2", "--max-p95-ms", "100", "--min-requests", "5",
                        "--traffic", "--path", "/delay/0.3", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = decision_lines(result.stdout)[-1]
    assert re.match(r"step 1/2: canary 50% — errors 0\.0% of \d+ ≤ 1%, p95 ", verdict)
    assert verdict.endswith(": roll back")
    p95 = float(verdict.split("p95 ")[1].split(" ms")[0])
    assert 300 <= p95 < 2000 and "ms > 100 ms" in verdict
    held = yaml.safe_load(lab.invoke("get", "VirtualService", "samples").stdout)
    assert [(d["destination"]["host"], d["weight"]) for d in held["spec"]["http"][0]["route"]] == \
        [("tornado", 100), ("httpbin", 0)]


@pytest.mark.parametrize("flags, says", [
    (["--stable", "v1", "--canary", "v2", "--steps", "50,25,100"], "--steps '50,25,100' is not a rising list"),
    (["--stable", "v1", "--canary", "v2", "--steps", "10,50"], "ending at 100"),
    (["--stable", "v1", "--canary", "v2", "--interval", "soon"], "--interval 'soon' is not a number"),
    (["--stable", "v1", "--canary", "v2", "--max-error-rate", "100"], "--max-error-rate 100 is out of range"),
    (["--stable", "v1", "--canary", "v1"], "must name two destinations"),
    (["--stable", "v9", "--canary", "v2"], "has no destination 'v9' (--stable)"),
    (["--stable", "v1", "--canary", "v2", "--route", "side"], "has no http route 'side' (its routes: main)"),
])
def test_bad_flags_are_one_line_and_exit_1(shop, flags, says):
    result = shop.invoke("rollout", "VirtualService", "web", "--namespace", "shop", *flags, check=False)
    assert result.returncode == 1
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert weights(shop) == {"v1": 100}


def test_only_a_virtual_service_is_rolled_out(shop):
    result = shop.invoke("rollout", "Deployment", "web-v1", "--namespace", "shop", "--stable", "v1",
                         "--canary", "v2", check=False)
    assert result.returncode == 1 and "not a Deployment" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
