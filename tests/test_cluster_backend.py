"""The cluster path, command by command: every external command asserted flag by flag
(each flag as the tool documents it), Kubernetes calls over HTTP to an API emulator."""

import base64
import copy
import re

import pytest
import yaml

from lab import commands
from lab.backends.base import LiveRoute, RouteDestination
from lab.backends.cluster import versions
from lab.backends.cluster.kube import terminating
from lab.config import APPS_DIR, PROJECT_DIR, gateway_tls_port, lab_paths
from lab.errors import LabError
from lab.manifests import Ref
from lab.state import load_state
from tests.conftest import objects
from tests.fake_tools import ARGO_ROLLOUT_CRD, cluster_backend, pin_addons
from tests.kube_emulator import Controller, Emulator
from tests.lab_process import gateway_port


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


def test_k3d_up_runs_each_tool_with_documented_flags(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    assert lab.up() is True
    registry = load_state(lab_paths()).settings["registry_port"]
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    rendered = str(lab_root / ".lab" / "run" / "k3d.yaml")
    # built for the Docker engine's architecture (the fake's arm64), not this Python's
    arch = ["docker", "version", "--format", "{{.Server.Arch}}"]
    # pushed under the path the nodes' mirror of the lab's image host (canary-lab.invalid) looks for
    builds = [["docker", "build", "--platform", "linux/arm64", "--tag",
               f"127.0.0.1:{registry}/{image}", str(APPS_DIR / app)]
              for image, app in (("httpbin:1.0", "httpbin"), ("tornado-websocket:1.0", "tornado"),
                                 ("version-app:1.0", "version"))]
    # Each segment's calls run at once with the others of it: compared as interleavings.
    segments = [
        [["k3d", "cluster", "list", "-o", "json"]],
        # https://k3d.io/stable/usage/commands/k3d_cluster_create/ (--config, --wait, --timeout);
        # the images build meanwhile (their build does not need the cluster)
        [["k3d", "cluster", "create", "--config", rendered, "--wait", "--timeout", "300s"], arch] + builds,
        [["k3d", "kubeconfig", "get", "canary-lab"]],
        # https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-install, with cert-manager
        [["istioctl", "install", "-f", str(PROJECT_DIR / "cluster" / "istio-operator.yaml"), "--skip-confirmation",
          "--kubeconfig", kubeconfig],
         ["kubectl", "rollout", "status", "deployment/istiod", "--namespace", "istio-system",
          "--timeout=300s", "--kubeconfig", kubeconfig],
         ["kubectl", "rollout", "status", "deployment/istio-ingressgateway", "--namespace", "istio-system",
          "--timeout=300s", "--kubeconfig", kubeconfig],
         ["kubectl", "rollout", "status", "deployment/istio-egressgateway", "--namespace", "istio-system",
          "--timeout=300s", "--kubeconfig", kubeconfig],
         ["helm", "upgrade", "--install", "cert-manager", "cert-manager", "--repo", "https://charts.jetstack.io",
          "--version", versions.CERT_MANAGER, "--namespace", "cert-manager", "--create-namespace", "--set",
          "crds.enabled=true", "--set", "crds.keep=false", "--wait", "--timeout", "5m", "--kubeconfig", kubeconfig]],
        # built again (from Docker's cache) and pushed to the registry k3d made with the cluster
        [arch] + [argv for build in builds for argv in (build, ["docker", "push", build[5]])],
    ]
    at = 0
    for segment in segments:
        got = tools.calls[at:at + len(segment)]
        assert sorted(map(tuple, got)) == sorted(map(tuple, segment))
        first = segment[0]       # within a segment, each thread's own calls keep their order
        mine = [c for c in segment if c[0] == first[0] or first[0] == "istioctl" and c[0] == "kubectl"]
        assert [c for c in got if c in mine] == mine
        at += len(segment)
    assert at == len(tools.calls)
    # The lab's kubeconfig is its own: the user's is never named.
    assert all("--kubeconfig" not in c or kubeconfig in c for c in tools.calls)
    assert load_state(lab_paths()).provider == "k3d"
    assert tools.installed == [["k3d", "kubectl", "istioctl", "helm"]]
    # The issuers are really applied (server-side) to the cluster.
    assert cluster.kube.get(Ref("ClusterIssuer", "", "canary-lab-ca")) is not None
    assert cluster.kube.get(Ref("Certificate", "istio-system", "canary-lab-gateway")) is not None


def test_k3d_config_publishes_the_gateway_on_loopback_at_the_chosen_port(lab_root, tools, cluster):
    cluster_backend("k3d", tools, cluster, port=9080).up()
    rendered = yaml.safe_load((lab_root / ".lab" / "run" / "k3d.yaml").read_text())
    assert [p["port"] for p in rendered["ports"]] == ["127.0.0.1:9080:80", "127.0.0.1:9443:443"]
    assert rendered["options"]["kubeconfig"] == {"updateDefaultKubeconfig": False, "switchCurrentContext": False}
    assert rendered["image"] == versions.K3S_IMAGE == "rancher/k3s:v1.35.5-k3s1"
    # k3d docs usage/registries.md: a registry made with the cluster, on the host's loopback, and
    # the nodes pull the lab's image host from it (and from nowhere else: .invalid never resolves)
    registry = load_state(lab_paths()).settings["registry_port"]
    assert rendered["registries"]["create"] == {"name": "canary-lab-registry", "host": "127.0.0.1",
                                                "hostPort": str(registry)}
    assert yaml.safe_load(rendered["registries"]["config"]) == \
        {"mirrors": {"canary-lab.invalid": {"endpoint": ["http://canary-lab-registry:5000"]}}}
    assert {"arg": "--disable=traefik", "nodeFilters": ["server:*"]} in rendered["options"]["k3s"]["extraArgs"]


def test_istio_and_cert_manager_install_at_the_same_time(lab_root, tools, cluster):
    import threading

    together = threading.Barrier(2, timeout=10)   # each install waits until the other has started
    tools.meet = {"istioctl install": together, "helm upgrade --install cert-manager": together}
    assert cluster_backend("k3d", tools, cluster).up() is True
    assert not together.broken


@pytest.mark.parametrize("provider, create", [("k3d", "k3d cluster create"), ("kind", "kind create cluster")])
def test_images_build_while_the_cluster_is_created(lab_root, tools, cluster, provider, create):
    import threading

    together = threading.Barrier(2, timeout=10)
    tools.meet = {create: together, "docker build": together}
    lab = cluster_backend(provider, tools, cluster, port=gateway_port())
    try:
        assert lab.up() is True
    finally:
        lab.down()
    assert not together.broken


def test_second_up_changes_nothing_and_runs_nothing_that_creates(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    tools.calls.clear()
    assert lab.up() is False
    assert tools.commands() == ["k3d cluster list", "k3d kubeconfig get"]


def test_up_after_an_interrupted_one_finishes_the_job(lab_root, tools, cluster):
    tools.fail["helm upgrade"] = "Error: context deadline exceeded"
    lab = cluster_backend("k3d", tools, cluster)
    with pytest.raises(LabError, match="context deadline exceeded"):
        lab.up()
    assert load_state(lab_paths()).provider == "k3d"   # down can clean up from here
    del tools.fail["helm upgrade"]
    tools.calls.clear()
    assert lab.up() is True
    assert "k3d cluster create" not in tools.commands() and "istioctl install -f" not in tools.commands()
    assert "helm upgrade --install" in tools.commands()


SAMPLE_DEPLOYMENTS = [Ref("Deployment", "canary-lab", "httpbin"), Ref("Deployment", "canary-lab", "tornado")]


@pytest.fixture
def commands_on(monkeypatch, tools, cluster):
    """lab.commands with its backend made on the fake tools and the emulator (a controller makes
    the sample apps' Deployments ready)."""
    made = {}

    def make_backend(paths, name, port=None):
        made.setdefault(name, cluster_backend(name, tools, cluster))
        return made[name]

    monkeypatch.setattr(commands, "make_backend", make_backend)
    with Controller(cluster.kube).watch(*SAMPLE_DEPLOYMENTS):
        yield commands


@pytest.mark.parametrize("provider", ["k3d", "minikube"])
@pytest.mark.parametrize("how", ["fails", "ctrl-c"])
def test_a_first_up_that_fails_or_is_interrupted_keeps_the_cluster_and_the_next_up_finishes(
        lab_root, tools, cluster, commands_on, provider, how):
    if how == "fails":
        tools.fail["helm upgrade"] = "Error: context deadline exceeded"
        with pytest.raises(LabError, match="context deadline exceeded"):
            commands_on.up(provider=provider)
    else:
        tools.interrupt = "helm upgrade"
        with pytest.raises(KeyboardInterrupt):
            commands_on.up(provider=provider)
    assert not any(c[:3] in (["k3d", "cluster", "delete"], ["minikube", "delete", "--profile"]) for c in tools.calls)
    assert tools.clusters == {"canary-lab"} and load_state(lab_paths()).provider == provider
    tools.fail.clear()
    tools.interrupt = ""
    tools.calls.clear()
    commands_on.up()                   # the lab in state.json: finishes the job
    assert "helm upgrade --install" in tools.commands()
    assert "k3d cluster create" not in tools.commands() and "istioctl install -f" not in tools.commands()
    assert all(cluster.kube.get(ref) is not None for ref in SAMPLE_DEPLOYMENTS)


def test_a_stopped_k3d_cluster_is_started_not_skipped(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    tools.stopped.add("canary-lab")    # a reboot, or `k3d cluster stop canary-lab`
    tools.calls.clear()
    assert lab.up() is True
    # k3d cmd/cluster/clusterStart.go: --wait for the servers, --timeout
    assert ["k3d", "cluster", "start", "canary-lab", "--wait", "--timeout", "300s"] in tools.calls
    assert "k3d cluster create" not in tools.commands() and not tools.stopped


def test_a_stopped_minikube_profile_is_started_again(lab_root, tools, cluster):
    lab = cluster_backend("minikube", tools, cluster, port=gateway_port())
    lab.up()
    tools.stopped.add("canary-lab")
    tools.calls.clear()
    assert lab.up() is True
    assert [c for c in tools.calls if c[:2] == ["minikube", "start"]] == [lab.provider.start_argv()]
    assert not tools.stopped
    lab.down()


def image_loads(tools):
    return [c for c in tools.calls if c[:2] == ["docker", "push"]]


def test_images_are_loaded_again_into_a_cluster_made_outside_the_lab(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    tools.calls.clear()
    tools._new_cluster()      # `k3d cluster delete canary-lab && k3d cluster create ...` by hand
    lab.up()
    assert image_loads(tools) and "docker build --platform" in tools.commands()


def test_an_edit_in_an_app_rebuilds_its_images_and_nothing_else_does(lab_root, tools, cluster, monkeypatch, tmp_path):
    import shutil

    from lab.backends.cluster import backend as cluster_backend_module

    apps = tmp_path / "apps-copy"
    copies = {image: shutil.copytree(context, apps / context.name)
              for image, context in cluster_backend_module.LAB_IMAGES.items()}
    monkeypatch.setattr(cluster_backend_module, "LAB_IMAGES", copies)
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    tools.calls.clear()
    lab.up()
    assert not image_loads(tools)
    app = apps / "version" / "app.py"
    app.write_text(app.read_text() + "\n# an edit\n")
    lab.up()
    assert image_loads(tools)


def test_down_deletes_the_cluster_and_with_nothing_up_exits_quietly(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    tools.calls.clear()
    assert lab.down() is True
    assert ["k3d", "cluster", "delete", "canary-lab"] in tools.calls
    assert not (lab_root / ".lab" / "kubeconfig").exists() and load_state(lab_paths()) is None
    tools.calls.clear()
    assert lab.down() is False
    assert tools.commands() == ["k3d cluster list"]


def test_minikube_starts_from_its_settings_file_and_forwards_the_gateway(lab_root, tools, cluster):
    port = gateway_port()
    lab = cluster_backend("minikube", tools, cluster, port=port)
    lab.up()
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    assert tools.installed == [["minikube", "kubectl", "istioctl", "helm"]]
    # https://minikube.sigs.k8s.io/docs/commands/start/
    assert ["minikube", "start", "--profile", "canary-lab", f"--kubernetes-version={versions.MINIKUBE_KUBERNETES}",
            "--driver=docker", "--cpus=4", "--memory=8192",
            "--addons=metrics-server"] in tools.calls
    assert ["minikube", "update-context", "--profile", "canary-lab"] in tools.calls
    # built inside the node (minikube cmd/minikube/cmd/image.go: image build PATH --tag): no docker save
    assert ["minikube", "image", "build", str(APPS_DIR / "httpbin"), "--tag", "canary-lab.invalid/httpbin:1.0",
            "--profile", "canary-lab"] in tools.calls
    assert not any(c[:2] in (["docker", "save"], ["minikube", "image"]) and c[2] in ("load", "save")
                   for c in tools.calls if len(c) > 2)
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_port-forward/
    assert ["kubectl", "port-forward", "service/istio-ingressgateway", f"{port}:80", "--namespace", "istio-system",
            "--address", "127.0.0.1", "--kubeconfig", kubeconfig] in tools.calls
    assert ["kubectl", "port-forward", "service/istio-ingressgateway", f"{gateway_tls_port(port)}:443",
            "--namespace", "istio-system", "--address", "127.0.0.1", "--kubeconfig", kubeconfig] in tools.calls
    forwards = [lab.gateway_forward(), lab.gateway_tls_forward()]
    assert all(f.running() for f in forwards)
    lab.down()
    assert not any(f.running() for f in forwards)   # down stops what the lab started


def test_a_dead_or_wedged_minikube_port_forward_is_restarted_before_traffic(lab_root, tools, cluster):
    import os
    import signal

    from lab.backends.cluster.portforward import answers_http

    lab = cluster_backend("minikube", tools, cluster, port=gateway_port())
    lab.up()
    forward = lab.gateway_forward()
    try:
        os.kill(forward.pid(), signal.SIGKILL)           # it died
        base, _ = lab.gateway_endpoint("http")
        assert base == lab.gateway_url() and forward.running() and answers_http(lab.port)
        wedged = forward.pid()
        os.kill(wedged, signal.SIGSTOP)                  # it runs and accepts, but never answers
        assert forward.running() and not answers_http(lab.port)
        lab.gateway_endpoint("http")
        assert forward.pid() != wedged and answers_http(lab.port)
        assert lab.ensure_gateway_forwards() is False    # a working forward is left alone
    finally:
        lab.down()


def test_kind_creates_its_registry_then_the_cluster_and_mirrors_docker_io_through_it(lab_root, tools, cluster):
    port = gateway_port()
    lab = cluster_backend("kind", tools, cluster, port=port)
    lab.up()
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    registry = load_state(lab_paths()).settings["registry_port"]
    assert tools.installed == [["kind", "kubectl", "istioctl", "helm"]]
    run = [c for c in tools.calls if c[0] in ("kind", "docker") and c[:2] not in (["docker", "build"],
                                                                                   ["docker", "push"],
                                                                                   ["docker", "version"])]
    hosts_dir = "/etc/containerd/certs.d/canary-lab.invalid"
    assert run[:12] == [
        ["kind", "get", "clusters"],
        # kind site/static/examples/kind-with-registry.sh: the registry on the host's loopback
        ["docker", "inspect", "-f", "{{.State.Running}}", "canary-lab-registry"],
        ["docker", "start", "canary-lab-registry"],
        ["docker", "rm", "-f", "canary-lab-registry"],
        ["docker", "run", "-d", "--restart=always", "-p", f"127.0.0.1:{registry}:5000", "--network", "bridge",
         "--name", "canary-lab-registry", "registry:3"],
        # kind pkg/cmd/kind/create/cluster/createcluster.go: --name --image --config --kubeconfig --wait
        ["kind", "create", "cluster", "--name", "canary-lab", "--image", versions.KIND_NODE_IMAGE,
         "--config", str(PROJECT_DIR / "cluster" / "kind.yaml"), "--kubeconfig", kubeconfig, "--wait", "300s"],
        # then each of the script's steps 1, 3, 4 checked, and done when missing (every `up`)
        ["docker", "inspect", "-f", "{{.State.Running}}", "canary-lab-registry"],
        ["kind", "get", "nodes", "--name", "canary-lab"],
        ["docker", "exec", "canary-lab-control-plane", "cat", f"{hosts_dir}/hosts.toml"],
        ["docker", "exec", "-i", "canary-lab-control-plane", "sh", "-c",
         f"mkdir -p {hosts_dir} && cat > {hosts_dir}/hosts.toml"],
        ["docker", "inspect", "-f", "{{json .NetworkSettings.Networks.kind}}", "canary-lab-registry"],
        ["docker", "network", "connect", "kind", "canary-lab-registry"],
    ]
    node = tools.docker.containers["canary-lab-control-plane"]
    # no `server`: its default is canary-lab.invalid itself, which never resolves (containerd docs/hosts.md)
    assert node.files[f"{hosts_dir}/hosts.toml"] == ('[host."http://canary-lab-registry:5000"]\n'
                                                     '  capabilities = ["pull", "resolve"]\n')
    assert tools.docker.containers["canary-lab-registry"].images == {"httpbin:1.0", "tornado-websocket:1.0",
                                                                     "version-app:1.0"}
    config = yaml.safe_load((PROJECT_DIR / "cluster" / "kind.yaml").read_text())
    assert 'config_path = "/etc/containerd/certs.d"' in config["containerdConfigPatches"][0]
    assert lab.gateway_forward().running()             # no LoadBalancer in kind: forwarded
    tools.stopped.add("canary-lab")                    # a reboot stops the node container
    tools.calls.clear()
    assert lab.up() is True
    assert ["docker", "start", "canary-lab-control-plane"] in tools.calls
    lab.down()
    assert ["kind", "delete", "cluster", "--name", "canary-lab", "--kubeconfig", kubeconfig] in tools.calls
    assert ["docker", "rm", "-f", "canary-lab-registry"] in tools.calls[-3:]
    assert not lab.gateway_forward().running()


def test_the_https_check_trusts_the_ca_cert_manager_made(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    with pytest.raises(LabError, match="canary-lab-ca is not there yet"):
        lab.ca_bundle()                     # cert-manager has not issued the CA yet
    pem = b"-----BEGIN CERTIFICATE-----\nlab CA\n-----END CERTIFICATE-----\n"
    cluster.kube.apply({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "canary-lab-ca", "namespace": "cert-manager"},
                        "type": "kubernetes.io/tls", "data": {"ca.crt": base64.b64encode(pem).decode()}})
    assert lab.ca_bundle().read_bytes() == pem
    assert lab.gateway_tls_url() == "https://127.0.0.1:8443"


def test_apply_validates_first_then_server_side_applies(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    bad = objects("""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: canary, namespace: canary-lab}
        spec:
          hosts: [canary.lab.local]
          http: [{route: [{destination: {host: a}, weight: 70}, {destination: {host: b}, weight: 20}]}]
        """)
    with pytest.raises(LabError, match="add up to 90"):
        lab.apply(bad)
    assert cluster.kube.get(Ref("VirtualService", "canary-lab", "canary")) is None
    bad[0]["spec"]["http"][0]["route"][0]["weight"] = 80
    assert lab.apply(bad) == ["virtualservice/canary created"]
    assert lab.apply(bad) == ["virtualservice/canary unchanged"]
    assert lab.patch(Ref("VirtualService", "canary-lab", "canary"),
                     [{"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 50}]) == \
        "virtualservice/canary patched"


LOAD = """
    apiVersion: v1
    kind: Namespace
    metadata: {name: shop-load}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: load, namespace: shop-load}
    spec:
      replicas: 1
      selector: {matchLabels: {app: load}}
      template:
        metadata: {labels: {app: load}}
        spec: {containers: [{name: load, image: curlimages/curl:8.11.1}]}
    """
LOAD_REF = Ref("Deployment", "shop-load", "load")


def test_the_emulator_keeps_a_deleted_namespace_terminating_and_refuses_new_content(lab_root, tools, cluster):
    [namespace, deployment] = objects(LOAD)
    cluster.kube.apply(namespace)
    cluster.kube.delete(Ref("Namespace", "", "shop-load"))
    assert cluster.kube.get(Ref("Namespace", "", "shop-load"))["status"]["phase"] == "Terminating"
    with pytest.raises(LabError, match="because it is being terminated"):
        cluster.kube.apply(deployment)
    cluster.kube.wait_until_not_terminating("shop-load", timeout=10)
    assert cluster.kube.get(Ref("Namespace", "", "shop-load")) is None


def test_apply_right_after_a_namespace_is_deleted_waits_until_it_is_gone(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    with Controller(cluster.kube).watch(LOAD_REF):
        lab.apply(objects(LOAD))
        lab.delete([LOAD_REF, Ref("Namespace", "", "shop-load")])     # the autoscale check's clean-up
        assert lab.apply(objects(LOAD)) == ["namespace/shop-load created", "deployment/load created"]
    assert cluster.kube.get(Ref("Namespace", "", "shop-load"))["metadata"].get("deletionTimestamp") is None


def test_apply_of_a_template_change_returns_once_every_replica_runs_it(lab_root, tools, cluster):
    lab = cluster_backend("k3d", tools, cluster)
    [namespace, deployment] = objects(LOAD)
    deployment["spec"]["replicas"] = 3
    with Controller(cluster.kube).watch(LOAD_REF):
        lab.apply([namespace, deployment])
        first = cluster.kube.get(LOAD_REF)
        assert first["status"]["availableReplicas"] == 3
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "curlimages/curl:8.12.0"
        lab.apply([namespace, deployment])
        # old pods are still available right after the change: done only when the new template runs
        done = cluster.kube.get(LOAD_REF)
    assert done["metadata"]["generation"] == first["metadata"]["generation"] + 1
    assert done["status"]["observedGeneration"] == done["metadata"]["generation"]
    assert done["status"]["updatedReplicas"] == 3 == done["status"]["availableReplicas"]


def test_a_forward_that_dies_between_its_probe_and_the_read_is_restarted_and_read_again(
        lab_root, tools, cluster, monkeypatch):
    """kubectl's port-forward ends when the pod behind it goes: a check's read of the gateway's routes
    must not end in a traceback because the forward died just after its probe answered."""
    import os
    import signal

    from lab.backends.cluster import backend as cluster_module
    from lab.backends.cluster.portforward import answers_http

    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    forward, deaths = lab.admin_forward(), []

    def answers_then_dies(port):
        answered = answers_http(port)
        if answered and not deaths and forward.running():
            deaths.append(forward.pid())
            os.kill(forward.pid(), signal.SIGKILL)       # gone right after the probe
            os.waitpid(deaths[0], 0)
        return answered

    try:
        lab.admin_forward().ensure(probe=answers_http)
        with monkeypatch.context() as dying:
            dying.setattr(cluster_module, "answers_http", answers_then_dies)
            assert isinstance(lab.live_routes(), list) and deaths      # read through a new forward
        assert forward.running() and forward.pid() != deaths[0]
        os.kill(forward.pid(), signal.SIGKILL)           # and a forward that never reads again: one line
        with monkeypatch.context() as still_answering:
            still_answering.setattr(cluster_module, "answers_http", lambda port: True)
            still_answering.setattr(type(forward), "running", lambda self: True)
            with pytest.raises(LabError, match="could not read the gateway's Envoy through its port-forward") as e:
                lab.ready_endpoints()
        assert "invoke up" in e.value.fix
    finally:
        lab.down()


def scripted_routes(*reads):
    """The gateway's live routes, read after read (the last one stays): what istiod pushes, late."""
    pending = list(reads)

    def read():
        return pending.pop(0) if len(pending) > 1 else pending[0]

    read.pending = pending
    return read


def test_patch_returns_only_once_the_gateway_serves_the_change(lab_root, tools, cluster):
    from tests.test_routes_wait import CONTEXT, live, virtual_service

    lab = cluster_backend("k3d", tools, cluster)
    for obj in [*CONTEXT, virtual_service("[{destination: {host: httpbin}, weight: 100}]")]:
        cluster.kube.apply(obj)
    old = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)])
    new = live([("tornado", 100)], [("tornado", 100)], [("tornado", 100)])
    lab.live_routes = scripted_routes(old, old, new)
    # 100% httpbin → 100% tornado: the same weights, another destination
    lab.patch(Ref("VirtualService", "canary-lab", "canary"),
              [{"op": "replace", "path": "/spec/http/1/route/0/destination/host", "value": "tornado"}])
    assert lab.live_routes.pending == [new]


def test_apply_of_a_weight_0_destination_returns_once_istiod_serves_it_without_it(lab_root, tools, cluster):
    from tests.test_routes_wait import CONTEXT, live, virtual_service

    lab = cluster_backend("k3d", tools, cluster)
    for obj in CONTEXT:
        cluster.kube.apply(obj)
    # istiod serves httpbin alone (pilot/pkg/networking/core/route/route.go drops weight 0)
    lab.live_routes = scripted_routes(live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)]))
    vs = virtual_service("[{destination: {host: httpbin}, weight: 100}, {destination: {host: tornado}, weight: 0}]")
    assert lab.apply([vs]) == ["virtualservice/canary created"]


def test_apply_of_a_hashing_destinationrule_returns_once_the_routes_to_its_service_hash(lab_root, tools, cluster):
    """A DestinationRule changes no destination, only how its Service's routes hash (route.go
    consistentHashToHashPolicy): the apply waits for that, so the sticky check after it meets it."""
    from tests.test_routes_wait import CONTEXT, SPLIT, live

    lab = cluster_backend("k3d", tools, cluster)
    for obj in [*CONTEXT, SPLIT]:
        cluster.kube.apply(obj)
    old = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)])
    new = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)])
    new[-1].policies = ("hash cookie session",)
    lab.live_routes = scripted_routes(old, old, new)
    rule = yaml.safe_load("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: httpbin, namespace: canary-lab}
        spec:
          host: httpbin.canary-lab.svc.cluster.local
          trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 0s}}}}
        """)
    assert lab.apply([rule]) == ["destinationrule/httpbin created"]
    assert lab.live_routes.pending == [new]


def test_apply_of_outlier_detection_returns_once_the_services_clusters_eject(lab_root, tools, cluster, monkeypatch,
                                                                              capsys):
    """outlierDetection lives in the Service's clusters (CDS), not its routes: the apply waits until the
    gateway's clusters of that Service eject failing pods, so the ejection check's traffic meets it."""
    from lab.backends.cluster import backend as cluster_module
    from lab.envoy_admin import EnvoyAdmin
    from tests.test_routes_wait import CONTEXT

    lab = cluster_backend("k3d", tools, cluster)
    for obj in CONTEXT:
        cluster.kube.apply(obj)
    reads = [set(), set(), {"outbound|8000||httpbin.canary-lab.svc.cluster.local"}]
    monkeypatch.setattr(EnvoyAdmin, "outlier_clusters", lambda self: reads.pop(0) if len(reads) > 1 else reads[0])
    monkeypatch.setattr(type(lab), "_admins", lambda self: [EnvoyAdmin("http://127.0.0.1:9")])
    rule = yaml.safe_load("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: httpbin, namespace: canary-lab}
        spec:
          host: httpbin
          trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 1m}}
        """)
    assert lab.apply([rule]) == ["destinationrule/httpbin created"]
    assert len(reads) == 1                                   # it read until the cluster ejected
    monkeypatch.setattr(cluster_module, "poll", lambda *a, **k: False)   # a gateway that never ejects
    lab.apply([rule])                                        # the cluster took it: a note, not a failure
    assert "do not eject failing pods as the lab predicted" in capsys.readouterr().out


