"""The cluster path's Kubernetes calls, over HTTP against an API emulator (no mocks of the client)."""

import threading
import time

import pytest

from lab.backends.cluster.kube import FIELD_MANAGER, Kube, deployment_available
from lab.errors import LabError
from lab.manifests import Ref
from tests.conftest import objects
from tests.kube_emulator import Emulator

VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary, namespace: canary-lab}
spec:
  hosts: [canary.lab.local]
  gateways: [canary-gateway]
  http:
    - route:
        - {destination: {host: httpbin}, weight: 100}
"""
REF = Ref("VirtualService", "canary-lab", "canary")


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


def test_apply_creates_then_server_side_applies_with_the_labs_field_manager(cluster):
    [vs] = objects(VS)
    cluster.kube.apply(vs)
    assert cluster.kube.get(REF)["spec"]["http"][0]["route"][0]["weight"] == 100
    vs["spec"]["hosts"] = ["canary.lab.local", "other.lab.local"]
    cluster.kube.apply(vs)
    assert cluster.kube.get(REF)["spec"]["hosts"] == ["canary.lab.local", "other.lab.local"]
    patches = [r for r in cluster.requests() if str(r.method).upper().endswith("PATCH")]
    assert patches and all(r.params.get("fieldManager") == FIELD_MANAGER for r in patches)
    assert all(r.headers.get("Content-Type") == "application/apply-patch+yaml" for r in patches)


def test_json_patch_changes_only_what_it_names(cluster):
    cluster.kube.apply(objects(VS)[0])
    patched = cluster.kube.json_patch(REF, [
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 50}])
    assert patched["spec"]["http"][0]["route"][0]["weight"] == 50
    assert cluster.kube.get(REF)["spec"]["hosts"] == ["canary.lab.local"]


def test_missing_objects(cluster):
    assert cluster.kube.get(REF) is None
    with pytest.raises(LabError, match="does not exist on the cluster"):
        cluster.kube.json_patch(REF, [{"op": "replace", "path": "/spec/hosts", "value": []}])


def test_wait_for_returns_once_the_condition_holds_and_times_out_otherwise(cluster):
    deployment = objects("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: httpbin, namespace: canary-lab}
        spec: {replicas: 2}
        """)[0]
    cluster.kube.apply(deployment)
    ref = Ref("Deployment", "canary-lab", "httpbin")
    with pytest.raises(LabError, match="did not become available within 0s"):
        cluster.kube.wait_for(ref, deployment_available, "available", timeout=0, interval=0.01)

    def controller():  # plays the Deployment controller: reports ready replicas a little later
        time.sleep(0.2)
        cluster.kube.apply({**deployment, "status": {"availableReplicas": 2}})

    threading.Thread(target=controller).start()
    ready = cluster.kube.wait_for(ref, deployment_available, "available", timeout=5, interval=0.05)
    assert ready["status"]["availableReplicas"] == 2


def test_an_unreachable_api_server_is_one_clear_error():
    from kubernetes import client

    from lab.ports import free_port

    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{free_port()}"
    configuration.retries = 0
    with pytest.raises(LabError, match="cannot reach the cluster's API server"):
        Kube(client.ApiClient(configuration)).get(REF)


def test_a_kind_the_cluster_does_not_serve_is_one_clear_line(cluster):
    with pytest.raises(LabError, match="the cluster has no kind CronJob"):
        cluster.kube.get(Ref("CronJob", "x", "y"))


def test_kinds_are_discovered_also_when_their_crd_comes_after_the_first_call(cluster):
    from kmock._internal.references import ResourceInfo

    assert cluster.kube.get(REF) is None            # discovery has run
    cluster.emulator.resources["gateway.networking.k8s.io/v1/httproutes"] = ResourceInfo(
        kind="HTTPRoute", namespaced=True, verbs={"get", "list", "create", "patch", "delete"})
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "canary", "namespace": "canary-lab"}, "spec": {"hostnames": ["canary.lab.local"]}}
    cluster.kube.apply(route)                        # a CRD installed since: found on a second look
    assert cluster.kube.get(Ref("HTTPRoute", "canary-lab", "canary"))["spec"]["hostnames"] == ["canary.lab.local"]


def test_an_object_goes_to_its_own_group_and_a_bare_kind_means_istios(cluster):
    istio = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
             "metadata": {"name": "gw", "namespace": "canary-lab"}, "spec": {"servers": []}}
    gateway_api = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                   "metadata": {"name": "gw", "namespace": "canary-lab"}, "spec": {"gatewayClassName": "istio"}}
    cluster.kube.apply(gateway_api)
    assert cluster.kube.get(Ref("Gateway", "canary-lab", "gw")) is None    # not Istio's Gateway
    cluster.kube.apply(istio)
    assert cluster.kube.get(Ref("Gateway", "canary-lab", "gw"))["spec"] == {"servers": []}
    paths = [str(r.url.path) for r in cluster.requests()]
    assert "/apis/gateway.networking.k8s.io/v1/namespaces/canary-lab/gateways/gw" in paths


def test_discovery_is_kept_in_the_labs_run_folder_across_commands(cluster, tmp_path):
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    cache = tmp_path / "run" / "discovery.json"
    cache.parent.mkdir()
    Kube.from_kubeconfig(kubeconfig, cache).get(REF)                     # one command
    assert cache.exists()
    asked = len(cluster.requests())
    assert Kube.from_kubeconfig(kubeconfig, cache).get(REF) is None        # the next command
    discovery = [r for r in cluster.requests()[asked:] if str(r.url.path).startswith(("/api", "/apis"))
                 and "/namespaces/" not in str(r.url.path)]
    assert discovery == []


def test_a_kind_served_in_several_versions_is_always_named_by_its_most_stable_one():
    from lab.backends.cluster.kube import version_rank

    served = ["v1beta1", "v1alpha2", "v1", "v2beta1"]
    assert sorted(served, key=version_rank) == ["v1", "v2beta1", "v1beta1", "v1alpha2"]
