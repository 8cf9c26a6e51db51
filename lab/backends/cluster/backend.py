"""The cluster backend: the backend verbs over k3d or minikube, Istio and cert-manager.

`up` is apply, not create: each step looks first and does only what is
missing, so a second `up` does nothing and an `up` after a Ctrl-C finishes
the job. The lab writes its own kubeconfig (.lab/kubeconfig) and never
changes the user's current context.
"""

import base64
import shutil
from pathlib import Path

from lab import ui
from lab.backends.base import Backend, LabStatus, LiveRoute, ProcessStatus, Reply
from lab.backends.cluster import addons, clients
from lab.backends.cluster.kube import Kube, deployment_available, kind_of
from lab.backends.cluster.portforward import PortForward
from lab.backends.cluster.providers import PROVIDERS
from lab.backends.cluster.runner import Runner
from lab.backends.cluster.tools import ensure_tool, releases
from lab.config import APPS_DIR, Paths, gateway_tls_port
from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError
from lab.manifests import Ref, ref_of
from lab.ports import free_port
from lab.routes import wait_until_served
from lab.state import LabState, clear_state, save_state
from lab.validate import validate

# Images the lab builds from apps/ and loads into the cluster (httpbin is pulled from its registry).
LAB_IMAGES = {"canary-lab/tornado-websocket:1.0": APPS_DIR / "tornado",
              "canary-lab/version-app:1.0": APPS_DIR / "version"}
ENVOY_ADMIN_PORT = 15000