def test_apply_of_a_subset_fix_returns_once_the_gateway_knows_a_pod_of_it(lab_root, tools, cluster, capsys):
    """debug's fix-subset: the subset's labels now select running pods, and istiod pushes its new
    endpoints after the apply; the apply returns once the gateway knows one, so the check right after
    it does not meet the subset's old, empty endpoints (503 UH)."""
    from tests.test_routes_wait import CONTEXT

    lab = cluster_backend("k3d", tools, cluster)
    v2 = Ref("Deployment", "canary-lab", "httpbin-v2")
    deployment = yaml.safe_load("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: httpbin-v2, namespace: canary-lab}
        spec:
          replicas: 1
          selector: {matchLabels: {app: httpbin, version: v2}}
          template:
            metadata: {labels: {app: httpbin, version: v2}}
            spec: {containers: [{name: httpbin, image: canary-lab.invalid/httpbin:1}]}
        """)
    rule = yaml.safe_load("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: httpbin, namespace: canary-lab}
        spec: {host: httpbin, subsets: [{name: v2, labels: {version: v2}}]}
        """)
    with Controller(cluster.kube).watch(v2):
        lab.apply([*CONTEXT, deployment])
        reads = [{}, {("httpbin.canary-lab", "v2"): 0}, {("httpbin.canary-lab", "v2"): 1}]
        lab.ready_endpoints = lambda: reads.pop(0) if len(reads) > 1 else reads[0]
        lab.apply([rule])
        assert len(reads) == 1                                  # it asked until the gateway knew a pod
        rule["spec"]["subsets"][0]["labels"] = {"version": "v3"}    # selects no pod: nothing to wait for
        reads[:] = [{}]
        lab.apply([rule])
    assert "knows no pod" not in capsys.readouterr().out


