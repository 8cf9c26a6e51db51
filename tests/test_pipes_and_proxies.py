"""Everyday conditions the lab must survive: output written to a file or a pipe (never cut at a
width), HTTP(S)_PROXY set to a proxy that cannot reach this machine's loopback, httpbin's JSON
answers, and a first `up` that fails (its message points at logs that still exist)."""

import json
import socket
import subprocess
import sys

import pytest
import yaml

from lab import ui
from lab.backends.cluster.kube import Kube
from lab.backends.local.processes import Processes
from lab.backends.select import make_backend
from lab.config import EXERCISES_DIR, PROJECT_DIR, Paths
from lab.errors import LabError
from lab.manifests import Ref
from tests.kube_emulator import Emulator
from tests.lab_process import gateway_port, new_lab

MANIFESTS = EXERCISES_DIR / "canary" / "manifests"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
# What `invoke rollout` leaves on a VirtualService, and longer than any terminal is wide.
LONG_ANNOTATION = json.dumps({"stable": "httpbin", "canary": "tornado", "outcome": "rolled back", "weight": 25,
                              "reason": "the canary's error rate " + "was over the limit, " * 12})


def closed_port() -> int:
    """A loopback port nothing listens on: a proxy there refuses every connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dead_proxy():
    """Every proxy variable set, pointing at a closed port, for this test process and the `invoke`s
    it starts (they copy its environment)."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    with pytest.MonkeyPatch.context() as patch:
        for variable in PROXY_VARIABLES:
            patch.setenv(variable, proxy)
        patch.delenv("NO_PROXY", raising=False)
        patch.delenv("no_proxy", raising=False)
        yield proxy


@pytest.fixture(scope="module")
def lab(tmp_path_factory, dead_proxy):
    lab = new_lab(tmp_path_factory.mktemp("proxied"))
    try:
        lab.invoke("up", "--provider", "local")   # its readiness probes and Envoy admin reads: no proxy
        lab.invoke("apply", str(MANIFESTS / "gateway.yaml"))
        yield lab
    finally:
        lab.cleanup()


def with_annotation(text: str) -> str:
    routed = yaml.safe_load((MANIFESTS / "virtualservice.yaml").read_text())
    routed["metadata"]["annotations"] = {"canary-lab/last-rollout": text}
    return yaml.safe_dump(routed, sort_keys=False)


@pytest.mark.slow
def test_every_command_that_talks_to_the_lab_ignores_a_proxy_that_cannot_reach_it(lab):
    lab.invoke("apply", "-", input=with_annotation("{}"))
    shown = " ".join(lab.invoke("traffic", "--requests", "30").stdout.split())
    assert "30 requests to canary.lab.local/" in shown and "httpbin" in shown and "error" not in shown, shown
    status = " ".join(lab.invoke("status").stdout.split())
    assert "canary.lab.local" in status and "httpbin.canary-lab: 100" in status, status
    measured = " ".join(lab.invoke("metrics", "--requests", "40").stdout.split())
    assert "httpbin" in measured and "40" in measured, measured
    watched = " ".join(lab.invoke("watch", "--count", "1", "--interval", "0.5").stdout.split())
    assert "live routes (from Envoy)" in watched and "httpbin.canary-lab" in watched, watched


@pytest.mark.slow
@pytest.mark.parametrize("columns", ["40", "80"])
def test_get_o_yaml_to_a_file_applies_back_with_a_long_annotation_whole(lab, tmp_path, columns):
    lab.invoke("apply", "-", input=with_annotation(LONG_ANNOTATION))
    saved = tmp_path / "vs.yaml"
    for output in ("yaml", "json"):
        written = lab.invoke("get", "vs", "canary", "-o", output, env_extra={"COLUMNS": columns}).stdout
        saved.write_text(written)
        again = lab.invoke("apply", str(saved)).stdout
        assert "unchanged" in again, again           # what was written is what the lab holds
        held = json.loads(lab.invoke("get", "vs", "canary", "-o", "json").stdout)
        assert held["metadata"]["annotations"]["canary-lab/last-rollout"] == LONG_ANNOTATION
        assert json.loads(held["metadata"]["annotations"]["canary-lab/last-rollout"])["weight"] == 25


