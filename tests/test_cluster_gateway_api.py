"""The Gateway API on a cluster: its CRDs go in with `up` (before Istio), on every provider;
a cluster the lab did not make keeps the CRDs it had; Istio's deployed gateways are reached
through port-forwards. Kubernetes calls go over HTTP to the API emulator."""

import copy

import pytest
import yaml

from lab.backends.cluster import gateway_api, versions
from lab.config import APPS_DIR, PROJECT_DIR, gateway_tls_port, lab_paths
from lab.manifests import Ref, load_manifest_file
from lab.state import load_state
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Emulator, Istiod
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
        applies = [r for r in cluster.requests() if r.method == "PATCH"      # (cert-manager's are helm's)
                   and "customresourcedefinitions" in str(r.url.path)
                   and "gateway.networking.k8s.io" in str(r.url.path)]
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
                       and "gateway.networking.k8s.io" in str(r.url.path) for r in cluster.requests()[before:])
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
    assert not any(r.method == "DELETE" for r in cluster.requests() if "customresourcedefinitions" in str(r.url.path)
                   and "gateway.networking.k8s.io" in str(r.url.path))


def test_lab_clusters_get_istios_class_defaults_making_deployed_gateways_cluster_ip(lab_root, tools, cluster):
    cluster_backend("k3d", tools, cluster).up()
    defaults = cluster.kube.get(Ref("ConfigMap", "istio-system", "canary-lab-gateway-class-defaults"))
    # deploymentcontroller.go: the label names the class; `service` is merged over the Service
    assert defaults["metadata"]["labels"] == {"gateway.istio.io/defaults-for-class": "istio"}
    assert yaml.safe_load(defaults["data"]["service"]) == {"spec": {"type": "ClusterIP"}}


# -- the gateways Istio deploys for Gateways -------------------------------------------------------

EXERCISE = PROJECT_DIR / "exercises" / "canary-gateway-api"
HOST = "canary-gateway-api.lab.local"


def manifests(*names: str) -> list[dict]:
    return [o for name in names for o in load_manifest_file(EXERCISE / name)]


def sample_services(cluster) -> None:
    for obj in load_manifest_file(APPS_DIR / "sample-apps.yaml"):
        if obj["kind"] in ("Namespace", "Service"):
            cluster.kube.apply(obj)


def served_destinations(lab, host: str) -> list[list[tuple[str, int]]]:
    return [sorted((d.service, d.weight) for d in route.destinations)
            for route in lab.live_routes() if route.host == host and route.scheme == "http"]


@pytest.fixture
def gateway_lab(lab_root, tools, cluster):
    """A k3d lab (the fake tools) on a free port, with istiod played for the Gateway API."""
    port = gateway_port()
    lab = cluster_backend("k3d", tools, cluster, port=port)
    lab.up()
    sample_services(cluster)
    with Istiod(cluster, tools) as istiod:
        lab.istiod = istiod
        yield lab
    lab.down()


def test_apply_of_a_gateway_and_route_returns_once_istios_gateway_is_deployed_and_serves_them(gateway_lab, cluster):
    lab = gateway_lab
    assert lab.apply(manifests("manifests/gateway.yaml", "manifests/httproute.yaml")) == \
        ["gateway/canary-gateway created", "httproute/canary created"]
    # istiod deployed canary-gateway-istio (a ClusterIP Service: lab clusters' class defaults) and pushed its routes
    assert cluster.kube.get(Ref("Deployment", "canary-lab", "canary-gateway-istio")) is not None
    assert lab.istiod.pushes == ["canary-lab/canary-gateway"]
    assert served_destinations(lab, HOST) == [[("tornado.canary-lab", 100)], [("httpbin.canary-lab", 100)]]
    # the deployed gateway's admin (15000) through a port-forward of its own, flag by flag
    kubeconfig = str(lab.kubeconfig)
    forwards = [c for c in lab.runner.calls if c[:3] == ["kubectl", "port-forward", "deployment/canary-gateway-istio"]]
    port = load_state(lab_paths()).settings["gateway_admin_ports"]["canary-lab/canary-gateway-istio"]
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_port-forward/
    assert forwards == [["kubectl", "port-forward", "deployment/canary-gateway-istio", f"{port}:15000",
                         "--namespace", "canary-lab", "--address", "127.0.0.1", "--kubeconfig", kubeconfig]]


def test_patch_of_an_httproute_returns_only_once_the_deployed_gateway_serves_it(gateway_lab):
    lab = gateway_lab
    lab.apply(manifests("manifests/gateway.yaml", "manifests/httproute.yaml"))
    pushes = len(lab.istiod.pushes)
    lab.patch(Ref("HTTPRoute", "canary-lab", "canary", gateway_api.GROUP),
              [{"op": "replace", "path": "/spec/rules/1/backendRefs/0/weight", "value": 80},
               {"op": "add", "path": "/spec/rules/1/backendRefs/-", "value": {"name": "tornado", "port": 8888,
                                                                               "weight": 20}}])
    assert len(lab.istiod.pushes) == pushes + 1
    assert served_destinations(lab, HOST)[1] == [("httpbin.canary-lab", 80), ("tornado.canary-lab", 20)]