def test_a_destinationrule_the_model_cannot_read_as_istiod_does_leaves_the_wait_out(lab_root, tools, cluster, capsys):
    """A subset's own trafficPolicy hashes on a cluster (route.go HashForHTTPDestination) and the model
    reads only the top-level one: the apply stands without a wait for what istiod may not write."""
    from tests.test_routes_wait import CONTEXT, SPLIT

    lab = cluster_backend("k3d", tools, cluster)
    rule = yaml.safe_load("""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: httpbin, namespace: canary-lab}
        spec:
          host: httpbin
          subsets:
            - name: v1
              labels: {version: v1}
              trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
        """)
    lab.live_routes = lambda: []          # a gateway that serves nothing: a wait would time out
    assert lab.apply([*CONTEXT, rule, SPLIT])[-1] == "virtualservice/canary created"
    assert "not waiting for the gateway, whose routes the lab cannot predict here" in capsys.readouterr().out


def test_the_progressive_exercise_waits_for_its_apply_and_each_patch_as_istiod_serves_them(lab_root, tools, cluster):
    from lab.manifests import load_manifest_file
    from lab.patches import load_patch

    exercise = PROJECT_DIR / "exercises" / "progressive"
    manifests = [o for name in ("app.yaml", "gateway.yaml", "virtualservice.yaml")
                 for o in load_manifest_file(exercise / "manifests" / name)]

    def gateway(*weights):   # app.lab.local only: `app-example` is a mesh-only host; weight 0 is dropped
        return [LiveRoute("app.lab.local", "uri /*", [RouteDestination("app-example.app-example", subset, w)
                                                      for subset, w in zip(("stable", "canary"), weights, strict=True)
                                                      if w])]

    lab = cluster_backend("k3d", tools, cluster)
    deployments = [Ref("Deployment", "app-example", o["metadata"]["name"])
                   for o in manifests if o["kind"] == "Deployment"]
    with Controller(cluster.kube).watch(*deployments):
        lab.live_routes = scripted_routes(gateway(100, 0))
        lab.apply(manifests)
        lab.live_routes = scripted_routes(gateway(100, 0), gateway(50, 50))
        lab.patch(Ref("VirtualService", "app-example", "app-example"),
                  load_patch(exercise / "solutions" / "patch-canary-50.yaml"))
        assert lab.live_routes.pending == [gateway(50, 50)]


