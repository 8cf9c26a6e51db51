"""`invoke dashboard`: the lab's live page, in a real browser on a real local lab (headless
Chromium through Playwright, tests/browser_setup.py), its server alone, its snapshot on the
cluster path (the API emulator and a port-forward serving the gateway's Envoy admin answers), and
the wheel shipping its page."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

import pytest

from lab.config import EXERCISES_DIR, PROJECT_DIR, Paths, lab_paths
from lab.dashboard.server import make_server
from lab.dashboard.snapshot import Live
from lab.state import LabState, save_state
from tests.browser_setup import Browser, browser_python, chromium
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Emulator
from tests.lab_process import ctrl_c, new_lab

CANARY = EXERCISES_DIR / "canary"
SCREENSHOT = PROJECT_DIR / "docs" / "dashboard.png"
# The README's screenshot is taken again by `CANARY_LAB_SCREENSHOT=1 pytest tests/test_dashboard.py`.
WRITE_SCREENSHOT = os.environ.get("CANARY_LAB_SCREENSHOT") == "1"


def fetch(url: str) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""


@pytest.fixture
def served(tmp_path):
    """The dashboard's server on a lab root where no lab is up, in a thread."""
    live = Live(Paths(tmp_path), interval=0.2).start()
    server = make_server(live)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    live.stop()