def test_traffic_for_a_gateway_api_host_goes_to_the_deployed_gateway_on_the_tracks_own_ports(gateway_lab):
    lab = gateway_lab
    lab.apply(manifests("manifests/gateway-https.yaml", "manifests/httproute.yaml"))
    kubeconfig = str(lab.kubeconfig)
    http, ca = lab.gateway_endpoint("http", HOST)
    assert (http, ca) == (f"http://127.0.0.1:{lab.port + 1}", None)
    assert lab.entry_url("http", gateway_api=True) == http
    # a host of the Istio track still goes to the ingress gateway, on the lab's port
    assert lab.gateway_endpoint("http", "canary.lab.local") == (f"http://127.0.0.1:{lab.port}", None)
    lab.ca_bundle = lambda: "ca.pem"        # cert-manager's CA is not played here
    https, ca = lab.gateway_endpoint("https", HOST)
    assert (https, ca) == (f"https://127.0.0.1:{gateway_tls_port(lab.port) + 1}", "ca.pem")
    forwards = [c for c in lab.runner.calls if c[:3] == ["kubectl", "port-forward", "service/canary-gateway-istio"]]
    assert forwards == [
        ["kubectl", "port-forward", "service/canary-gateway-istio", f"{lab.port + 1}:80", "--namespace", "canary-lab",
         "--address", "127.0.0.1", "--kubeconfig", kubeconfig],
        ["kubectl", "port-forward", "service/canary-gateway-istio", f"{gateway_tls_port(lab.port) + 1}:443",
         "--namespace", "canary-lab", "--address", "127.0.0.1", "--kubeconfig", kubeconfig]]
    # asked again, the running forwards are kept
    started = len([c for c in lab.runner.calls if c[:2] == ["kubectl", "port-forward"]])
    lab.gateway_endpoint("http", HOST)
    assert len([c for c in lab.runner.calls if c[:2] == ["kubectl", "port-forward"]]) == started


def test_the_step_texts_name_each_tracks_own_entry_point(gateway_lab, lab_root):
    from lab.exercises.catalogue import load_exercise
    from lab.exercises.walkthrough import Walkthrough

    lab = gateway_lab
    texts = {}
    for name in ("canary", "canary-gateway-api"):
        walkthrough = Walkthrough(load_exercise(name), lab, lab_paths())
        texts[name] = walkthrough.fill_in("{{gateway_url}} {{https_port}}")
    assert texts["canary"] == f"http://127.0.0.1:{lab.port} {gateway_tls_port(lab.port)}"
    assert texts["canary-gateway-api"] == f"http://127.0.0.1:{lab.port + 1} {gateway_tls_port(lab.port) + 1}"


def test_get_shows_route_and_gateway_status_as_the_api_server_returns_it(gateway_lab, cluster):
    from lab.kinds import resolve_kind

    lab = gateway_lab
    broken = manifests("manifests/httproute.yaml")[0]
    broken["spec"]["rules"][1]["backendRefs"][0]["name"] = "httpbin-v9"      # no such Service
    lab.apply(manifests("manifests/gateway.yaml") + [broken])
    route = lab.get(resolve_kind("httproute").ref("canary-lab", "canary"))
    [parent] = route["status"]["parents"]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in parent["conditions"]}
    assert conditions == {"Accepted": ("True", "Accepted"), "ResolvedRefs": ("False", "BackendNotFound")}
    assert parent["controllerName"] == "istio.io/gateway-controller"
    # `gtw` is the Gateway API's Gateway, read from its own group (not Istio's Gateway of that name)
    gateway = lab.get(resolve_kind("gtw").ref("canary-lab", "canary-gateway"))
    assert gateway["apiVersion"].startswith("gateway.networking.k8s.io/")
    assert {c["type"] for c in gateway["status"]["conditions"]} >= {"Accepted", "Programmed"}
    assert [g["metadata"]["name"] for g in lab.list_objects("Gateway", gateway_api.GROUP)] == ["canary-gateway"]


def test_down_stops_the_deployed_gateways_forwards_too(gateway_lab, tools):
    from lab.backends.local.processes import pid_alive

    lab = gateway_lab
    lab.apply(manifests("manifests/gateway.yaml", "manifests/httproute.yaml"))
    lab.gateway_endpoint("http", HOST)
    pids = [int(p.read_text()) for p in lab.paths.run_dir.glob("port-forward-*.pid")]
    assert len(pids) >= 3          # the ingress gateway's admin, the deployed gateway's admin and its HTTP
    lab.down()
    assert not any(pid_alive(pid) for pid in pids)