def test_addons_come_from_the_istio_release_and_the_dashboard_opens_on_loopback(lab_root, tools, cluster,
                                                                                 monkeypatch):
    kept = pin_addons(monkeypatch, lab_root / ".lab" / "downloads")
    lab = cluster_backend("k3d", tools, cluster)
    lab.up()
    tools.calls.clear()
    with pytest.raises(LabError, match="kiali is not installed"):
        lab.dashboard("kiali")
    lab.install_addons(["kiali"])
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    assert tools.calls[0] == ["kubectl", "apply", "-f", str(kept["kiali"]), "--kubeconfig", kubeconfig]
    lab.dashboard("kiali")
    assert tools.calls[-1] == ["istioctl", "dashboard", "kiali", "--address", "127.0.0.1",
                               "--kubeconfig", kubeconfig]
    with pytest.raises(LabError, match="unknown addon 'grafana'"):
        lab.install_addons(["grafana"])


def test_what_an_exercise_says_of_k3d_or_minikube_holds_on_every_cluster_provider():
    from lab.config import runs_on

    assert runs_on("kind", ("k3d", "minikube")) and runs_on("existing", ("local", "k3d", "minikube"))
    assert not runs_on("local", ("k3d", "minikube")) and not runs_on("kind", ("local",))


def test_existing_uses_the_current_context_installs_only_what_is_missing_and_asks_before_istio(
        lab_root, tools, cluster, commands_on):
    tools.context = "docker-desktop"
    tools._deployment("cert-manager", "cert-manager-webhook")     # the cluster has cert-manager already
    with pytest.raises(LabError, match="Istio is not installed in context docker-desktop") as refused:
        commands_on.up(provider="existing")
    assert "--install-istio" in refused.value.fix
    assert not any(c[0] == "istioctl" for c in tools.calls)
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_config/kubectl_config_view/
    assert ["kubectl", "config", "view", "--minify", "--flatten", "--raw"] in tools.calls
    assert yaml.safe_load((lab_root / ".lab" / "kubeconfig").read_text())["current-context"] == "docker-desktop"
    tools.calls.clear()
    tools.context = "some-other-context"                          # the user switches: the lab keeps its own
    commands_on.up(install_istio=True)
    assert ["istioctl", "install", "-f", str(PROJECT_DIR / "cluster" / "istio-operator.yaml"),
            "--skip-confirmation", "--kubeconfig", kubeconfig] in tools.calls
    assert not any(c[:2] == ["helm", "upgrade"] for c in tools.calls)        # cert-manager was there
    assert not any(c[:3] in (["kind", "create", "cluster"], ["k3d", "cluster", "create"]) for c in tools.calls)
    settings = load_state(lab_paths()).settings
    assert settings["installed"] == ["istio"]
    assert "Namespace//canary-lab" in settings["created"]