def test_the_server_binds_loopback_serves_the_page_and_says_no_lab_is_up(served):
    host, port = served.server_address[:2]
    assert host == "127.0.0.1"
    base = f"http://127.0.0.1:{port}"
    status, headers, page = fetch(base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for asset in ("/app.js", "/style.css"):
        assert fetch(base + asset)[0] == 200
        assert f'"{asset}"' in page.decode()
    # nothing from the internet: every script, style and link is the lab's own
    assert not re.search(r'(src|href)="(https?:)?//', page.decode())
    state = json.loads(fetch(base + "/api/state")[2])
    assert state["up"] is False and "no lab is up" in state["reason"]
    assert fetch(base + "/nowhere")[0] == 404


def test_dashboard_with_a_name_is_that_addons_on_the_lab_and_without_one_the_labs_own_page(tmp_path):
    env = {**os.environ, "CANARY_LAB_ROOT": str(tmp_path)}
    addon = subprocess.run([sys.executable, "-m", "invoke", "dashboard", "kiali"], cwd=PROJECT_DIR, env=env,
                           capture_output=True, text=True, timeout=60)
    assert addon.returncode == 1 and "the lab is not up" in addon.stderr   # kiali lives in a cluster lab
    bad = subprocess.run([sys.executable, "-m", "invoke", "dashboard", "--window", "0"], cwd=PROJECT_DIR, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "--window '0'" in bad.stderr and "Traceback" not in bad.stderr


def test_invoke_dashboard_prints_its_url_serves_without_a_lab_and_stops_on_ctrl_c(tmp_path):
    dashboard = subprocess.Popen([sys.executable, "-m", "invoke", "dashboard"], cwd=PROJECT_DIR,
                                 env={**os.environ, "CANARY_LAB_ROOT": str(tmp_path)}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", dashboard.stdout.readline()).group(0)
        state = json.loads(fetch(url + "api/state")[2])
        assert state["up"] is False and "`invoke up`" in state["reason"]
    finally:
        out, err = ctrl_c(dashboard)
    assert dashboard.returncode == 130 and "Traceback" not in err, err


def test_the_wheel_ships_the_page(tmp_path):
    """`pip install .` (not only -e): the assets are package data, and load from the installed package."""
    source = tmp_path / "source"
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_DIR / part, source / part)
    shutil.copytree(PROJECT_DIR / "lab", source / "lab", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w",
                            str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and "setuptools" in built.stderr:
        pytest.skip(f"no build backend to make a wheel here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    installed = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(installed)
    read = subprocess.run([sys.executable, "-c", "import lab.dashboard, lab.dashboard.server as s; "
                           "print(lab.dashboard.__file__); print(len(s.asset('app.js')))"],
                          env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    where, size = read.stdout.split()
    assert where.startswith(str(installed)), read.stderr
    assert int(size) == (PROJECT_DIR / "lab" / "dashboard" / "assets" / "app.js").stat().st_size


ROUTES = {"configs": [{"route_config": {"name": "http.8080", "virtual_hosts": [{
    "name": "canary.lab.local:80", "domains": ["canary.lab.local", "canary.lab.local:*"],
    "routes": [{"name": "main", "match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
        {"name": "outbound|8000||httpbin.canary-lab.svc.cluster.local", "weight": 80},
        {"name": "outbound|8888||tornado.canary-lab.svc.cluster.local", "weight": 20}]}}}]}]}}]}


def stats(httpbin: int, tornado: int, tornado_errors: int) -> str:
    """/stats?histogram_buckets=detailed as Envoy 1.40 writes it (its counters, a histogram's buckets)."""
    lines = []
    for service, port, requests, errors, bucket in (("httpbin", 8000, httpbin, 0, "4,0.1"),
                                                   ("tornado", 8888, tornado, tornado_errors, "20,1")):
        cluster = f"cluster.outbound|{port}||{service}.canary-lab.svc.cluster.local"
        lines += [f"{cluster}.upstream_cx_none_healthy: 0", f"{cluster}.upstream_rq_total: {requests}",
                  f"{cluster}.upstream_rq_5xx: {errors}", f"{cluster}.upstream_rq_time:",
                  f"  totals={bucket}:{requests}", f"  intervals={bucket}:0", "  summary=P0(0,0)"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


def test_on_a_cluster_the_snapshot_reads_the_gateways_envoy_through_its_port_forward(lab_root, tools, cluster):
    backend = cluster_backend("k3d", tools, cluster)
    tools.clusters.add("canary-lab")
    for namespace, name in (("istio-system", "istiod"), ("istio-system", "istio-ingressgateway"),
                            ("cert-manager", "cert-manager-webhook")):
        tools._deployment(namespace, name)
    save_state(lab_paths(), LabState("k3d", 8080, {}))
    admin = tools.admin_folder("istio-system", "deployment/istio-ingressgateway")
    (admin / "config_dump.json").write_text(json.dumps(ROUTES))
    live = Live(lab_paths(), backend_for=lambda paths, state: backend)
    (admin / "stats.json").write_text(stats(1000, 200, 0))
    live.snapshot()
    (admin / "stats.json").write_text(stats(1080, 220, 5))     # the window: 80 and 20, 5 of them errors
    snapshot = live.snapshot()
    assert snapshot["up"] and snapshot["provider"] == "k3d"
    [host] = snapshot["hosts"]
    assert host["host"] == "canary.lab.local" and host["routes"][0]["destinations"] == [
        {"name": "httpbin.canary-lab", "weight": 80}, {"name": "tornado.canary-lab", "weight": 20}]
    traffic = {t["destination"]: t for t in snapshot["traffic"]}
    assert traffic["httpbin.canary-lab"]["share"] == 80 and traffic["tornado.canary-lab"]["error_rate"] == 25
    assert 20 <= traffic["tornado.canary-lab"]["p95"] <= 21 and 4 <= traffic["httpbin.canary-lab"]["p95"] <= 4.1
    assert {p["name"] for p in snapshot["pods"]} >= {"istio-system/istio-ingressgateway"}
    assert any(call[:2] == ["kubectl", "port-forward"] for call in tools.calls)   # how a cluster's Envoy is read


@pytest.mark.slow
def test_a_gateway_that_died_is_the_lab_down_and_up_brings_the_page_back(tmp_path):
    lab = new_lab(tmp_path)
    try:
        lab.invoke("up", "--provider", "local")
        live = Live(lab.paths)
        live._take()
        assert live.latest()["up"] and {p["name"] for p in live.latest()["pods"]} >= {"gateway"}
        os.kill(lab.processes.status()["gateway"]["pid"], signal.SIGKILL)   # the lab's own Envoy, by its pid
        deadline = time.monotonic() + 10
        while live.latest()["up"] and time.monotonic() < deadline:
            time.sleep(0.2)
            live._take()
        assert not live.latest()["up"] and "`invoke up`" in live.latest()["reason"], live.latest()
        lab.invoke("up")
        live._take()
        assert live.latest()["up"], live.latest()
    finally:
        lab.cleanup()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = chromium()
    if executable is None:
        pytest.skip("needs Chromium for the browser test (apt-get install chromium); the suite passes without it")
    python, why = browser_python()
    if python is None:
        pytest.skip(why)
    page = Browser(python, executable, tmp_path_factory.mktemp("chromium-profile"))
    yield page
    page.close()


def routes_show(text: str) -> str:
    """JavaScript: the canary host's routes table shows `text` (a route's destinations and weights)."""
    return ("Array.from(document.querySelectorAll('.host[data-host=\"canary.lab.local\"] td.weights'))"
            f".some(cell => cell.textContent.includes({json.dumps(text)}))")


@pytest.mark.slow
def test_the_page_follows_an_apply_within_two_seconds_and_says_when_the_lab_is_down(browser, tmp_path):
    lab = new_lab(tmp_path)
    dashboard = None
    try:
        lab.invoke("up", "--provider", "local")
        lab.invoke("apply", str(CANARY / "manifests" / "gateway.yaml"))
        lab.invoke("apply", str(CANARY / "manifests" / "virtualservice.yaml"))
        dashboard = subprocess.Popen([sys.executable, "-m", "invoke", "dashboard"], cwd=PROJECT_DIR, env=lab.env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = re.search(r"http://127\.0\.0\.1:\d+/", dashboard.stdout.readline()).group(0)
        browser.goto(url)
        browser.wait("document.body.dataset.state === 'live'", timeout=10)
        browser.wait(routes_show("httpbin.canary-lab: 100"), timeout=5)

        lab.invoke("apply", str(CANARY / "solutions" / "virtualservice-80-20.yaml"))   # returns once served
        took = browser.wait(routes_show("httpbin.canary-lab: 80, tornado.canary-lab: 20"), timeout=2)
        assert took <= 2

        lab.invoke("traffic", "--requests", "300")
        lab.invoke("check", "canary", "shift-20")
        browser.wait("document.querySelectorAll('#traffic tbody tr').length === 2", timeout=5)
        shares = browser.value("Array.from(document.querySelectorAll('#traffic tbody tr'))"
                               ".map(row => row.cells[0].textContent + ' ' + row.cells[2].textContent)")
        assert any(s.startswith("httpbin.canary-lab ") for s in shares), shares
        assert browser.value("document.querySelectorAll('.host svg path.edge').length") >= 3
        browser.wait("document.getElementById('exercise-check').textContent.includes('✓ passed')", timeout=5)
        assert "step" in browser.value("document.getElementById('exercise-step').textContent")
        assert browser.value("document.getElementById('pods').textContent").count("running") >= 3
        browser.screenshot(tmp_path / "dashboard.png")
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
        if WRITE_SCREENSHOT:
            shutil.copy(tmp_path / "dashboard.png", SCREENSHOT)

        lab.invoke("down")
        browser.wait("document.body.dataset.state === 'down'", timeout=5)
        assert browser.value("document.getElementById('down-title').textContent") == "The lab is down"
    finally:
        if dashboard is not None:
            out, err = ctrl_c(dashboard)
        lab.cleanup()
    assert dashboard.returncode == 130 and "Traceback" not in err, err