def test_every_https_listener_a_shipped_gateway_has_finds_its_certificate_on_a_cluster():
    """cert-manager makes each Secret a shipped Gateway API Gateway's HTTPS listener names, in the
    Gateway's namespace (certificateRefs without a namespace are the Gateway's own)."""
    made = {(c["metadata"]["namespace"], c["spec"]["secretName"]): c["spec"].get("dnsNames", [])
            for c in load_manifest_file(PROJECT_DIR / "cluster" / "issuers.yaml") if c["kind"] == "Certificate"}
    named = []
    from lab.errors import ManifestError

    for path in sorted((PROJECT_DIR / "exercises").glob("*/[ms][ao]*/*.yaml")):   # manifests/, solutions/
        try:
            found = load_manifest_file(path)
        except ManifestError:
            continue   # a JSON patch, not objects
        for obj in found:
            if not gateway_api.is_gateway(obj):
                continue
            for listener in obj["spec"].get("listeners") or []:
                for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
                    key = (ref.get("namespace") or obj["metadata"]["namespace"], ref["name"])
                    named.append(key)
                    assert key in made, f"{path}: no Certificate makes Secret {key[1]} in {key[0]}"
                    assert any(listener["hostname"] == d or d.startswith("*.") and listener["hostname"].endswith(d[1:])
                               for d in made[key]), f"{path}: the certificate does not cover {listener['hostname']}"
    assert named


def test_apply_of_a_gateway_alone_waits_until_its_routes_are_served_on_the_new_listener(gateway_lab):
    lab = gateway_lab
    lab.apply(manifests("manifests/gateway.yaml", "manifests/httproute.yaml"))
    pushes = len(lab.istiod.pushes)
    assert lab.apply(manifests("manifests/gateway-https.yaml")) == ["gateway/canary-gateway configured"]
    assert len(lab.istiod.pushes) == pushes + 1     # returned only after istiod pushed the HTTPS routes
    assert any(route.host == HOST and route.scheme == "https" for route in lab.live_routes())


def test_apply_of_a_route_from_another_namespace_waits_for_the_gateways_merged_routes(gateway_lab, cluster):
    """Every HTTPRoute attached to a Gateway is served on it, whatever its namespace: a host two of them
    share gets both routes' rules (istio pilot/pkg/config/kube/gateway/route_collections.go
    mergeHTTPRoutes: every route of one gateway and host, by the spec's precedence). The wait must expect that, not the
    applied route's rules alone (which the gateway never serves: the apply would end in a timeout)."""
    import time

    gateway = manifests("manifests/gateway.yaml")[0]
    gateway["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    lab = gateway_lab
    lab.apply([gateway, *manifests("manifests/httproute.yaml")])
    testers = yaml.safe_load(f"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {{name: testers, namespace: team-b}}
        spec:
          parentRefs: [{{name: canary-gateway, namespace: canary-lab}}]
          hostnames: [{HOST}]
          rules:
            - matches: [{{headers: [{{name: x-tester, value: "yes"}}]}}]
              backendRefs: [{{name: preview, port: 8000}}]
        """)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "preview", "namespace": "team-b"},
               "spec": {"selector": {"app": "preview"}, "ports": [{"port": 8000}]}}
    started = time.monotonic()
    assert lab.apply([namespace, service, testers]) == \
        ["namespace/team-b created", "service/preview created", "httproute/testers created"]
    assert time.monotonic() - started < 15
    # served once it returned: the tester's header rule beside canary-lab's own rules
    assert [("preview.team-b", 100)] in served_destinations(lab, HOST)
    assert [("tornado.canary-lab", 100)] in served_destinations(lab, HOST)


def test_the_deployed_gateway_is_named_gateway_dash_class_unless_the_gateway_names_it():
    """istio deploymentcontroller.go: GetDefaultName is `<gateway>-<class>`; the Gateway's
    gateway.istio.io/name-override annotation names the Deployment and the Service instead."""
    gateway = manifests("manifests/gateway.yaml")[0]
    assert gateway_api.deployment_ref(gateway) == Ref("Deployment", "canary-lab", "canary-gateway-istio")
    gateway["metadata"]["annotations"] = {"gateway.istio.io/name-override": "front-door"}
    assert gateway_api.deployment_ref(gateway) == Ref("Deployment", "canary-lab", "front-door")


def test_the_model_of_a_route_takes_the_services_it_mirrors_to():
    """A RequestMirror filter's backendRef is a Service istiod resolves like a backend (conversion.go
    createMirrorFilter): the prediction needs it, or the apply cannot wait for the mirror."""
    from lab.backends.cluster.gateway_api import backend_services

    route = {"kind": "HTTPRoute", "metadata": {"name": "shop", "namespace": "shop"}, "spec": {"rules": [{
        "backendRefs": [{"name": "shop-v1", "port": 80,
                         "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "audit"}}}]}],
        "filters": [{"type": "RequestMirror",
                     "requestMirror": {"backendRef": {"name": "shop-v2", "namespace": "next", "port": 80}}}]}]}}
    assert backend_services(route) == {Ref("Service", "shop", "shop-v1"), Ref("Service", "shop", "audit"),
                                       Ref("Service", "next", "shop-v2")}
