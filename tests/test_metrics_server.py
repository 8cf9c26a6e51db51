"""The metrics API autoscalers read: installed where the lab's cluster has none (kind), checked
everywhere, and a scale step says what is missing instead of waiting out its timeout."""

import subprocess
import time

import pytest

from lab.backends.cluster import versions
from lab.backends.cluster.metrics_server import METRICS_API
from lab.doctor import context_checks
from lab.errors import LabError
from lab.exercises.catalogue import Step, load_exercise
from lab.exercises.checks import run_check
from lab.manifests import Ref
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Emulator
from tests.lab_process import gateway_port

LOAD = Ref("Deployment", "shop-load", "load-generator")


@pytest.fixture
def cluster(lab_root):
    with Emulator() as emulator:
        yield emulator


def scale_step(timeout: float) -> Step:
    spec = load_exercise("autoscale").step("v1-scales").check[-1].scale.model_dump()
    return Step(name="v1-scales", kind="check", check={"scale": {**spec, "timeout": timeout, "interval": 0.1}})


def test_kind_up_installs_metrics_server_with_insecure_kubelet_tls_once(lab_root, tools, cluster):
    lab = cluster_backend("kind", tools, cluster, port=gateway_port())
    try:
        lab.up()
        kubeconfig = str(lab_root / ".lab" / "kubeconfig")
        # metrics-server's charts/metrics-server/README.md (repo, chart); README.md Requirements: a
        # kubelet certificate not signed by the cluster CA (kind's) needs --kubelet-insecure-tls
        assert ["helm", "upgrade", "--install", "metrics-server", "metrics-server", "--repo",
                "https://kubernetes-sigs.github.io/metrics-server/", "--version", versions.METRICS_SERVER_CHART,
                "--namespace", "kube-system", "--set", "args={--kubelet-insecure-tls}", "--wait", "--timeout", "5m",
                "--kubeconfig", kubeconfig] in tools.calls
        lab.require_metrics_api(timeout=1)
        tools.calls.clear()
        assert lab.up() is False
        assert not any(c[:4] == ["helm", "upgrade", "--install", "metrics-server"] for c in tools.calls)
    finally:
        lab.down()


@pytest.mark.parametrize("provider", ["k3d", "minikube"])
def test_k3d_and_minikube_bring_their_own_and_the_lab_installs_none(lab_root, tools, cluster, provider):
    lab = cluster_backend(provider, tools, cluster, port=gateway_port())
    try:
        lab.up()
        assert not any(c[:4] == ["helm", "upgrade", "--install", "metrics-server"] for c in tools.calls)
        lab.require_metrics_api(timeout=1)
    finally:
        lab.down()


def test_a_scale_step_on_a_cluster_without_metrics_says_so_at_once_and_starts_no_load(lab_root, tools, cluster):
    lab = cluster_backend("existing", tools, cluster)
    started = time.monotonic()
    with pytest.raises(LabError) as missing:
        run_check(load_exercise("autoscale"), scale_step(timeout=5), lab)
    assert time.monotonic() - started < 2
    assert "no metrics API" in missing.value.message and "metrics-server" in missing.value.message
    assert "invoke doctor --provider existing" in missing.value.fix
    assert cluster.kube.get(LOAD) is None


def test_a_metrics_api_that_never_turns_available_is_named_too(lab_root, tools, cluster):
    tools.metrics_server(available=False)
    lab = cluster_backend("k3d", tools, cluster)
    with pytest.raises(LabError, match="registered but not available after 1s"):
        lab.require_metrics_api(timeout=1)
    tools.metrics_server(available=True)
    lab.require_metrics_api(timeout=1)


def test_up_on_existing_without_metrics_says_what_autoscale_will_miss(lab_root, tools, cluster, capsys):
    tools._deployment("istio-system", "istiod")
    tools._deployment("istio-system", "istio-ingressgateway")
    lab = cluster_backend("existing", tools, cluster)
    lab.up()
    assert "no metrics API (metrics-server)" in capsys.readouterr().out
    assert cluster.kube.get(METRICS_API) is None             # not the lab's to install there


def answers(apiservice: tuple[int, str]):
    """kubectl as the doctor runs it: a context that answers, and the APIService's Available status."""
    def run(argv: list[str]) -> subprocess.CompletedProcess:
        code, out = {"current-context": (0, "docker-desktop\n"), "version": (0, ""), "apiservice": apiservice}[
            next(word for word in ("current-context", "version", "apiservice") if word in argv)]
        return subprocess.CompletedProcess(argv, code, out, "")
    return run


@pytest.mark.parametrize("apiservice, result", [((0, "True"), "ok"), ((0, "False"), "warn"), ((1, ""), "warn")])
def test_doctor_on_existing_checks_the_metrics_api(apiservice, result):
    checks = {c.name: c for c in context_checks(answers(apiservice))}
    assert checks["metrics API (autoscale)"].result == result
    if result != "ok":
        assert "metrics-server" in checks["metrics API (autoscale)"].fix
