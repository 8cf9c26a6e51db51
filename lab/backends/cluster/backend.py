"""The cluster backend: the backend verbs over k3d or minikube, Istio and cert-manager.

`up` is apply, not create: each step looks first and does only what is
missing, so a second `up` does nothing and an `up` after a Ctrl-C finishes
the job. The lab writes its own kubeconfig (.lab/kubeconfig) and never
changes the user's current context.
"""

import base64
import copy
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import helm, ui
from lab.backends.base import Backend, LabStatus, LiveRoute, ProcessStatus, Reply, T
from lab.backends.cluster import addons, argo_rollouts, clients, gateway_api, metrics_server, versions
from lab.backends.cluster.images import LAB_IMAGES, in_registry
from lab.backends.cluster.kube import Kube, deployment_available, deployment_rolled_out
from lab.backends.cluster.portforward import PortForward, answers_http, stop_every_forward
from lab.backends.cluster.providers import PROVIDERS
from lab.backends.cluster.runner import Runner
from lab.backends.cluster.tools import choose_tool, releases
from lab.config import Paths, gateway_tls_port
from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError, ManifestError
from lab.kinds import GATEWAY_API_GROUP
from lab.manifests import Ref, ref_of
from lab.polling import poll
from lab.ports import free_port
from lab.routes import Served, ejecting_clusters, expected_routes, referenced, rule_service, wait_until_served
from lab.state import LabState, clear_state, load_state, save_state
from lab.validate import validate

ENVOY_ADMIN_PORT = 15000
OUTLIER_GRACE = 10   # seconds a DestinationRule's endpoints and ejection are waited for, then a note
READ_ATTEMPTS = 3    # reads of the gateways' admins, each through forwards probed anew
# An image name's registry and path, as Docker takes them (distribution/reference: domain[:port]/path).
IMAGE_PREFIX = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*")
GATEWAY_API_DEPLOY_TIMEOUT = 180   # istiod makes the Deployment, then its pod pulls the proxy image
GATEWAY_CLASS_DEFAULTS = Ref("ConfigMap", "istio-system", "canary-lab-gateway-class-defaults")


def run_together(jobs: dict[str, Callable[[], None]]) -> None:
    """Run independent steps in threads (each mostly waits on a tool); the first error wins."""
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="lab-step") as pool:
        futures = [pool.submit(job) for job in jobs.values()]
        for future in futures:
            future.result()


