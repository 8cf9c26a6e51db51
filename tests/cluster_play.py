"""An emulated cluster an exercise can be played on, end to end, with `--yes`.

The API is the Kubernetes emulator (tests/kube_emulator.py), the tools are the fake tools
(tests/fake_tools.py: the real `helm template` behind `helm upgrade`), istiod is the fake Istiod
(the lab's one model of istiod), and what a real cluster's nodes do is played here:

- the data plane: the pods and the gateways' Envoy are a local lab (real Envoy, the real apps) fed
  what the emulator holds, so the ingress gateway's routes are the local translator's (the same
  model) and traffic is answered by the apps themselves; the lab reaches it through its
  port-forwards (kind) or the published ports (k3d), byte for byte;
- the kubelet: a pod of a `curlimages/curl` Deployment (the load generator) runs its own command
  here, with BusyBox's sh and curl, its in-cluster URLs leading into the data plane;
- the HorizontalPodAutoscaler controller, only while the metrics API (metrics-server) answers;
- the client pods' network: a sidecar routes a Service host by the VirtualService bound to the
  mesh for it (istiod builds a sidecar's routes and a gateway's from the same VirtualService:
  pilot/pkg/networking/core/route/route.go BuildHTTPRoutesForVirtualService), and a client without
  a sidecar is refused where a STRICT PeerAuthentication applies
  (https://istio.io/latest/docs/reference/config/security/peer_authentication/).
"""

import base64
import copy
import http.client
import http.server
import math
import re
import subprocess
import threading
from pathlib import Path

from lab.backends.cluster import gateway_api
from lab.backends.cluster.clients import CLIENTS
from lab.backends.cluster.metrics_server import state as metrics_state
from lab.backends.local.backend import LocalBackend
from lab.backends.local.gateway_addresses import GatewayPorts
from lab.backends.local.gateway_api_routes import listener_key
from lab.backends.local.runners import load_runners, runner_for
from lab.config import Paths, gateway_tls_port
from lab.errors import LabError
from lab.manifests import Ref, ref_of
from lab.polling import poll
from lab.ports import free_port
from lab.state import load_state
from tests.fake_tools import FakeTools
from tests.kube_emulator import Emulator
from tests.lab_process import gateway_port

GW = gateway_api.GROUP
# What the data plane serves, in the order a learner would apply it.
SERVED = [("Namespace", ""), ("Service", ""), ("Deployment", ""), ("DestinationRule", ""), ("Gateway", ""),
          ("VirtualService", ""), ("Gateway", GW), ("ReferenceGrant", GW), ("HTTPRoute", GW)]
SYSTEM = {"kube-system", "istio-system", "cert-manager", "argo-rollouts", *[ns for ns, _ in CLIENTS.values()]}
CLUSTER_URL = re.compile(r"http://([a-z0-9-]+)\.([a-z0-9-]+)(\.svc(\.cluster\.local)?)?(:\d+)?(/\S*)?")