def test_existing_down_removes_only_what_the_lab_made(lab_root, tools, cluster, commands_on):
    theirs = Ref("Namespace", "", "their-team")
    cluster.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "their-team"}})
    tools._deployment("istio-system", "istiod")                   # their Istio
    tools._deployment("istio-system", "istio-ingressgateway")
    commands_on.up(provider="existing")                           # nothing to ask: Istio is there
    assert load_state(lab_paths()).settings["installed"] == ["cert-manager"]
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    tools.calls.clear()
    commands_on.down()
    assert ["helm", "uninstall", "cert-manager", "--namespace", "cert-manager", "--wait",
            "--kubeconfig", kubeconfig] in tools.calls
    assert not any(c[0] == "istioctl" for c in tools.calls)      # never an Istio it did not install
    assert not any("delete" in c and c[0] in ("k3d", "kind", "minikube") for c in tools.calls)
    gone = cluster.kube.get(Ref("Namespace", "", "canary-lab"))
    assert gone is None or terminating(gone)                      # the lab's namespace goes
    assert cluster.kube.get(Ref("ClusterIssuer", "", "canary-lab-ca")) is None
    # nor cert-manager's CRDs: the chart keeps them on `helm uninstall` unless crds.keep=false
    assert [c["metadata"]["name"] for c in cluster.kube.list_all("CustomResourceDefinition")
            if c["spec"]["group"].endswith("cert-manager.io")] == []
    assert cluster.kube.get(theirs) is not None and not terminating(cluster.kube.get(theirs))
    assert cluster.kube.get(Ref("Deployment", "istio-system", "istiod")) is not None
    assert load_state(lab_paths()) is None and not (lab_root / ".lab" / "kubeconfig").exists()