@pytest.mark.slow
def test_a_table_written_to_a_pipe_keeps_each_row_on_one_line(lab):
    listed = lab.invoke("get", "vs", env_extra={"COLUMNS": "40"}).stdout
    row = next(line for line in listed.splitlines() if " canary " in line)
    assert "hosts canary.lab.local; gateways canary-gateway" in row, listed


def test_a_table_and_yaml_off_a_terminal_are_never_wrapped_or_cropped(capsys, monkeypatch):
    monkeypatch.setattr(ui, "console", ui._Console(width=30, highlight=False))
    table = ui.table("name", "summary")
    table.add_row("canary", "hosts " + ", ".join(f"host-{i}.lab.local" for i in range(6)))
    ui.console.print(table)
    ui.yaml_block(yaml.safe_dump({"annotation": LONG_ANNOTATION}, width=1 << 20))
    out = capsys.readouterr().out
    assert any("host-0.lab.local" in line and "host-5.lab.local" in line for line in out.splitlines()), out
    assert yaml.safe_load(out[out.index("annotation"):]) == {"annotation": LONG_ANNOTATION}


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/get", "/headers", "/ip", "/uuid", "/anything"])
def test_traffic_counts_httpbins_json_answers_as_httpbin(lab, path):
    lab.invoke("apply", "-", input=with_annotation("{}"))
    shown = " ".join(lab.invoke("traffic", "--requests", "20", "--path", path).stdout.split())
    assert "httpbin" in shown and "not an answer of a lab app" not in shown and "unclassified" not in shown, shown


def test_the_kubernetes_client_reaches_a_loopback_api_server_whatever_the_proxy(tmp_path, dead_proxy):
    with Emulator() as cluster:
        kube = Kube.from_kubeconfig(cluster.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path / "discovery.json")
        assert kube.api.configuration.proxy is None
        assert kube.get(Ref("Namespace", "", "nowhere")) is None       # answered by the emulator, not the proxy


@pytest.mark.slow
def test_a_first_up_that_fails_points_at_logs_that_still_exist(tmp_path, monkeypatch):
    """The gateway never answers its readiness probe (as through a proxy): `up` removes the run
    folder, so the message names a copy of its logs, kept in .lab/logs/."""
    monkeypatch.setattr("lab.backends.local.processes._answers", lambda port, path: False)
    waited = Processes.wait_ready
    monkeypatch.setattr(Processes, "wait_ready", lambda self, names, timeout=30.0: waited(self, names, timeout=1.0))
    paths = Paths(tmp_path)
    backend = make_backend(paths, "local", gateway_port())
    with pytest.raises(LabError) as failed:
        backend.up()
    told = f"{failed.value.message} {failed.value.fix}"
    assert "did not become ready" in told and str(paths.run_dir) not in told, told
    assert not paths.run_dir.exists()
    kept = paths.logs_dir / "last-failed-up"
    assert str(kept) in told and (kept / "logs").is_dir()
    assert any(log.read_text() for log in (kept / "logs").iterdir())   # Envoy's own log, whole


def test_a_long_line_piped_keeps_a_command_whole():
    # A pipe has no width: rich would wrap at 80 columns and split the curl command a learner copies.
    line = "from lab import ui; ui.info('try: ' + 'x' * 100 + ' curl -H \"Host: a\"')"
    out = subprocess.run([sys.executable, "-c", line], capture_output=True, text=True, cwd=PROJECT_DIR,
                         check=True).stdout
    assert out.strip() == "try: " + "x" * 100 + ' curl -H "Host: a"'
