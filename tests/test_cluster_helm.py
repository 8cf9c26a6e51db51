"""`invoke helm` on a cluster: the real `helm upgrade --install` (played by tests/fake_helm.py with the
real `helm template`), then a wait until the gateways serve what the release holds now."""

import time

import pytest

from lab.backends.cluster.kube import deployment_rolled_out
from lab.config import PROJECT_DIR
from lab.helm import upgrade
from lab.manifests import Ref, load_manifest_file
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Controller, Emulator, Istiod
from tests.lab_process import gateway_port

EXERCISE = PROJECT_DIR / "exercises" / "cross-namespace"
CHART = EXERCISE / "chart" / "traffic-manager"
SERVICES = load_manifest_file(EXERCISE / "manifests" / "services.yaml")
DEPLOYMENTS = [Ref("Deployment", o["metadata"]["namespace"], o["metadata"]["name"])
               for o in SERVICES if o["kind"] == "Deployment"]


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


@pytest.fixture
def lab(lab_root, tools, cluster, helm):
    lab = cluster_backend("k3d", tools, cluster, port=gateway_port())
    lab.up()
    with Controller(cluster.kube).watch(*DEPLOYMENTS), Istiod(cluster, tools):
        lab.apply(SERVICES)
        yield lab
    lab.down()


def destinations(lab, host: str) -> list[list[tuple[str, int]]]:
    return [sorted((d.service, d.weight) for d in route.destinations)
            for route in lab.live_routes() if route.host == host and route.scheme == "http"]


def test_an_upgrade_returns_once_the_ingress_gateway_serves_the_release(lab, tools):
    lines = upgrade(lab, CHART, "traffic-manager", "traffic", [EXERCISE / "solutions" / "values-header-only.yaml"])
    assert lines[0] == 'release "traffic-manager" upgraded in namespace traffic (helm upgrade --install)'
    assert "virtualservice/traffic-manager" in lines
    # served before it returned: the header route to v2 first, then everyone to v1
    assert destinations(lab, "search.lab.local") == [[("search.services-v2", 100)], [("search.services-v1", 100)]]
    started = time.monotonic()
    upgrade(lab, CHART, "traffic-manager", "traffic", [], ["canary.weight=10"], reuse_values=True)
    assert time.monotonic() - started < 20
    assert destinations(lab, "search.lab.local") == [[("search.services-v2", 100)],
                                                     [("search.services-v1", 90), ("search.services-v2", 10)]]
    assert tools.helm.revisions[("traffic-manager", "traffic")] == 2


def test_a_release_whose_deployment_changes_returns_once_it_rolled_out(lab, cluster, tmp_path):
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    deployment = next(o for o in SERVICES if o["kind"] == "Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    (chart / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: made-by-helm, namespace: services-v1}\n"
        "spec:\n  replicas: {{ .Values.replicas | default 1 }}\n"
        f"  selector: {{matchLabels: {{app: made}}}}\n  template:\n    metadata: {{labels: {{app: made}}}}\n"
        f"    spec: {{containers: [{{name: app, image: {image}}}]}}\n")
    ref = Ref("Deployment", "services-v1", "made-by-helm")
    with Controller(cluster.kube).watch(ref):
        upgrade(lab, chart, "made", "services-v1", [], ["replicas=3"])
        assert deployment_rolled_out(cluster.kube.get(ref))