def test_existing_with_a_registry_pushes_the_lab_images_there_and_its_deployments_pull_from_it(
        lab_root, tools, cluster, commands_on):
    tools._deployment("istio-system", "istiod")                   # a remote cluster with its own Istio
    tools._deployment("istio-system", "istio-ingressgateway")
    commands_on.up(provider="existing", registry="registry.example.com/team-a")
    pushed = {c[2] for c in tools.calls if c[:2] == ["docker", "push"]}
    assert pushed == {f"registry.example.com/team-a/canary-lab/{name}" for name in
                      ("httpbin:1.0", "tornado-websocket:1.0", "version-app:1.0")}
    httpbin = cluster.kube.get(Ref("Deployment", "canary-lab", "httpbin"))
    [container] = httpbin["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/team-a/canary-lab/httpbin:1.0"
    assert load_state(lab_paths()).settings["registry"] == "registry.example.com/team-a"
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
               "metadata": {"name": "shop", "namespace": "canary-lab"},
               "spec": {"template": {"spec": {"containers": [{"name": "app",
                                                              "image": "canary-lab.invalid/version-app:1.0"},
                                                             {"name": "theirs", "image": "curlimages/curl:8"}]}}}}
    cluster.kube.apply(ARGO_ROLLOUT_CRD)
    commands_on.make_backend(lab_paths(), "existing").apply([rollout])   # Argo's Rollouts run the lab's images too
    containers = cluster.kube.get(Ref("Rollout", "canary-lab", "shop"))["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["registry.example.com/team-a/canary-lab/version-app:1.0",
                                                "curlimages/curl:8"]
    tools.calls.clear()
    commands_on.up()                                             # remembered: nothing to build again
    assert not any(c[:2] == ["docker", "push"] for c in tools.calls)


