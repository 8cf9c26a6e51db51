"""The Gateway API on a cluster: its CRDs go in with `up` (before Istio), on every provider;
a cluster the lab did not make keeps the CRDs it had; Istio's deployed gateways are reached
through port-forwards. Kubernetes calls go over HTTP to the API emulator."""

import copy

import pytest
import yaml

from lab.backends.cluster import gateway_api, versions
from lab.config import lab_paths
from lab.manifests import Ref
from lab.state import load_state
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Emulator
from tests.lab_process import gateway_port

CRD_NAMES = {"gatewayclasses.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io",
             "httproutes.gateway.networking.k8s.io", "referencegrants.gateway.networking.k8s.io"}


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


def crd(cluster, name: str) -> dict | None:
    return cluster.kube.get(Ref("CustomResourceDefinition", "", name))


def crd_paths(cluster) -> list[str]:
    return [str(r.url.path) for r in cluster.requests() if "customresourcedefinitions" in str(r.url.path)]


def test_the_vendored_crds_are_the_pinned_standard_channel_release():
    crds = gateway_api.vendored_crds()
    assert {c["metadata"]["name"] for c in crds} == CRD_NAMES
    for found in crds:
        annotations = found["metadata"]["annotations"]
        assert annotations[gateway_api.BUNDLE_VERSION] == versions.GATEWAY_API
        assert annotations["gateway.networking.k8s.io/channel"] == "standard"


@pytest.mark.parametrize("provider", ["k3d", "minikube", "kind"])
def test_up_installs_the_crds_before_istio_and_the_cluster_serves_their_kinds(lab_root, tools, cluster, provider):
    order = []
    tools.meet = {}
    real_run = tools.run

    def run(argv, **kwargs):
        if argv[0] == "istioctl" and argv[1] == "install":
            order.append(("istioctl", {n for n in CRD_NAMES if crd(cluster, n) is not None}))
        return real_run(argv, **kwargs)

    tools.run = run
    lab = cluster_backend(provider, tools, cluster, port=gateway_port())
    try:
        assert lab.up() is True
        assert order == [("istioctl", CRD_NAMES)]       # all four were there when Istio went in
        # server-side apply (PATCH, application/apply-patch+yaml) with the lab's field manager
        applies = [r for r in cluster.requests() if r.method == "PATCH"
                   and "customresourcedefinitions" in str(r.url.path)]
        assert len(applies) == 4 and all(r.params.get("fieldManager") == "canary-lab" for r in applies)
        # the kinds are served now: an HTTPRoute can be applied and read back with its group
        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": "r", "namespace": "default"}, "spec": {"hostnames": ["a.lab.local"]}}
        cluster.kube.apply(route)
        assert cluster.kube.get(Ref("HTTPRoute", "default", "r", "gateway.networking.k8s.io"))["spec"] == route["spec"]
        # a second up applies no CRD again
        before = len(cluster.requests())
        assert lab.up() is False
        assert not any(r.method == "PATCH" and "customresourcedefinitions" in str(r.url.path)
                       for r in cluster.requests()[before:])
    finally:
        lab.down()


def test_a_lab_cluster_with_other_crd_versions_gets_the_pinned_ones(lab_root, tools, cluster):
    older = copy.deepcopy(gateway_api.vendored_crds()[0])
    older["metadata"]["annotations"][gateway_api.BUNDLE_VERSION] = "v1.2.0"
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    cluster.kube.apply(older)
    assert lab.up() is True
    assert gateway_api.bundle_version(crd(cluster, older["metadata"]["name"])) == versions.GATEWAY_API


@pytest.fixture
def commands_on(monkeypatch, tools, cluster):
    from lab import commands
    from tests.kube_emulator import Controller
    from tests.test_cluster_backend import SAMPLE_DEPLOYMENTS

    made = {}
    monkeypatch.setattr(commands, "make_backend",
                        lambda paths, name, port=None: made.setdefault(name, cluster_backend(name, tools, cluster)))
    with Controller(cluster.kube).watch(*SAMPLE_DEPLOYMENTS):
        yield commands


def test_existing_installs_only_missing_crds_never_downgrades_and_down_leaves_them(
        lab_root, tools, cluster, commands_on, capsys):
    theirs = copy.deepcopy(next(c for c in gateway_api.vendored_crds() if c["spec"]["names"]["kind"] == "HTTPRoute"))
    theirs["metadata"]["annotations"][gateway_api.BUNDLE_VERSION] = "v1.7.0"   # newer than the lab's
    cluster.kube.apply(theirs)
    tools._deployment("istio-system", "istiod")
    tools._deployment("istio-system", "istio-ingressgateway")
    commands_on.up(provider="existing")
    assert gateway_api.bundle_version(crd(cluster, theirs["metadata"]["name"])) == "v1.7.0"
    assert "kept as it is" in capsys.readouterr().out
    assert all(crd(cluster, name) is not None for name in CRD_NAMES)
    # no class defaults in a cluster that is not the lab's: its Gateways keep Istio's Service type
    assert cluster.kube.get(Ref("ConfigMap", "istio-system", "canary-lab-gateway-class-defaults")) is None
    commands_on.down()
    assert all(crd(cluster, name) is not None for name in CRD_NAMES)
    assert not any(r.method == "DELETE" for r in cluster.requests() if "customresourcedefinitions" in str(r.url.path))


def test_lab_clusters_get_istios_class_defaults_making_deployed_gateways_cluster_ip(lab_root, tools, cluster):
    cluster_backend("k3d", tools, cluster).up()
    defaults = cluster.kube.get(Ref("ConfigMap", "istio-system", "canary-lab-gateway-class-defaults"))
    # deploymentcontroller.go: the label names the class; `service` is merged over the Service
    assert defaults["metadata"]["labels"] == {"gateway.istio.io/defaults-for-class": "istio"}
    assert yaml.safe_load(defaults["data"]["service"]) == {"spec": {"type": "ClusterIP"}}