class ClusterBackend(Backend):
    def __init__(self, paths: Paths, provider: str, gateway_port: int, runner: Runner | None = None,
                 kube: Kube | None = None, install_tools=None):
        self.name = provider
        self.paths = paths
        self.port = gateway_port
        self.bin_dir = paths.home / "bin"
        self.runner = runner or Runner(self.bin_dir)
        self.install_tools = install_tools or self._install_tools
        self.kubeconfig = paths.home / "kubeconfig"
        self.provider = PROVIDERS[provider](self.runner, paths.run_dir, self.kubeconfig, gateway_port)
        self._kube = kube
        self._clients_ready = False   # client pods checked this run: a check sends many batches

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube.from_kubeconfig(self.kubeconfig)
        return self._kube

    def _forward(self, name: str, target: str, local: int, remote: int) -> PortForward:
        return PortForward(self.runner, self.paths.run_dir, self.kubeconfig, name, target, local, remote)

    def gateway_forward(self) -> PortForward:
        return self._forward("gateway", "service/istio-ingressgateway", self.port, 80)

    def gateway_tls_forward(self) -> PortForward:
        return self._forward("gateway-tls", "service/istio-ingressgateway", gateway_tls_port(self.port), 443)

    def admin_forward(self) -> PortForward:
        state_port = (self._state_settings() or {}).get("admin_port") or free_port()
        return self._forward("admin", "deployment/istio-ingressgateway", state_port, ENVOY_ADMIN_PORT)

    def gateway_admin(self) -> EnvoyAdmin:
        """Port 15000 of the ingress gateway, through the lab's port-forward."""
        forward = self.admin_forward()
        forward.ensure()
        return EnvoyAdmin(f"http://127.0.0.1:{forward.local_port}")

    def _state_settings(self) -> dict:
        from lab.state import load_state

        state = load_state(self.paths)
        return state.settings if state else {}

    # -- lifecycle -------------------------------------------------------------------------

    def needed_tools(self) -> list[str]:
        return [self.provider.tool, "kubectl", "istioctl", "helm"]

    def _install_tools(self, names: list[str]) -> None:
        found = releases()
        for name in names:
            ensure_tool(found[name], self.bin_dir)

    def up(self) -> bool:
        with ui.step("tools: " + ", ".join(self.needed_tools())):
            self.install_tools(self.needed_tools())
        self.paths.run_dir.mkdir(parents=True, exist_ok=True)
        # Saved first, so `down` can clean up after a failure or a Ctrl-C half-way.
        save_state(self.paths, LabState(self.name, self.port, {"admin_port": free_port(), **self._state_settings()}))
        changed = False
        if not self.provider.exists():
            with ui.step(f"creating the {self.name} cluster {self.provider.cluster_name}"):
                self.provider.create()
            changed = True
        self.provider.write_kubeconfig()
        if self.kube.get(Ref("Deployment", "istio-system", "istiod")) is None:
            with ui.step("installing Istio (demo profile)"):
                addons.install_istio(self.runner, self.kubeconfig)
            changed = True
        if self.kube.get(Ref("Deployment", "cert-manager", "cert-manager-webhook")) is None:
            with ui.step("installing cert-manager"):
                addons.install_cert_manager(self.runner, self.kubeconfig)
            changed = True
        with ui.step("waiting for cert-manager's webhook, then the lab's CA"):
            addons.wait_for_webhook(self.kube)
            addons.apply_issuers(self.kube)
        changed = self._load_images() or changed
        if self.provider.needs_port_forward:
            for forward in (self.gateway_forward(), self.gateway_tls_forward()):
                changed = forward.ensure() or changed
        ui.info(f"kubectl for this lab: export KUBECONFIG={self.kubeconfig}")
        return changed

    def install_addons(self, names: list[str]) -> None:
        for name in names:
            if self.kube.get(Ref("Deployment", "istio-system", name)) is None:
                with ui.step(f"installing {name}"):
                    addons.install_addon(self.runner, self.kubeconfig, name)

    def dashboard(self, name: str) -> None:
        """Open an addon's dashboard (istioctl port-forwards it and opens a browser) until Ctrl-C."""
        if self.kube.get(Ref("Deployment", "istio-system", name)) is None:
            raise LabError(f"{name} is not installed in the lab", f"run `invoke up --addons {name}`")
        self.runner.run(addons.dashboard_argv(name, self.kubeconfig), timeout=24 * 3600)

    def _load_images(self) -> bool:
        marker = self.paths.run_dir / "images-loaded"
        if marker.exists():
            return False
        with ui.step("building and loading the lab's app images"):
            for image, context in LAB_IMAGES.items():
                self.runner.run(["docker", "build", "--tag", image, str(context)], timeout=900)
            self.provider.load_images(list(LAB_IMAGES))
        marker.write_text("\n".join(LAB_IMAGES) + "\n")
        return True

    def down(self) -> bool:
        was_up = self.paths.state_file.exists()
        for forward in (self.gateway_forward(), self.gateway_tls_forward(), self.admin_forward()):
            forward.stop()
        existed = self.provider.exists()
        if existed:
            self.provider.delete()
        shutil.rmtree(self.paths.run_dir, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)
        clear_state(self.paths)
        return was_up or existed

    # -- objects ---------------------------------------------------------------------------

    def apply(self, objects: list[dict]) -> list[str]:
        for obj in objects:
            validate(obj)
            kind_of(obj["kind"])  # refuse kinds the lab does not manage before changing anything
        lines = []
        for obj in objects:
            ref = ref_of(obj)
            before = self.kube.get(ref)
            after = self.kube.apply(obj)
            verb = "created" if before is None else (
                "unchanged" if before.get("spec") == after.get("spec") else "configured")
            lines.append(f"{ref.kind.lower()}/{ref.name} {verb}")
        for obj in objects:
            if obj["kind"] == "Deployment":
                self.kube.wait_for(ref_of(obj), deployment_available, "available")
        bound = [o for o in objects if o["kind"] == "VirtualService"
                 and any(g != "mesh" for g in (o.get("spec") or {}).get("gateways") or [])]
        if bound:
            wait_until_served(bound, self.live_routes)
        return lines

    def patch(self, ref: Ref, operations: list[dict]) -> str:
        self.kube.json_patch(ref, operations)
        return f"{ref.kind.lower()}/{ref.name} patched"

    def delete(self, refs: list[Ref]) -> None:
        for ref in refs:
            self.kube.delete(ref)

    def send_from_pod(self, client: str, url: str, headers: dict[str, str], count: int) -> list[Reply]:
        if not self._clients_ready:
            clients.ensure_clients(self.kube)
            self._clients_ready = True
        return clients.send(self.runner, client, self.kubeconfig, url, headers, count)

    def get(self, ref: Ref) -> dict | None:
        return self.kube.get(ref)

    # -- reading ---------------------------------------------------------------------------

    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gateway_tls_url(self) -> str:
        return f"https://127.0.0.1:{gateway_tls_port(self.port)}"

    def ca_bundle(self) -> Path:
        """cert-manager's lab CA (the secret behind cluster/issuers.yaml), saved for the checks."""
        secret = self.kube.get(Ref("Secret", "cert-manager", "canary-lab-ca"))
        if not secret or "ca.crt" not in (secret.get("data") or {}):
            raise LabError("the lab CA's secret cert-manager/canary-lab-ca is not there yet",
                           "wait a few seconds for cert-manager, or run `invoke up` again")
        path = self.paths.ca_file     # where the local lab keeps its CA too
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(secret["data"]["ca.crt"]))
        return path

    def live_routes(self) -> list[LiveRoute]:
        forward = self.admin_forward()
        forward.ensure()
        return EnvoyAdmin(f"http://127.0.0.1:{forward.local_port}").live_routes()

    def status(self) -> LabStatus:
        if not self.provider.exists():
            return LabStatus(provider=self.name, up=False, notes=["the cluster does not exist: `invoke up`"])
        parts = []
        for namespace, name in (("istio-system", "istiod"), ("istio-system", "istio-ingressgateway"),
                                ("cert-manager", "cert-manager-webhook")):
            deployment = self.kube.get(Ref("Deployment", namespace, name))
            state = "running" if deployment and deployment_available(deployment) else "missing"
            parts.append(ProcessStatus(f"{namespace}/{name}", state))
        routes, notes = [], [f"kubectl: export KUBECONFIG={self.kubeconfig}"]
        try:
            routes = self.live_routes()
        except OSError as e:
            notes.append(f"could not read the gateway's routes: {e}")
        return LabStatus(provider=self.name, up=True, gateway_url=self.gateway_url(), processes=parts,
                         routes=routes, notes=notes)