@pytest.mark.parametrize("provider, registry, says", [
    ("k3d", "registry.example.com/team-a", "--registry is for --provider existing"),
    ("existing", "https://registry.example.com/team-a", "is not HOST[:PORT]/PATH"),
    ("existing", "Registry.Example.com/Team", "is not HOST[:PORT]/PATH"),
])
def test_a_registry_is_for_existing_only_and_must_be_an_image_prefix(lab_root, tools, cluster, commands_on,
                                                                    provider, registry, says):
    with pytest.raises(LabError, match=re.escape(says)):
        commands_on.up(provider=provider, registry=registry)
    assert not any(c[:2] == ["docker", "build"] for c in tools.calls)


def test_existing_down_removes_cert_manager_crds_an_older_install_kept(lab_root, tools, cluster, commands_on):
    tools._deployment("istio-system", "istiod")
    tools._deployment("istio-system", "istio-ingressgateway")
    commands_on.up(provider="existing")
    tools._cert_manager_crds(keep=True)          # as an install without crds.keep=false left them
    their_crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                 "metadata": {"name": "widgets.example.com"},
                 "spec": {"group": "example.com", "scope": "Namespaced",
                          "names": {"kind": "Widget", "plural": "widgets"},
                          "versions": [{"name": "v1", "served": True, "storage": True}]}}
    cluster.kube.apply(their_crd)
    commands_on.down()
    assert [c["metadata"]["name"] for c in cluster.kube.list_all("CustomResourceDefinition")
            if c["spec"]["group"] in ("cert-manager.io", "acme.cert-manager.io",
                                      "example.com")] == ["widgets.example.com"]