class ClusterBackend(Backend):
    keeps_a_failed_first_up = True   # only `down` deletes the cluster
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
        self.registry = ""   # `existing` only: a registry the cluster pulls the lab's images from
        self.may_install_istio = False   # on a cluster the lab did not make: only when asked (--install-istio)
        self._clients_ready = False   # client pods checked this run: a check sends many batches

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube.from_kubeconfig(self.kubeconfig, self.paths.run_dir / "discovery.json")
        return self._kube

    def _forward(self, name: str, target: str, local: int, remote: int, namespace: str = "istio-system") -> PortForward:
        return PortForward(self.runner, self.paths.run_dir, self.kubeconfig, name, target, local, remote, namespace)

    def gateway_forward(self) -> PortForward:
        return self._forward("gateway", "service/istio-ingressgateway", self.port, 80)

    def gateway_tls_forward(self) -> PortForward:
        return self._forward("gateway-tls", "service/istio-ingressgateway", gateway_tls_port(self.port), 443)

    def admin_forward(self) -> PortForward:
        state_port = (self._state_settings() or {}).get("admin_port") or free_port()
        return self._forward("admin", "deployment/istio-ingressgateway", state_port, ENVOY_ADMIN_PORT)

    # The Gateway API track's one entry point: the lab's ports + 1 (8081, 8444), forwarded to the
    # gateway Istio deployed for the Gateway that serves the host asked for.
    def gateway_api_port(self, scheme: str) -> int:
        return (gateway_tls_port(self.port) if scheme == "https" else self.port) + 1

    def gateway_api_forward(self, gateway: dict, scheme: str) -> PortForward:
        remote = gateway_api.listener_port(gateway, "HTTPS" if scheme == "https" else "HTTP")
        if remote is None:
            raise LabError(f"Gateway {gateway['metadata'].get('namespace')}/{gateway['metadata']['name']} has no "
                           f"{scheme.upper()} listener", f"add a listener with protocol {scheme.upper()}")
        ref = gateway_api.deployment_ref(gateway)
        return self._forward(f"gateway-api-{scheme}", f"service/{ref.name}", self.gateway_api_port(scheme), remote,
                             namespace=ref.namespace)

    def _deployed_gateway_admin(self, gateway: dict) -> EnvoyAdmin:
        """Port 15000 of a deployed gateway, on a port of its own kept in state.json."""
        ref = gateway_api.deployment_ref(gateway)
        key = f"{ref.namespace}/{ref.name}"
        state = load_state(self.paths)
        ports = state.settings.setdefault("gateway_admin_ports", {}) if state else {}
        if key not in ports:
            ports[key] = free_port()
            if state:
                save_state(self.paths, state)
        forward = self._forward(f"admin-{ref.namespace}-{ref.name}", f"deployment/{ref.name}", ports[key],
                                ENVOY_ADMIN_PORT, namespace=ref.namespace)
        forward.ensure(probe=answers_http)
        return EnvoyAdmin(f"http://127.0.0.1:{forward.local_port}")

    def _istio_gateways(self) -> list[dict]:
        """The Gateway API Gateways of class istio; none on a cluster without the CRDs."""
        try:
            return gateway_api.gateways(self.kube)
        except LabError:
            return []

    def _gateway_for(self, host: str) -> dict | None:
        """The Gateway API Gateway whose listener hostname is this host (or covers it), or that an
        HTTPRoute for the host names as its parent; None: the ingress gateway's (the Istio track)."""
        found = self._istio_gateways() if host else []
        named = [g for g in found if any(gateway_api.hostname_covers(listener.get("hostname"), host)
                                         for listener in (g.get("spec") or {}).get("listeners") or [])]
        if named or not found:
            return named[0] if named else None
        for route in self.kube.list_all("HTTPRoute", gateway_api.GROUP):
            if host in ((route.get("spec") or {}).get("hostnames") or []):
                for parent in (route.get("spec") or {}).get("parentRefs") or []:
                    namespace = parent.get("namespace") or route["metadata"].get("namespace")
                    for gateway in found:
                        if (gateway["metadata"]["name"], gateway["metadata"].get("namespace")) == \
                                (parent.get("name"), namespace):
                            return gateway
        return None

    def _wait_until_deployed(self, gateway: dict) -> None:
        ref = gateway_api.deployment_ref(gateway)
        if poll(lambda: gateway_api.deployed(self.kube, gateway), GATEWAY_API_DEPLOY_TIMEOUT, interval=1.0) is None:
            raise LabError(f"Istio has not deployed the gateway for Gateway {ref.namespace}/"
                           f"{gateway['metadata']['name']} ({ref}) within {GATEWAY_API_DEPLOY_TIMEOUT}s",
                           f"see `invoke get gtw {gateway['metadata']['name']} -n {ref.namespace}` (its conditions) "
                           "and `kubectl --kubeconfig .lab/kubeconfig get pods -n " + ref.namespace + "`")

    def gateway_admin(self) -> EnvoyAdmin:
        """Port 15000 of the ingress gateway, through the lab's port-forward."""
        forward = self.admin_forward()
        forward.ensure()
        return EnvoyAdmin(f"http://127.0.0.1:{forward.local_port}")

    def _state_settings(self) -> dict:
        state = load_state(self.paths)
        return state.settings if state else {}

    # -- lifecycle -------------------------------------------------------------------------

    def needed_tools(self) -> list[str]:
        return list(dict.fromkeys([self.provider.tool, "kubectl", "istioctl", "helm"]))

    def _install_tools(self, names: list[str]) -> None:
        found = releases()
        for name in names:
            ui.info(choose_tool(found[name], self.bin_dir).line(found[name]))

    def up(self) -> bool:
        with ui.step("tools: " + ", ".join(self.needed_tools())):
            self.install_tools(self.needed_tools())
        self.paths.run_dir.mkdir(parents=True, exist_ok=True)
        # Saved first, so `down` can clean up after a failure or a Ctrl-C half-way.
        settings = {"admin_port": free_port(), "registry_port": free_port(), **self._state_settings()}
        if self.registry:
            settings["registry"] = self.registry
        save_state(self.paths, LabState(self.name, self.port, settings))
        self.provider.registry_port = settings["registry_port"]
        self.provider.pull_registry = settings.get("registry", "")
        changed = False
        cluster_state = self.provider.state()
        if cluster_state == "missing":
            # A new cluster needs the images: they build while it is made (k3d, kind).
            with ui.step(f"creating the {self.name} cluster {self.provider.cluster_name} (images build meanwhile)"):
                run_together({"cluster": self.provider.create,
                              "images": lambda: self.provider.prebuild(dict(LAB_IMAGES))})
            changed = True
        elif cluster_state == "stopped":
            with ui.step(f"starting the stopped {self.name} cluster {self.provider.cluster_name}"):
                self.provider.start()
            changed = True
        changed = self.provider.ensure_wiring() or changed
        self.provider.write_kubeconfig()
        changed = self._install_gateway_api_crds() or changed
        installs = {}
        if not self._istio_installed():
            self._confirm_istio_install()
            installs["istio"] = lambda: addons.install_istio(self.runner, self.kubeconfig)
        if self.kube.get(Ref("Deployment", "cert-manager", "cert-manager-webhook")) is None:
            installs["cert-manager"] = lambda: addons.install_cert_manager(self.runner, self.kubeconfig)
        if self.provider.installs_metrics_server and metrics_server.state(self.kube) == "missing":
            installs["metrics-server"] = lambda: metrics_server.install(self.runner, self.kubeconfig)
        elif self.provider.keeps_cluster and metrics_server.state(self.kube) == "missing":
            ui.info("note: this cluster has no metrics API (metrics-server), so autoscale's steps cannot "
                    f"scale anything: {metrics_server.INSTALL_HINT}")
        if installs:
            # Independent of each other (10-53 s and about a minute): both at once.
            with ui.step(f"installing {' and '.join(installs)}{' together' if len(installs) > 1 else ''}"):
                run_together(installs)
            self._record("installed", *installs)
            changed = True
        if not self.provider.keeps_cluster and self.kube.get(GATEWAY_CLASS_DEFAULTS) is None:
            gateway_api.apply_class_defaults(self.kube)
            changed = True
        with ui.step("waiting for cert-manager's webhook, then the lab's CA"):
            addons.wait_for_webhook(self.kube)
            self._record("created", *addons.apply_issuers(self.kube))
        changed = self._load_images() or changed
        changed = self.ensure_gateway_forwards() or changed
        ui.info(f"kubectl for this lab: export KUBECONFIG={self.kubeconfig}")
        return changed

    def _install_gateway_api_crds(self) -> bool:
        """Before Istio, so istiod starts with the kinds it watches. On a cluster the lab did not
        make, only the missing ones, and `down` leaves them all (others' objects may use them)."""
        wanted, notes = gateway_api.crds_to_apply(self.kube, only_missing=self.provider.keeps_cluster)
        for note in notes:
            ui.info(note)
        if not wanted:
            return False
        with ui.step(f"installing the Gateway API CRDs {versions.GATEWAY_API} (the standard channel's Gateway, "
                     "GatewayClass, HTTPRoute, ReferenceGrant)"):
            for crd in wanted:
                self.kube.apply(crd)
        return True

    def _istio_installed(self) -> bool:
        """Installed means every component of the profile there and rolled out: istioctl applies
        istiod, waits for it, and only then the gateways, so an `up` stopped in that wait leaves
        istiod alone. On a cluster the lab did not make, an Istio it did not install is the
        learner's, whatever its profile: there, istiod is enough."""
        if self.provider.keeps_cluster and "istio" not in self._state_settings().get("installed", []):
            return self.kube.get(Ref("Deployment", "istio-system", "istiod")) is not None
        found = [self.kube.get(Ref("Deployment", "istio-system", name)) for name in addons.ISTIO_DEPLOYMENTS]
        return all(d is not None and deployment_rolled_out(d) for d in found)

    def _confirm_istio_install(self) -> None:
        """On a cluster the lab did not make, Istio is installed only when the learner says so."""
        if not self.provider.keeps_cluster or self.may_install_istio:
            return
        context = self.provider.cluster_name
        question = (f"Istio is not installed in context {context}. Install Istio {versions.ISTIO} (demo profile)? "
                    "`invoke down` removes it again.")
        if ui.interactive() and ui.choose(question, ["no, stop here", "yes, install Istio"]).startswith("yes"):
            return
        raise LabError(f"Istio is not installed in context {context}, and the lab installs it there only when asked",
                       "run `invoke up --provider existing --install-istio`, or install Istio yourself")

    def _record(self, what: str, *items: str) -> None:
        """What the lab made in a cluster it did not make (state settings), so `down` removes
        exactly that."""
        if not self.provider.keeps_cluster or not items:
            return
        state = load_state(self.paths)
        if state is None:
            return
        known = state.settings.setdefault(what, [])
        known += [item for item in items if item not in known]
        save_state(self.paths, state)

    def ensure_gateway_forwards(self) -> bool:
        """minikube's gateway is reached through port-forwards: each is checked by a request and
        restarted when it died or wedged (the HTTPS one with the HTTP one: both go to one pod)."""
        if not self.provider.needs_port_forward:
            return False
        restarted = self.gateway_forward().ensure(probe=answers_http)
        tls = self.gateway_tls_forward()
        if restarted:
            tls.stop()
        return tls.ensure() or restarted

    def install_addons(self, names: list[str]) -> None:
        for name in names:
            if self.kube.get(Ref("Deployment", "istio-system", name)) is None:
                with ui.step(f"installing {name}"):
                    addons.install_addon(self.runner, self.kubeconfig, name, self.paths.home / "downloads")

    def install_argo_rollouts(self) -> list[str]:
        """The pinned Argo Rollouts (its release's install.yaml, checked), unless its controller runs;
        recorded so that `down` on a cluster the lab did not make removes it."""
        # Its CRD, wherever its controller runs (another namespace than the install's default too).
        if self.kube.get(Ref("CustomResourceDefinition", "", argo_rollouts.CRD)) is not None:
            return [f"Argo Rollouts is installed already ({argo_rollouts.CRD} exists)"]
        manifest = argo_rollouts.fetch_manifest(self.paths.home / "downloads")
        with ui.step(f"installing Argo Rollouts {versions.ARGO_ROLLOUTS}"):
            argo_rollouts.install(self.runner, manifest, self.kubeconfig)
        self._record("installed", "argo-rollouts")
        return [f"Argo Rollouts {versions.ARGO_ROLLOUTS} installed in namespace {argo_rollouts.NAMESPACE}"]

    def dashboard(self, name: str) -> None:
        """Open an addon's dashboard (istioctl port-forwards it and opens a browser) until Ctrl-C."""
        if self.kube.get(Ref("Deployment", "istio-system", name)) is None:
            raise LabError(f"{name} is not installed in the lab", f"run `invoke up --addons {name}`")
        self.runner.run(addons.dashboard_argv(name, self.kubeconfig), timeout=24 * 3600)

    def _images_key(self) -> str:
        """What the loaded images were built for: this cluster (its kube-system Namespace's uid, new
        with every cluster, also one made outside the lab) and the content of the apps' folders."""
        digest = hashlib.sha256()
        for image, context in sorted(LAB_IMAGES.items()):
            digest.update(image.encode())
            for path in sorted(p for p in Path(context).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
        namespace = self.kube.get(Ref("Namespace", "", "kube-system")) or {}
        return json.dumps({"cluster": (namespace.get("metadata") or {}).get("uid", ""), "apps": digest.hexdigest(),
                           "registry": self.provider.pull_registry, "kept in": self.provider.images_home()},
                          sort_keys=True)

    def _load_images(self) -> bool:
        marker = self.paths.run_dir / "images-loaded"
        key = self._images_key()
        if marker.exists() and marker.read_text() == key:
            return False
        with ui.step("building the lab's app images into the cluster"):
            self.provider.build_images(dict(LAB_IMAGES))
        marker.write_text(key)
        return True

    def down(self) -> bool:
        was_up = self.paths.state_file.exists()
        for forward in (self.gateway_forward(), self.gateway_tls_forward(), self.admin_forward()):
            forward.stop()
        stop_every_forward(self.runner, self.paths.run_dir, self.kubeconfig)   # the deployed gateways' too
        if self.provider.keeps_cluster:
            existed = was_up and self.kubeconfig.exists()
            if existed:
                self._remove_what_the_lab_made()
        else:
            existed = self.provider.exists()
            if existed:
                self.provider.delete()
        shutil.rmtree(self.paths.run_dir, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)
        clear_state(self.paths)
        return was_up or existed

    def _remove_what_the_lab_made(self) -> None:
        """Objects the lab created (namespaces last: they take what is in them), then cert-manager
        and Istio only if the lab installed them. Never the cluster, never what was there before."""
        settings = self._state_settings()
        created = [Ref.from_key(key) for key in settings.get("created", [])]
        with ui.step(f"removing what the lab made in context {self.provider.cluster_name}"):
            for ref in sorted(created, key=lambda r: r.kind == "Namespace"):
                self.kube.delete(ref)
            installed = settings.get("installed", [])
            if "argo-rollouts" in installed:   # before Istio: its Rollouts own routes Istio serves
                try:   # the manifest it installed from (downloaded again if the cache was cleared)
                    manifest = argo_rollouts.fetch_manifest(self.paths.home / "downloads")
                except LabError as e:
                    ui.info(f"Argo Rollouts stays: {e.message} — delete namespace {argo_rollouts.NAMESPACE} "
                            "and the argoproj.io CRDs with kubectl")
                else:
                    for argv in argo_rollouts.uninstall_argv(manifest, self.kubeconfig):
                        self.runner.run(argv, timeout=600)
            if "cert-manager" in installed:
                addons.uninstall_cert_manager(self.runner, self.kube, self.kubeconfig)
                self.kube.delete(Ref("Namespace", "", "cert-manager"))
            if "istio" in installed:
                # https://istio.io/latest/docs/setup/install/istioctl/#uninstall-istio
                self.runner.run(["istioctl", "uninstall", "--purge", "--skip-confirmation",
                                 "--kubeconfig", str(self.kubeconfig)], timeout=600)
                self.kube.delete(Ref("Namespace", "", "istio-system"))

    # -- objects ---------------------------------------------------------------------------

    def require_metrics_api(self, timeout: float = 120) -> None:
        """metrics-server registered and answering; one that is starting is waited for (its APIService
        turns Available once it has scraped the kubelets)."""
        if metrics_server.state(self.kube) == "missing":
            raise LabError("the cluster has no metrics API (metrics.k8s.io: no metrics-server), so no "
                           "HorizontalPodAutoscaler can scale", self.provider.metrics_server_fix)
        if poll(lambda: metrics_server.state(self.kube) == "available", timeout, interval=2.0) is None:
            raise LabError(f"the metrics API (metrics-server) is registered but not available after {timeout:.0f}s, "
                           "so no HorizontalPodAutoscaler can scale",
                           "`kubectl -n kube-system logs deploy/metrics-server` says why (KUBECONFIG=.lab/kubeconfig)")

    def use_registry(self, registry: str) -> None:
        """Where the lab's images go for a cluster it did not make (`up --registry`)."""
        if self.name != "existing":
            raise LabError(f"--registry is for --provider existing; the {self.name} lab makes its own registry",
                           "leave --registry out")
        if not IMAGE_PREFIX.fullmatch(registry):
            raise LabError(f"--registry {registry!r} is not HOST[:PORT]/PATH (lowercase, no scheme)",
                           "e.g. --registry registry.example.com/your-team")
        self.registry = registry

    def _pullable(self, obj: dict) -> dict:
        """With a registry (`existing` only), the lab's own images are named where the cluster pulls
        them: canary-lab.invalid/version-app:1.0 → REGISTRY/canary-lab/version-app:1.0 (in Deployments, and
        in Argo Rollouts' Rollouts)."""
        registry = (self._state_settings() or {}).get("registry", "")
        if not registry or obj.get("kind") not in ("Deployment", "Rollout"):   # a Rollout's pod template: same path
            return obj
        obj = copy.deepcopy(obj)
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
            if container.get("image") in LAB_IMAGES:
                container["image"] = in_registry(container["image"], registry)
        return obj

    def apply(self, objects: list[dict]) -> list[str]:
        objects = [self._pullable(obj) for obj in objects]
        for obj in objects:
            validate(obj)
            self.kube.resource(obj["kind"], obj.get("apiVersion"))  # a kind the cluster lacks: before any change
        for namespace in sorted({ref_of(o).name if o["kind"] == "Namespace" else ref_of(o).namespace
                                 for o in objects} - {""}):
            self.kube.wait_until_not_terminating(namespace)
        lines = []
        for obj in objects:
            ref = ref_of(obj)
            before = self.kube.get(ref)
            after = self.kube.apply(obj)
            verb = "created" if before is None else (
                "unchanged" if before.get("spec") == after.get("spec") else "configured")
            lines.append(f"{ref.kind.lower()}/{ref.name} {verb}")
            if before is None:
                self._record("created", ref.key)
        self.wait_until_in_effect(objects)
        return lines

    def helm_upgrade(self, chart: Path, release: str, namespace: str, values_files: list[Path],
                     settings: list[str], reuse_values: bool) -> list[str]:
        """`invoke helm` here: the real helm (base.HelmInstalls)."""
        return helm.cluster_upgrade(self.runner, self.kubeconfig, self.wait_until_in_effect, chart, release,
                                    namespace, values_files, settings, reuse_values)

    def wait_until_in_effect(self, objects: list[dict]) -> None:
        """Until changed Deployments have rolled out and the gateways serve the routes of these
        objects (after an apply, a patch, or a `helm upgrade` that changed them)."""
        for obj in objects:
            if obj["kind"] == "Deployment":
                self.kube.wait_for(ref_of(obj), deployment_rolled_out, "rolled out", interval=0.5)
        self._wait_until_served(objects)

    def _wait_until_served(self, objects: list[dict]) -> None:
        """Until the gateways serve what istiod will make of the VirtualServices bound to the ingress
        gateway, and of the HTTPRoutes and Gateway API Gateways (once Istio deployed their gateways)."""
        # A DestinationRule changes the routes to its Service (how they hash) and its clusters (which eject
        # failing pods): both are waited for.
        rules = [o for o in objects if o["kind"] == "DestinationRule"]
        hosts = {ref for ref in map(rule_service, rules) if ref is not None}
        if hosts:
            self._wait_for_subset_endpoints(hosts, rules)
            self._wait_for_outlier_detection(hosts, rules)
            objects = [*objects, *self._routes_to(hosts)]
        if any(gateway_api.is_route(o) or gateway_api.is_gateway(o) for o in objects):
            model, parents = gateway_api.routes_model(self.kube, objects)
            for gateway in parents:
                self._wait_until_deployed(gateway)
            self._wait_for(lambda: expected_routes([], model))
        bound = [o for o in objects if o["kind"] == "VirtualService"
                 and any(g != "mesh" for g in (o.get("spec") or {}).get("gateways") or [])]
        # A changed Istio Gateway (an HTTPS server added, say) changes what its VirtualServices serve.
        gateways = {ref_of(o) for o in objects if o["kind"] == "Gateway" and not gateway_api.is_gateway(o)}
        stored = {ref_of(vs): vs for vs in self.kube.list_all("VirtualService")} if bound or gateways else {}
        if gateways:
            named = {ref_of(o) for o in bound}
            bound += [vs for ref, vs in stored.items() if ref not in named
                      and any(r in gateways for r in referenced(vs) if r.kind == "Gateway")]
        if not bound:
            return
        merged = self._merged_with(bound, stored)
        context = {ref_of(o): o for o in objects}
        for ref in (r for vs in merged for r in referenced(vs)):
            if ref not in context and (found := self.kube.get(ref)) is not None:
                context[ref] = found
        for namespace in sorted({r.namespace for r in context if r.kind == "Service"}):
            for rule in self.kube.list("DestinationRule", namespace):
                context.setdefault(ref_of(rule), rule)
        model = [o for r, o in context.items() if r.kind in ("Gateway", "Service", "DestinationRule")]

        def expected() -> Served:
            # what istiod serves for the hosts of these VirtualServices, merged with the others
            hosts = expected_routes(bound, model)
            return {key: routes for key, routes in expected_routes(merged, model).items() if key in hosts}

        self._wait_for(expected)

    def _wait_for_subset_endpoints(self, services: set[Ref], rules: list[dict]) -> None:
        """Until the gateways know a pod of each subset these rules define that an available Deployment
        runs (a subset's labels changed: istiod pushes its new endpoints), so a check right after the
        fix does not meet the subset's old, empty endpoints; after the grace, a note."""
        wanted = set()
        for rule in rules:
            service = rule_service(rule)
            found = self.kube.get(service) if service in services else None
            if service is None or found is None:
                continue
            selector = (found.get("spec") or {}).get("selector") or {}
            running = [((d.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
                       for d in self.kube.list("Deployment", service.namespace) if deployment_available(d)]
            for subset in (rule.get("spec") or {}).get("subsets") or []:
                labels = {**selector, **(subset.get("labels") or {})}
                if labels and any(labels.items() <= pod.items() for pod in running):
                    wanted.add((f"{service.name}.{service.namespace}", str(subset.get("name", ""))))
        if not wanted:
            return

        def known() -> bool:
            try:
                ready = self.ready_endpoints()
            except LabError:
                return False
            return all(ready.get(key, 0) > 0 for key in wanted)

        if not poll(known, OUTLIER_GRACE, interval=0.5):
            ui.info(f"note: applied; after {OUTLIER_GRACE}s the gateway knows no pod of subset(s) "
                    f"{', '.join(sorted(subset for _, subset in wanted))} yet: `invoke status` shows its endpoints")

    def _wait_for_outlier_detection(self, services: set[Ref], applied: list[dict]) -> None:
        """Until the gateways' clusters of these Services eject failing pods where the model of istiod
        says they will (translate: a cluster per port and subset, with the rule's outlierDetection)."""
        model = {ref_of(rule): rule for ns in sorted({s.namespace for s in services})
                 for rule in self.kube.list("DestinationRule", ns)}
        model.update({ref_of(rule): rule for rule in applied})
        model.update({ref: found for ref in services if (found := self.kube.get(ref)) is not None})
        try:
            mine, wanted = ejecting_clusters(services, list(model.values()))
        except (ManifestError, LabError):
            return          # what the model cannot build, a cluster may: no wait (as _wait_for)
        if not wanted:
            return          # nothing ejects: no check waits for an ejection to be gone

        def in_effect() -> bool:
            try:
                ejecting = set().union(*self.read_gateways(EnvoyAdmin.outlier_clusters))
            except LabError:
                return False
            return ejecting & mine == wanted

        if not poll(in_effect, OUTLIER_GRACE, interval=0.5):   # the model may read the rules unlike istiod
            ui.info(f"note: applied; the gateway's clusters do not eject failing pods as the lab predicted after "
                    f"{OUTLIER_GRACE}s: `invoke get dr -o yaml` shows the rules, a subset's own policy among them")

    def _routes_to(self, services: set[Ref]) -> list[dict]:
        """The stored VirtualServices and HTTPRoutes with a destination among these Services."""
        found = [vs for vs in self.kube.list_all("VirtualService")
                 if any(ref in services for ref in referenced(vs))]
        try:
            routes = self.kube.list_all("HTTPRoute", GATEWAY_API_GROUP)
        except LabError:
            routes = []         # a cluster without the Gateway API's CRDs
        return found + [route for route in routes if gateway_api.backend_services(route) & services]

    @staticmethod
    def _merged_with(bound: list[dict], stored: dict[Ref, dict]) -> list[dict]:
        """The VirtualServices istiod builds these ones' gateway routes from: each as the cluster holds
        it (creationTimestamp orders the merge: pilot/pkg/model/virtualservice_controller.go
        sortMergedVirtualServicesByCreationTime), and every other one bound to one of their Gateways,
        whose routes for a shared host istiod merges into one virtual host (pilot core/gateway.go
        buildGatewayVirtualHostsForHTTP, vHostDedupMap)."""
        mine = {ref_of(vs) for vs in bound}
        gateways = {r for vs in bound for r in referenced(vs) if r.kind == "Gateway"}
        return [*(stored.get(ref_of(vs), vs) for vs in bound),
                *(vs for ref, vs in stored.items() if ref not in mine
                  and any(r in gateways for r in referenced(vs) if r.kind == "Gateway"))]

    def _wait_for(self, expected: Callable[[], Served]) -> None:
        """Wait until served; what the model of istiod cannot build (a route to a Service not there
        yet) a cluster still takes, so the apply stands and only the wait is left out, saying why."""
        try:
            wanted = expected()
        except ManifestError as e:
            ui.info(f"note: applied; not waiting for the gateway, whose routes the lab cannot predict here: "
                    f"{e.message.split(';')[0]}")
            return
        note = wait_until_served(wanted, self.live_routes)
        if note:
            ui.info(f"note: applied; {note}")

    def patch(self, ref: Ref, operations: list[dict]) -> str:
        """A JSON patch; returns, like apply, once it is served (or rolled out)."""
        patched = self.kube.json_patch(ref, operations)
        self.wait_until_in_effect([{**patched, "kind": ref.kind}])
        return f"{ref.kind.lower()}/{ref.name} patched"

    def delete(self, refs: list[Ref]) -> None:
        for ref in refs:
            self.kube.delete(ref)

    def list_objects(self, kind: str, group: str = "") -> list[dict]:
        return self.kube.list_all(kind, group)

    def logs(self, name: str, tail: int = 0, follow: bool = False):
        """`kubectl logs` of the ingress gateway ("gateway"), a Deployment (one of its pods, as
        kubectl picks) or a pod in canary-lab; NAMESPACE/NAME names another namespace."""
        namespace, _, pod_or_deployment = name.rpartition("/")
        if name == "gateway":
            namespace, target = "istio-system", "deployment/istio-ingressgateway"
        else:
            owners = [d["metadata"].get("namespace", "") for d in self.list_objects("Deployment")
                      if d["metadata"]["name"] == pod_or_deployment and (not namespace or
                                                                         d["metadata"].get("namespace") == namespace)]
            namespace = owners[0] if owners else namespace or "canary-lab"
            target = f"deployment/{pod_or_deployment}" if owners else pod_or_deployment
        # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_logs/ (--tail, --follow)
        argv = ["kubectl", "logs", target, "--namespace", namespace, f"--tail={tail or -1}",
                "--kubeconfig", str(self.kubeconfig)] + (["--follow"] if follow else [])
        if follow:
            return self.runner.lines(argv)
        return iter(self.runner.run(argv).stdout.splitlines())

    def send_from_pod(self, client: str, url: str, headers: dict[str, str], count: int) -> list[Reply]:
        if not self._clients_ready:
            self._record("created", *clients.ensure_clients(self.kube))
            self._clients_ready = True
        return clients.send(self.runner, client, self.kubeconfig, url, headers, count)

    def get(self, ref: Ref) -> dict | None:
        return self.kube.get(ref)

    # -- reading ---------------------------------------------------------------------------

    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def entry_url(self, scheme: str, gateway_api: bool = False, host: str = "") -> str:
        if not gateway_api:
            return super().entry_url(scheme)
        return f"{scheme}://127.0.0.1:{self.gateway_api_port(scheme)}"

    def gateway_endpoint(self, scheme: str, host: str = "") -> tuple[str, str | None]:
        """Every check and `invoke traffic` come through here: a host a Gateway API Gateway serves
        goes to the gateway Istio deployed for it, through its forward; the rest to the ingress gateway."""
        gateway = self._gateway_for(host)
        if gateway is None:
            self.ensure_gateway_forwards()
            return super().gateway_endpoint(scheme)
        self._wait_until_deployed(gateway)
        self.gateway_api_forward(gateway, scheme).ensure(probe=answers_http if scheme == "http" else None)
        return self.entry_url(scheme, gateway_api=True), str(self.ca_bundle()) if scheme == "https" else None

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

    def _admins(self) -> list[EnvoyAdmin]:
        """The ingress gateway's Envoy admin, then each deployed Gateway API gateway's (one whose
        pods are not available yet serves nothing)."""
        forward = self.admin_forward()
        forward.ensure(probe=answers_http)
        deployed = [g for g in self._istio_gateways() if gateway_api.deployed(self.kube, g)]
        return [EnvoyAdmin(f"http://127.0.0.1:{forward.local_port}"), *map(self._deployed_gateway_admin, deployed)]

    def read_gateways(self, read: Callable[[EnvoyAdmin], T]) -> list[T]:
        """`read` of every gateway's Envoy admin. A port-forward can die between its probe and the
        read (kubectl's ends when the pod behind it goes): a failed read is tried again through
        forwards probed (and restarted) anew, and the last failure is one line, not a traceback."""
        for attempt in range(READ_ATTEMPTS):
            try:
                return [read(admin) for admin in self._admins()]
            except (OSError, ValueError) as error:   # refused, reset, or an answer cut short
                if attempt == READ_ATTEMPTS - 1:
                    raise LabError(f"could not read the gateway's Envoy through its port-forward: {error}",
                                   "run `invoke up` to restart the port-forwards, then try again") from error
        raise AssertionError("unreachable")

    def live_routes(self) -> list[LiveRoute]:
        """What every gateway serves: the ingress gateway's routes and the deployed gateways'."""
        return [route for routes in self.read_gateways(EnvoyAdmin.live_routes) for route in routes]

    def ready_endpoints(self) -> dict[tuple[str, str], int]:
        """From the gateways' own Envoys (/clusters): what they would send traffic to."""
        ready: dict[tuple[str, str], int] = {}
        for seen in self.read_gateways(EnvoyAdmin.ready_endpoints):
            for key, count in seen.items():
                ready[key] = max(ready.get(key, 0), count)   # the same pods, seen from each gateway
        return ready

    def endpoint_addresses(self) -> dict[tuple[str, str], frozenset[str]]:
        found: dict[tuple[str, str], frozenset[str]] = {}
        for seen in self.read_gateways(EnvoyAdmin.endpoint_addresses):
            for key, addresses in seen.items():
                found[key] = found.get(key, frozenset()) | addresses   # each gateway knows the clusters it routes to
        return found

    def upstream_counts(self) -> dict[str, tuple[int, int]]:
        counts: dict[str, tuple[int, int]] = {}
        for seen in self.read_gateways(EnvoyAdmin.upstream_counts):
            for name, (requests, errors) in seen.items():
                before = counts.get(name, (0, 0))
                counts[name] = (before[0] + requests, before[1] + errors)
        return counts

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
        except LabError as e:
            notes.append(f"{e.message}: {e.fix}")
        return LabStatus(provider=self.name, up=True, gateway_url=self.gateway_url(), processes=parts,
                         routes=routes, notes=notes)
