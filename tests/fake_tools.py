"""A Runner that records every command and answers as the real tool would.

Each tool's behaviour here follows its documentation (cited where the cluster
code runs it); side effects a tool has on the cluster (istioctl creating istiod,
helm creating cert-manager) are played into the Kubernetes API emulator.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lab.backends.cluster import addons, versions
from lab.backends.cluster.backend import ClusterBackend
from lab.backends.cluster.runner import Result, tool_failed
from lab.config import PROJECT_DIR, lab_paths
from lab.manifests import Ref, load_manifest_file
from tests.fake_docker import Docker
from tests.fake_helm import HelmReleases

CERT_MANAGER_CRDS = [("certificaterequests", "cert-manager.io", "CertificateRequest"),
                     ("certificates", "cert-manager.io", "Certificate"),
                     ("challenges", "acme.cert-manager.io", "Challenge"),
                     ("clusterissuers", "cert-manager.io", "ClusterIssuer"),
                     ("issuers", "cert-manager.io", "Issuer"), ("orders", "acme.cert-manager.io", "Order")]
# A Ctrl-C inside `istioctl install`, while it waits for istiod before applying the gateways.
ISTIOD_ONLY = "istioctl install: waiting for istiod"
# A port-forward to a live server: every connection to 127.0.0.1:LOCAL relayed to 127.0.0.1:TARGET.
RELAY = """
import asyncio, sys
local, target = int(sys.argv[1]), int(sys.argv[2])
async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
async def relay(reader, writer):
    try:
        upstream = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        writer.close()
        return
    await asyncio.gather(pipe(reader, upstream[1]), pipe(upstream[0], writer))
async def main():
    server = await asyncio.start_server(relay, "127.0.0.1", local)
    async with server:
        await asyncio.sleep(900)