def test_apply_of_an_istio_gateway_alone_returns_once_its_virtualservices_are_served_on_it(lab_root, tools, cluster):
    """Adding an HTTPS server to a Gateway changes what its VirtualServices serve: the apply waits for
    that too (else the next check meets a gateway that has not served the new listener yet)."""
    from tests.test_routes_wait import CONTEXT, live, virtual_service

    lab = cluster_backend("k3d", tools, cluster)
    split = virtual_service("[{destination: {host: httpbin}, weight: 100}]")
    for obj in [*CONTEXT, split]:
        cluster.kube.apply(obj)
    gateway = copy.deepcopy(CONTEXT[0])
    gateway["spec"]["servers"].append({"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                                       "hosts": ["canary.lab.local"],
                                       "tls": {"mode": "SIMPLE", "credentialName": "canary-lab-gateway-tls"}})
    http_only = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)])
    both = http_only + [LiveRoute("canary.lab.local", route.match, route.destinations, scheme="https")
                        for route in http_only]
    lab.live_routes = scripted_routes(http_only, http_only, both)
    assert lab.apply([gateway]) == ["gateway/canary-gateway configured"]
    assert lab.live_routes.pending == [both]


def test_apply_of_a_second_virtualservice_for_a_host_waits_for_both_as_istiod_merges_them(lab_root, tools, cluster):
    """istiod merges every VirtualService bound to a gateway for one host into one virtual host (pilot
    core/gateway.go buildGatewayVirtualHostsForHTTP, vHostDedupMap): the second's apply is served as
    the older one's routes followed by its own, and the wait must expect exactly that, not its
    routes alone (which the gateway never serves: the apply would end in a timeout)."""
    import time

    from tests.kube_emulator import Istiod
    from tests.test_routes_wait import CONTEXT, virtual_service

    lab = cluster_backend("k3d", tools, cluster, port=gateway_port())
    lab.up()
    header = objects("""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: canary-testers, namespace: canary-lab}
        spec:
          hosts: [canary.lab.local]
          gateways: [canary-gateway]
          http: [{match: [{headers: {x-tester: {exact: "yes"}}}],
                  route: [{destination: {host: httpbin}, weight: 50}, {destination: {host: tornado}, weight: 50}]}]
        """)[0]
    try:
        with Istiod(cluster, tools):
            lab.apply([*CONTEXT, virtual_service("[{destination: {host: httpbin}}]")])
            started = time.monotonic()
            assert lab.apply([header]) == ["virtualservice/canary-testers created"]
            assert time.monotonic() - started < 15
            served = [sorted((d.service, d.weight) for d in route.destinations) for route in lab.live_routes()
                      if route.host == "canary.lab.local"]
            # the older VirtualService's /websocket and /ws, the tester's header rule, the catch-all last
            assert served == [[("tornado.canary-lab", 100)]] * 2 + \
                [[("httpbin.canary-lab", 50), ("tornado.canary-lab", 50)], [("httpbin.canary-lab", 100)]]
    finally:
        lab.down()