def _plain(obj: dict) -> dict:
    """The object as applied (what an API server adds left out), without what only the kubelet
    acts on (containers' CPU and memory: this data plane runs pods as processes, and the
    autoscaler below models CPU use from traffic)."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if meta.get(k)}
    plain = copy.deepcopy({"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": kept,
                           **({"spec": obj["spec"]} if "spec" in obj else {})})
    if obj["kind"] == "Deployment":
        for container in ((plain["spec"].get("template") or {}).get("spec") or {}).get("containers") or []:
            container.pop("resources", None)
    return plain


class DataPlane:
    """The cluster's pods and gateways: a local lab in its own root, kept in step with the emulator."""

    def __init__(self, cluster: Emulator, root: Path, port: int):
        self.kube = cluster.new_kube()
        self.local = LocalBackend(Paths(root), port)
        # The lab's Gateway API track ports (its port + 1) belong to the lab's own port-forwards, as on a
        # cluster: the plane's Gateways take their ports after a port of its own, which the forwards reach
        self.local.gateway_ports = GatewayPorts(self.local.run_dir, gateway_port())
        self.runners = load_runners()
        self.synced: dict[Ref, dict] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def http_port(self) -> int:
        return self.local.port

    @property
    def https_port(self) -> int:
        return gateway_tls_port(self.local.port)

    @property
    def admin_port(self) -> int:
        state = load_state(self.local.paths)
        assert state is not None, "the data plane is not up"
        return int(state.settings["admin_port"])

    def __enter__(self) -> "DataPlane":
        self.local.up()
        # cert-manager's part: the lab CA's secret (cluster/issuers.yaml) holds the data plane's CA
        pem = self.local.ca_bundle().read_bytes()
        self.kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                         "metadata": {"name": "canary-lab-ca", "namespace": "cert-manager"},
                         "data": {"ca.crt": base64.b64encode(pem).decode()}})
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)
        self.local.down()

    def _runs_here(self, obj: dict) -> bool:
        ref = ref_of(obj)
        if ref.namespace in SYSTEM or ref.name in SYSTEM or \
                (obj["metadata"].get("labels") or {}).get(gateway_api.GATEWAY_NAME_LABEL):
            return False                        # the cluster's own, and the gateways istiod deploys
        if ref.kind == "Deployment":
            containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            try:
                return all(runner_for(str(c.get("image", "")), self.runners) for c in containers)
            except LabError:
                return False                    # a curl pod: the kubelet below runs it
        return True

    def wanted(self) -> dict[Ref, dict]:
        found: dict[Ref, dict] = {}
        for kind, group in SERVED:
            try:
                objects = self.kube.list_all(kind, group)
            except LabError:
                continue                        # no CRDs yet
            for obj in objects:
                if not (obj["metadata"].get("deletionTimestamp")) and self._runs_here(obj):
                    found[ref_of(obj)] = _plain(obj)
        return found

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            self.sync()

    def sync(self) -> None:
        wanted = self.wanted()
        changed = [obj for ref, obj in wanted.items() if self.synced.get(ref) != obj]
        gone = [ref for ref in self.synced if ref not in wanted]
        try:
            if gone:
                self.local.delete(gone)
            if changed:
                self.local.apply(changed)
        except LabError:
            # One object the data plane cannot take must not hold back the others (nor every later
            # play in this lab): each is taken alone, and the one refused is named, once.
            for obj in changed:
                try:
                    self.local.apply([obj])
                except LabError as e:
                    self._error(f"{e.message} — {e.fix}")
        self.synced = wanted

    def _error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def pods_of(self, namespace: str, selector: dict) -> list[int]:
        """The ports of the running pods a Service's selector picks."""
        ports = []
        for name, spec in self.local.processes.desired().items():
            if "/" not in name:
                continue                  # the gateway's own Envoy
            pod_namespace = name.split("/", 1)[0]
            labels = self._labels_of(name)
            if pod_namespace == namespace and selector and all(labels.get(k) == v for k, v in selector.items()):
                ports.append(spec["port"])
        return ports

    def _labels_of(self, pod: str) -> dict:
        namespace, name = pod.split("/", 1)
        deployment = name.rsplit("-", 2)[0]      # a pod is DEPLOYMENT-HASH-INDEX
        for ref, obj in self.synced.items():
            if ref.kind == "Deployment" and ref.namespace == namespace and ref.name == deployment:
                return ((obj["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        return {}

    def requests_per_pod(self) -> dict[int, int]:
        """Requests the gateway sent each pod (Envoy's /clusters host counters), by the pod's port."""
        admin = self.local.gateway_admin()
        counts: dict[int, int] = {}
        for line in admin._get("/clusters").splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[2] == "rq_total" and parts[1].startswith("127.0.0.1:"):
                port = int(parts[1].split(":")[1])
                counts[port] = counts.get(port, 0) + int(parts[3])
        return counts


class MeshProxy:
    """What a client pod's request reaches: `http://127.0.0.1:PORT/HOST/PATH` goes to the data
    plane's gateway as a request for HOST (the sidecar's routes for a Service being the gateway's
    for the same VirtualService), or straight to a pod."""

    def __init__(self, data_plane: DataPlane):
        plane = data_plane

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                _, target, host, rest = self.path.split("/", 3)
                connection = http.client.HTTPConnection("127.0.0.1", int(target), timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    connection.request("GET", "/" + rest, headers={**headers, "Host": host})
                    answer = connection.getresponse()
                    body = answer.read()
                except OSError:
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.plane = plane
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "MeshProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class Nodes:
    """The kubelet for the pods the data plane cannot run (a curl loop: the load generator), the
    HorizontalPodAutoscaler controller, and the client pods' view of the network."""

    def __init__(self, cluster: Emulator, tools: FakeTools, plane: DataPlane, mesh: MeshProxy):
        self.kube, self.tools, self.plane, self.mesh = cluster.new_kube(), tools, plane, mesh
        self.running: dict[Ref, tuple[str, subprocess.Popen]] = {}
        self.seen: dict[int, int] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        tools.resolve = self.resolve

    def __enter__(self) -> "Nodes":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)
        for _, process in self.running.values():
            process.kill()
            process.wait()

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self._kubelet()
                self._autoscale()
            except LabError:
                pass   # a namespace going away under a list: the next round sees it gone
            except Exception as e:   # noqa: BLE001 - a bug of this stand-in: the play reports it
                if f"{type(e).__name__}: {e}" not in self.errors:
                    self.errors.append(f"{type(e).__name__}: {e}")

    # -- where a URL inside the cluster leads ------------------------------------------------

    def resolve(self, client: str, argument: str) -> str:
        """A Service URL as `client` (a Deployment's pods) reaches it; other arguments unchanged."""
        match = CLUSTER_URL.fullmatch(argument)
        if not match:
            return argument
        service, namespace, path = match.group(1), match.group(2), (match.group(6) or "/").lstrip("/")
        if service == "istio-ingressgateway" or service.endswith("-istio"):     # a gateway: the data plane's
            return f"http://127.0.0.1:{self.plane.http_port}/{path}"
        sidecar = client == CLIENTS["mesh"][1]
        if not sidecar and self._strict(namespace):
            return f"http://127.0.0.1:{free_port()}/{path}"      # refused: nothing listens there
        host = self._gateway_host(service, namespace) if sidecar else None
        if host:
            return f"http://127.0.0.1:{self.mesh.port}/{self.plane.http_port}/{host}/{path}"
        found = self.kube.get(Ref("Service", namespace, service))
        ports = self.plane.pods_of(namespace, ((found or {}).get("spec") or {}).get("selector") or {})
        if not ports:
            return f"http://127.0.0.1:{free_port()}/{path}"      # no endpoints: refused
        return f"http://127.0.0.1:{ports[0]}/{path}"

    def _strict(self, namespace: str) -> bool:
        for policy in self.kube.list_all("PeerAuthentication"):
            where = policy["metadata"].get("namespace")
            mode = ((policy.get("spec") or {}).get("mtls") or {}).get("mode")
            if (mode == "STRICT" and where in (namespace, "istio-system")
                    and not (policy.get("spec") or {}).get("selector")):
                return True
        return False

    def _gateway_host(self, service: str, namespace: str) -> str | None:
        """A gateway host of a VirtualService bound to the mesh for this Service: its routes are the
        ones a sidecar uses for the Service."""
        names = {service, f"{service}.{namespace}", f"{service}.{namespace}.svc.cluster.local"}
        for vs in self.kube.list_all("VirtualService"):
            spec = vs.get("spec") or {}
            hosts = [str(h) for h in spec.get("hosts") or []]
            if "mesh" in (spec.get("gateways") or []) and names & set(hosts) and \
                    vs["metadata"].get("namespace") == namespace:
                return next((h for h in hosts if "." in h and h not in names), None)
        return None

    # -- the kubelet and the autoscaler ------------------------------------------------------

    def _kubelet(self) -> None:
        """Run each curl pod's own command here (one process per Deployment, however many replicas:
        the machine is small), for as long as its Deployment exists."""
        wanted = {}
        for deployment in self.kube.list_all("Deployment"):
            ref = ref_of(deployment)
            containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
            if (ref.namespace in SYSTEM or not containers
                    or not str(containers[0].get("image", "")).startswith("curlimages/")):
                continue
            command = [*containers[0].get("command", []), *containers[0].get("args", [])]
            if command[:2] == ["sh", "-c"]:
                wanted[ref] = " ".join(CLUSTER_URL.sub(lambda m, pod=ref.name: self.resolve(pod, m.group(0)), part)
                                       for part in command[2:])
        for ref in [r for r in self.running if r not in wanted]:
            self.running.pop(ref)[1].kill()
        for ref, script in wanted.items():
            if ref not in self.running:
                process = subprocess.Popen(["sh", "-c", script], env={"PATH": str(self.tools._pod_userland())},
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.running[ref] = (script, process)

    def _autoscale(self) -> None:
        """kube's podautoscaler: nothing without the metrics API; else replicas = ceil(replicas × use /
        target), within min and max. Use is modelled from traffic: pods that answered the gateway's
        requests since the last round are busy (twice their target), others idle. Scale-down waits
        out the default 300 s stabilization, longer than any check here."""
        if metrics_state(self.kube) != "available":
            return
        counts = self.plane.requests_per_pod()
        busy = {port for port, n in counts.items() if n > self.seen.get(port, 0)}
        self.seen = counts
        for hpa in self.kube.list_all("HorizontalPodAutoscaler"):
            spec = hpa.get("spec") or {}
            target = Ref("Deployment", hpa["metadata"]["namespace"], (spec.get("scaleTargetRef") or {}).get("name", ""))
            deployment = self.kube.get(target)
            if deployment is None:
                continue
            selector = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
            pods = self.plane.pods_of(target.namespace, selector)
            replicas = deployment["spec"].get("replicas") or 1
            if pods and busy & set(pods):
                wanted = min(int(spec.get("maxReplicas", replicas)), math.ceil(replicas * 2.0))
                if wanted > replicas:
                    self.kube.json_patch(target, [{"op": "add", "path": "/spec/replicas", "value": wanted}])


def forwards_for(plane: DataPlane):
    """Where the lab's port-forwards lead in the emulated cluster: the ingress gateway and every
    gateway istiod deployed (one data plane serves them all: their admin 15000 is the ingress
    gateway's alone, so its routes are read once), else the fake tools' answer folders."""
    def target(namespace: str, name: str, remote: int) -> int | None:
        if name == "deployment/istio-ingressgateway" and remote == 15000:
            return plane.admin_port
        if name == "service/istio-ingressgateway":
            return plane.https_port if remote == 443 else plane.http_port
        if name.startswith("service/") and name.endswith("-istio"):
            # A Gateway API Gateway's Service: its own listener port in the plane, as a cluster gives each
            # Gateway a deployment and Service of its own (the plane may take a moment to assign it)
            gateway = Ref("Gateway", namespace, name.removeprefix("service/").removesuffix("-istio"))
            return poll(lambda: plane.local.gateway_ports.remembered().get(listener_key(gateway, remote)), 15)
        return None
    return target


def stand_in_errors(plane: DataPlane, nodes: Nodes) -> str:
    """What the emulated cluster's stand-ins could not do (the data plane refusing what the cluster
    holds, a failure in the kubelet or autoscaler), for a play's failure message."""
    return "; ".join([*(f"data plane: {e}" for e in plane.errors), *(f"nodes: {e}" for e in nodes.errors)])