asyncio.run(main())
"""
POD_APPLETS = ("sh", "head", "base64", "tr", "sleep")
# Argo Rollouts' own Rollout CRD (vendored from its v1.9.1 release), as its install.yaml applies it.
ARGO_ROLLOUT_CRD = load_manifest_file(PROJECT_DIR / "cluster" / "argo-rollouts" / "rollout-crd.yaml")[0]


class FakeTools:
    def __init__(self, kube=None):
        self.kube = kube
        self.calls: list[list[str]] = []
        self.started: list[subprocess.Popen] = []
        self.clusters: set[str] = set()
        self.fail: dict[str, str] = {}   # argv prefix → stderr, to play a failing tool
        self.interrupt = ""              # argv prefix where the user presses Ctrl-C
        self.interrupt_after = 0         # or: after this many commands ran (1: after the first)
        self.done = 0
        self._counting = threading.Lock()
        self.stopped: set[str] = set()   # clusters that exist but are stopped (a reboot, `k3d cluster stop`)
        self.docker = Docker()              # containers (kind's nodes and registry, k3d's registry), images
        self.context = "docker-desktop"     # the current kubeconfig context (--provider existing)
        self.meet: dict[str, threading.Barrier] = {}   # argv prefix → a barrier its first call waits at
        self.inputs: dict[str, str] = {}    # argv joined → what it got on stdin
        self.installed: list[list[str]] = []
        # What a Service URL reaches from each client pod: {deployment: {url: local url}}. A URL
        # that leads nowhere (a closed port) plays a connection the server refuses.
        self.pod_network: dict[str, dict[str, str]] = {}
        # Or, for an emulated cluster with a data plane: (deployment, argument) → what it reaches.
        self.resolve: Callable[[str, str], str] | None = None
        # And where a port-forward (namespace, target, remote port) reaches a live server: its port.
        self.forward_to: Callable[[str, str, int], int | None] | None = None
        self.userland: Path | None = None
        self._admin_root: Path | None = None
        self.helm = HelmReleases(kube)

    def install(self, names: list[str]) -> None:
        """Stands in for downloading tools (tested on its own against a local release server)."""
        self.installed.append(list(names))

    def run(self, argv, *, env=None, input=None, timeout=600, check=True) -> Result:
        """The tool's answer; with `interrupt_after` N, a Ctrl-C right after the Nth command did its work."""
        try:
            return self._run(argv, env=env, input=input, timeout=timeout, check=check)
        finally:
            with self._counting:
                self.done += 1
                if self.done == self.interrupt_after:
                    raise KeyboardInterrupt

    def _run(self, argv, *, env=None, input=None, timeout=600, check=True) -> Result:
        self.calls.append(list(argv))
        if input is not None:
            self.inputs[" ".join(argv)] = input
        for prefix, barrier in list(self.meet.items()):
            if " ".join(argv).startswith(prefix):
                del self.meet[prefix]   # once: the first such call waits for the other one
                barrier.wait()          # BrokenBarrierError when the other never comes alongside
        if self.interrupt and " ".join(argv).startswith(self.interrupt):
            raise KeyboardInterrupt
        for prefix, stderr in self.fail.items():
            if " ".join(argv).startswith(prefix):
                result = Result(1, "", stderr)
                if check:
                    raise tool_failed(argv, result)
                return result
        if argv[:2] == ["kubectl", "exec"]:
            return self._exec(argv, timeout)
        if argv[0] == "docker":
            self._sync_nodes()
            result = self.docker.run(list(argv), input)
            if argv[:2] == ["docker", "start"]:
                self.stopped -= {name.removesuffix("-control-plane") for name in argv[2:]}
            if result.returncode and check:
                raise tool_failed(argv, result)
            return result
        if argv[:3] == ["helm", "upgrade", "--install"] and "--repo" not in argv and self.kube:
            result = self.helm.upgrade(argv)     # a chart of the lab's: rendered by the real helm
            if result.returncode and check:
                raise tool_failed(argv, result)
            return result
        if argv[:3] == ["kubectl", "create", "namespace"] and self.kube and \
                self.kube.get(Ref("Namespace", "", argv[3])) is not None:
            # kubectl create's words for a name taken (apimachinery StatusReasonAlreadyExists)
            result = Result(1, "", f'Error from server (AlreadyExists): namespaces "{argv[3]}" already exists')
            if check:
                raise tool_failed(argv, result)
            return result
        return Result(0, self._answer(argv, env or {}), "")

    def _exec(self, argv, timeout) -> Result:
        """Plays `kubectl exec deployment/NAME ... -- COMMAND`: runs COMMAND here for real in the
        client image's userland (BusyBox's sh, head, base64 and tr, and curl), with the pod's view
        of the network."""
        deployment = argv[2].split("/", 1)[1]
        network = self.pod_network.get(deployment, {})
        command = [self.resolve(deployment, arg) if self.resolve else network.get(arg, arg)
                   for arg in argv[argv.index("--") + 1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": str(self._pod_userland())})
        return Result(done.returncode, done.stdout, done.stderr)

    def _pod_userland(self) -> Path:
        """A bin folder like the curlimages/curl image's (Alpine): BusyBox applets, and curl."""
        if self.userland is None:
            busybox, curl = shutil.which("busybox"), shutil.which("curl")
            if not busybox or not curl:
                pytest.skip("needs busybox and curl to play a client pod (apt-get install busybox curl)")
            self.userland = Path(tempfile.mkdtemp(prefix="pod-userland-"))
            for applet in POD_APPLETS:
                (self.userland / applet).symlink_to(busybox)
            (self.userland / "curl").symlink_to(curl)
        return self.userland

    def admin_folder(self, namespace: str, target: str) -> Path:
        """Where a port-forward to TARGET in NAMESPACE finds the Envoy admin answers it serves:
        config_dump.json, clusters.json (written by tests.kube_emulator.Istiod, as istiod would
        push them to that gateway)."""
        if self._admin_root is None:
            self._admin_root = Path(tempfile.mkdtemp(prefix="fake-envoy-admin-"))
        folder = self._admin_root / namespace / target.replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def start(self, argv, *, env=None, log_path=None):
        """Plays `kubectl port-forward TARGET LOCAL:REMOTE --namespace NS`: a process on
        127.0.0.1:LOCAL, for a minute, that answers HTTP as the gateway behind it would: 501 to
        anything, except the Envoy admin answers its admin folder holds (/config_dump, /clusters)."""
        self.calls.append(list(argv))
        local, remote = next(a for a in argv if ":" in a and a.split(":")[0].isdigit()).split(":")
        namespace = argv[argv.index("--namespace") + 1]
        target = self.forward_to(namespace, argv[2], int(remote)) if self.forward_to else None
        if target is not None:      # a live server behind it: relayed byte for byte, as kubectl does
            process = subprocess.Popen([sys.executable, "-c", RELAY, local, str(target)], stderr=subprocess.DEVNULL)
            self.started.append(process)
            return process
        folder = self.admin_folder(namespace, argv[2])
        listener = f"""
import http.server, pathlib, threading
folder = pathlib.Path({str(folder)!r})
class Admin(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        found = folder / (self.path.split("?")[0].strip("/") + ".json")
        if not found.is_file():
            return self.send_error(501)
        body = found.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(('127.0.0.1', {local}), Admin)
threading.Timer(60, s.shutdown).start()
s.serve_forever()
"""
        process = subprocess.Popen([sys.executable, "-c", listener], stderr=subprocess.DEVNULL)
        self.started.append(process)
        return process

    def _answer(self, argv, env) -> str:
        tool, *args = argv
        if argv[:4] == ["k3d", "cluster", "list", "-o"]:
            # k3d cmd/cluster/clusterList.go: the cluster, plus serversRunning/serversCount
            return json.dumps([{"name": name, "serversCount": 1, "serversRunning": int(name not in self.stopped)}
                               for name in sorted(self.clusters)])
        if argv[:3] == ["k3d", "cluster", "create"]:
            self.clusters.add("canary-lab")
            self._new_cluster(metrics_server=True)   # k3s's packaged metrics-server
            # and the registry k3d makes with it (k3d pkg/config/transform.go: registries.create)
            created = yaml.safe_load(Path(argv[argv.index("--config") + 1]).read_text())["registries"]["create"]
            self.docker.new(created["name"]).port = str(created["hostPort"])
        if argv[:3] == ["k3d", "cluster", "start"]:
            self.stopped.discard(argv[3])
        if argv[:3] == ["k3d", "cluster", "delete"]:
            self.clusters.discard(argv[3])
            self.docker.remove("canary-lab-registry")
        if argv[:3] == ["k3d", "kubeconfig", "get"]:
            return "apiVersion: v1\nkind: Config\nclusters: []\n"
        if argv[:4] == ["minikube", "profile", "list", "-o"]:
            # minikube cmd/minikube/cmd/config/profile_list.go: Status "OK" when up, "Stopped" when not
            return json.dumps({"valid": [{"Name": n, "Status": "Stopped" if n in self.stopped else "OK"}
                                         for n in sorted(self.clusters)], "invalid": []})
        if argv[:2] == ["minikube", "start"]:
            if argv[argv.index("--profile") + 1] not in self.clusters:
                self._new_cluster(metrics_server="--addons=metrics-server" in argv)
            self.clusters.add(argv[argv.index("--profile") + 1])
            self.stopped.discard(argv[argv.index("--profile") + 1])
        if argv[:2] == ["minikube", "delete"]:
            self.clusters.discard(argv[argv.index("--profile") + 1])
        if argv[:3] == ["kubectl", "config", "current-context"]:
            return self.context + "\n"
        if argv[:3] == ["kubectl", "config", "view"]:
            return (f"apiVersion: v1\nkind: Config\ncurrent-context: {self.context}\n"
                    f"contexts: [{{name: {self.context}, "
                    f"context: {{cluster: {self.context}, user: {self.context}}}}}]\n")
        if argv[:3] == ["istioctl", "uninstall", "--purge"] and self.kube:
            for name in ("istiod", "istio-ingressgateway", "istio-egressgateway"):
                self.kube.delete(Ref("Deployment", "istio-system", name))
            return ""
        if argv[:2] == ["helm", "uninstall"] and self.kube:
            self.kube.delete(Ref("Deployment", "cert-manager", "cert-manager-webhook"))
            for crd in self.kube.list_all("CustomResourceDefinition"):   # helm pkg/action/resource_policy.go
                annotations = crd["metadata"].get("annotations") or {}
                if crd["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == "cert-manager" and \
                        annotations.get("helm.sh/resource-policy") != "keep":
                    self.kube.delete(Ref("CustomResourceDefinition", "", crd["metadata"]["name"]))
            return ""
        if argv[:3] == ["kind", "get", "clusters"]:
            return "".join(f"{name}\n" for name in sorted(self.clusters))
        if argv[:3] == ["kind", "create", "cluster"]:
            self._new_cluster()
            self.clusters.add(argv[argv.index("--name") + 1])
            self.docker.new(f"{argv[argv.index('--name') + 1]}-control-plane", networks={"kind"})   # a new node
        if argv[:3] == ["kind", "delete", "cluster"]:
            self.clusters.discard(argv[argv.index("--name") + 1])
        if argv[:3] == ["kind", "get", "nodes"]:
            return f"{argv[argv.index('--name') + 1]}-control-plane\n"
        if argv[:3] == ["kind", "get", "kubeconfig"]:
            return "apiVersion: v1\nkind: Config\nclusters: []\n"
        if argv[:2] == ["istioctl", "install"] and self.kube:
            # istio operator/pkg/install/install.go: istiod applied and waited for, then the gateways
            self._deployment("istio-system", "istiod")
            if self.interrupt == ISTIOD_ONLY:
                raise KeyboardInterrupt
            self._deployment("istio-system", "istio-ingressgateway")
            self._deployment("istio-system", "istio-egressgateway")   # the demo profile's
            admin = self.admin_folder("istio-system", "deployment/istio-ingressgateway")
            if not (admin / "config_dump.json").exists():    # a new ingress gateway: no routes yet
                (admin / "config_dump.json").write_text('{"configs": []}')
                (admin / "clusters.json").write_text('{"cluster_statuses": []}')
        if argv[:3] == ["kubectl", "apply", "-f"] and argv[3].endswith("/addons/kiali.yaml") and self.kube:
            self._deployment("istio-system", "kiali")
        if argv[:3] == ["kubectl", "create", "namespace"] and self.kube:
            self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": argv[3]}})
        # Argo Rollouts' install.yaml (docs/installation.md) starts its controller Deployment
        if argv[:3] == ["kubectl", "apply", "--server-side"] and argv[-3].endswith("-install.yaml") and self.kube:
            self._deployment("argo-rollouts", "argo-rollouts")
            self.kube.apply(ARGO_ROLLOUT_CRD)            # and the CRDs it holds (the Rollout's, here)
        if argv[:2] == ["kubectl", "delete"] and "-f" in argv and argv[argv.index("-f") + 1].endswith("-install.yaml") \
                and self.kube:
            self.kube.delete(Ref("Deployment", "argo-rollouts", "argo-rollouts"))
            self.kube.delete(Ref("CustomResourceDefinition", "", "rollouts.argoproj.io"))
        if argv[:5] == ["helm", "upgrade", "--install", "metrics-server", "metrics-server"] and self.kube:
            self.metrics_server()
        if tool == "helm" and "cert-manager" in argv and self.kube:
            self._deployment("cert-manager", "cert-manager-webhook")
            self._cert_manager_crds(keep="crds.keep=false" not in argv)
        if argv[:3] == ["helm", "get", "manifest"]:
            return self.helm.manifest(argv[3], argv[argv.index("--namespace") + 1])
        return ""

    def _cert_manager_crds(self, keep: bool) -> None:
        """The chart's CRDs with crds.enabled (cert-manager deploy/charts/cert-manager/templates/crd-*.yaml):
        labelled by its crd-labels helper, and helm.sh/resource-policy: keep unless crds.keep is false."""
        for plural, group, kind in CERT_MANAGER_CRDS:
            self.kube.apply({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                             "metadata": {"name": f"{plural}.{group}",
                                          "annotations": {"helm.sh/resource-policy": "keep"} if keep else {},
                                          "labels": {"app.kubernetes.io/instance": "cert-manager",
                                                     "app.kubernetes.io/component": "crds"}},
                             "spec": {"group": group, "scope": "Cluster" if kind == "ClusterIssuer" else "Namespaced",
                                      "names": {"kind": kind, "plural": plural},
                                      "versions": [{"name": "v1", "served": True, "storage": True}]}})

    def _sync_nodes(self) -> None:
        """A kind node container runs while its cluster exists and is not stopped (a reboot)."""
        for name in [n for n in self.docker.containers if n.endswith("-control-plane")]:
            cluster = name.removesuffix("-control-plane")
            if cluster not in self.clusters:
                self.docker.remove(name)
            else:
                self.docker.containers[name].running = cluster not in self.stopped

    def _new_cluster(self, metrics_server: bool = False) -> None:
        """A new cluster has a kube-system Namespace with a uid of its own, and a metrics-server when
        its maker brings one (k3s, minikube's addon)."""
        if self.kube:
            self.kube.delete(Ref("Namespace", "", "kube-system"))
            self.kube.delete(Ref("APIService", "", "v1beta1.metrics.k8s.io"))
            self.kube.apply({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "kube-system", "uid": str(uuid.uuid4())}})
            if metrics_server:
                self.metrics_server()

    def metrics_server(self, available: bool = True) -> None:
        """metrics-server's Deployment and the APIService it registers (Available once it answers)."""
        self._deployment("kube-system", "metrics-server")
        self.kube.apply({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                         "metadata": {"name": "v1beta1.metrics.k8s.io"},
                         "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                                  "service": {"name": "metrics-server", "namespace": "kube-system"}},
                         "status": {"conditions": [{"type": "Available", "status": str(available)}]}})

    def _deployment(self, namespace: str, name: str) -> None:
        """A Deployment rolled out, as one a tool's --wait returned on."""
        self.kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": name, "namespace": namespace}, "spec": {"replicas": 1},
                         "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                                    "availableReplicas": 1}})

    def commands(self) -> list[str]:
        return [" ".join(c[:3]) for c in self.calls]

    def stop(self):
        for process in self.started:
            process.kill()
            process.wait()
        if self.userland:
            shutil.rmtree(self.userland, ignore_errors=True)
        if self._admin_root:
            shutil.rmtree(self._admin_root, ignore_errors=True)


def cluster_backend(provider: str, tools: FakeTools, cluster, port: int = 8080) -> ClusterBackend:
    """A cluster backend whose commands go to `tools` and whose API calls go to the emulator."""
    return ClusterBackend(lab_paths(), provider, port, runner=tools, kube=cluster.kube, install_tools=tools.install)


def pin_addons(monkeypatch, cache_dir: Path) -> dict[str, Path]:
    """Istio's addon manifests as if downloaded before (the tests reach no network): each written into
    the lab's cache, its pinned sha256 set to what was written."""
    kept = {}
    for name in addons.ADDONS:
        data = f"# Istio's {name} addon, as the tests play it\n".encode()
        kept[name] = addons.addon_path(cache_dir, name)
        kept[name].parent.mkdir(parents=True, exist_ok=True)
        kept[name].write_bytes(data)
        monkeypatch.setitem(versions.ISTIO_ADDONS_SHA256, name, hashlib.sha256(data).hexdigest())
    return kept
