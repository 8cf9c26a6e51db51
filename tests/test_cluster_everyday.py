"""get (list), delete and logs on the cluster path: Kubernetes calls over HTTP to the API
emulator, kubectl's argv as its docs give it."""

import pytest

from lab.manifests import Ref
from tests.conftest import objects
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Emulator

APPS = objects("""
    apiVersion: v1
    kind: Namespace
    metadata: {name: app-example}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: version-v1, namespace: app-example}
    spec: {replicas: 1}
    status: {availableReplicas: 1}
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: app-example, namespace: app-example}
    spec: {hosts: [app.lab.local]}
    """)


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


@pytest.fixture
def lab(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    for obj in APPS:
        cluster.kube.apply(obj)
    return lab


def test_list_objects_returns_every_namespace_with_kind_and_api_version(lab):
    [listed] = lab.list_objects("VirtualService")
    assert listed["kind"] == "VirtualService" and listed["apiVersion"] == "networking.istio.io/v1"
    assert listed["metadata"]["namespace"] == "app-example" and listed["spec"]["hosts"] == ["app.lab.local"]
    assert lab.list_objects("DestinationRule") == []


def test_delete_removes_the_object_from_the_cluster(lab):
    ref = Ref("VirtualService", "app-example", "app-example")
    lab.delete([ref])
    assert lab.get(ref) is None


def test_logs_run_kubectl_logs_on_the_deployment_in_its_namespace(lab, tools, lab_root):
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    list(lab.logs("version-v1", tail=5))
    list(lab.logs("gateway"))
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_logs/
    assert tools.calls[-2:] == [
        ["kubectl", "logs", "deployment/version-v1", "--namespace", "app-example", "--tail=5", "--kubeconfig",
         kubeconfig],
        ["kubectl", "logs", "deployment/istio-ingressgateway", "--namespace", "istio-system", "--tail=-1",
         "--kubeconfig", kubeconfig],
    ]
