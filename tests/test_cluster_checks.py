"""Checks only a cluster can run, on the cluster path: requests from client pods (in-mesh
splits, STRICT mTLS) and autoscaling under load. Kubernetes calls go over HTTP to the API
emulator; `kubectl exec` runs its command here for real (sh, curl, head, base64, tr), against
a local server standing in for the Service."""

import random
import threading
import time

import pytest

from lab.backends.cluster.clients import CURL_LOOP
from lab.backends.cluster.kube import terminating
from lab.config import lab_paths
from lab.exercises.catalogue import Step, load_exercise
from lab.exercises.checks import run_check
from lab.manifests import Ref
from lab.ports import free_port
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Controller, Emulator
from tests.loopback_http import QuietHandler, serving

SERVICE_URL = "http://app-example.app-example/"
CLIENTS = [Ref("Deployment", "lab-clients", "mesh-client"), Ref("Deployment", "lab-outside", "outside-client")]


class VersionService:
    """Answers like the version app: x-version stable or canary, at random with the given share."""

    def __init__(self):
        self.canary_share = 0.5
        self.random = random.Random(7)
        self.url = ""

    def handler(self):
        service = self

        class Handler(QuietHandler):
            def do_GET(self):
                version = "canary" if service.random.random() < service.canary_share else "stable"
                self.reply(f"version {version}\n".encode(), {"x-version": version})

        return Handler


@pytest.fixture
def service():
    version_service = VersionService()
    with serving(version_service.handler()) as url:
        version_service.url = url + "/"
        yield version_service


@pytest.fixture
def cluster(lab_root):
    with Emulator() as emulator, Controller(emulator.kube).watch(*CLIENTS) as controller:
        emulator.controller = controller
        yield emulator


def check_step(check: dict) -> Step:
    return Step(name="check", kind="check", check=check)


def test_a_split_inside_the_mesh_is_sampled_from_the_mesh_client(tools, cluster, service):
    progressive = load_exercise("progressive")
    tools.pod_network = {"mesh-client": {SERVICE_URL: service.url}}
    check = {"traffic": {"expect": {"stable": 50, "canary": 50}, "from": "mesh", "url": SERVICE_URL}}
    result = run_check(progressive, check_step(check), cluster_backend("k3d", tools, cluster))
    assert result.passed, result.message
    assert result.message.startswith("inside the mesh: ")
    kubeconfig = str(lab_paths().home / "kubeconfig")
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_exec/
    assert tools.calls[0] == ["kubectl", "exec", "deployment/mesh-client", "--namespace", "lab-clients",
                              "--container", "client", "--kubeconfig", kubeconfig, "--", "sh", "-c", CURL_LOOP,
                              "sh", "50", SERVICE_URL]
    # The client pods came from cluster/clients.yaml, applied to the cluster.
    assert cluster.kube.get(Ref("Namespace", "", "lab-clients"))["metadata"]["labels"] == \
        {"istio-injection": "enabled"}
    service.canary_share = 1.0        # the mesh ignores the weights: every answer from canary
    result = run_check(progressive, check_step(check), cluster_backend("k3d", tools, cluster))
    assert not result.passed and "canary got 100%" in result.message


def test_a_mesh_check_counts_a_service_that_does_not_answer_as_errors(tools, cluster):
    progressive = load_exercise("progressive")
    tools.pod_network = {"mesh-client": {SERVICE_URL: f"http://127.0.0.1:{free_port()}/"}}
    check = {"traffic": {"expect": {"stable": 50, "canary": 50}, "from": "mesh", "url": SERVICE_URL}}
    result = run_check(progressive, check_step(check), cluster_backend("k3d", tools, cluster))
    assert not result.passed and "requests failed" in result.message


def test_strict_mtls_passes_only_when_the_plaintext_client_is_refused(tools, cluster, service):
    cross = load_exercise("cross-namespace")
    refused = f"http://127.0.0.1:{free_port()}/"     # nothing listens: the connection is refused
    check = check_step({"mtls": {"url": SERVICE_URL, "requests": 3}})
    tools.pod_network = {"mesh-client": {SERVICE_URL: service.url}, "outside-client": {SERVICE_URL: refused}}
    result = run_check(cross, check, cluster_backend("k3d", tools, cluster))
    assert result.passed and "refused the plaintext client outside the mesh 3 of 3" in result.message
    assert ["deployment/outside-client", "lab-outside"] == [tools.calls[-1][2], tools.calls[-1][4]]

    tools.pod_network["outside-client"] = {SERVICE_URL: service.url}      # PERMISSIVE: plaintext accepted
    result = run_check(cross, check, cluster_backend("k3d", tools, cluster))
    assert not result.passed and "got 3 of 3 answers (HTTP 200)" in result.message and "not STRICT" in result.message

    tools.pod_network["mesh-client"] = {SERVICE_URL: refused}           # the service itself is down
    result = run_check(cross, check, cluster_backend("k3d", tools, cluster))
    assert not result.passed and "answered the mesh client only 0 of 3" in result.message


def autoscale_check(name: str, timeout: float) -> dict:
    autoscale = load_exercise("autoscale")
    spec = autoscale.step(name).check[-1].scale.model_dump()
    return {"scale": {**spec, "timeout": timeout, "interval": 0.1}}


def test_scale_check_runs_the_load_watches_replicas_and_always_stops_the_load(tools, cluster, capsys):
    autoscale = load_exercise("autoscale")
    v1, load = Ref("Deployment", "shop", "shop-v1"), Ref("Deployment", "shop-load", "load-generator")
    lab = cluster_backend("k3d", tools, cluster)
    tools.metrics_server()                 # k3s's packaged metrics-server
    cluster.controller.watch(v1, load)
    lab.apply([{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop-v1", "namespace": "shop"},
                "spec": {"replicas": 1}}])

    def autoscaler():      # plays the HPA: once the load generator runs, v1 gets more pods
        deadline = time.monotonic() + 10
        while cluster.kube.get(load) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        cluster.controller.scale(v1, 3)

    threading.Thread(target=autoscaler, daemon=True).start()
    result = run_check(autoscale, check_step(autoscale_check("v1-scales", timeout=20)), lab)
    assert result.passed, result.message
    assert "shop-v1 scaled to 3 ready replicas" in result.message
    # deleted: the namespace is gone or being terminated (the next apply of the load waits for it)
    assert cluster.kube.get(load) is None and (terminating(cluster.kube.get(Ref("Namespace", "", "shop-load")))
                                               or cluster.kube.get(Ref("Namespace", "", "shop-load")) is None)

    cluster.controller.scale(v1, 1)
    time.sleep(0.2)
    result = run_check(autoscale, check_step(autoscale_check("v1-scales", timeout=0.5)), lab)
    assert not result.passed and "stayed at 1 ready replicas" in result.message and "kubectl get hpa" in result.message
    assert cluster.kube.get(load) is None      # stopped after a failure too
