"""The local backend: the backend verbs over Envoy + app processes.

apply = validate → pods → translate → start new pods → push clusters and
routes → stop old pods → save. Each stage can fail; until the last one, the
lab keeps serving what it served before and nothing is saved.
"""

import copy
import shutil
from pathlib import Path

import jsonpatch

from lab.backends.base import Backend, LabStatus, LiveRoute, ProcessStatus
from lab.backends.local import envoy
from lab.backends.local.pods import desired_pods
from lab.backends.local.processes import Processes
from lab.backends.local.runners import load_runners
from lab.backends.local.schema import check_supported
from lab.backends.local.translate import translate
from lab.config import Paths, gateway_tls_port
from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError, ManifestError, NotUp
from lab.files import read_json, write_json
from lab.manifests import Ref, ref_of
from lab.ports import free_port, port_in_use
from lab.state import LabState, clear_state, load_state, save_state
from lab.validate import validate

GATEWAY = "gateway"
BOOTSTRAP_FILE = "envoy.json"   # in the run folder: what `up` started Envoy with, read back by recover_state
KIND_NAMES = {
    "Namespace": "namespace", "Deployment": "deployment.apps", "Service": "service",
    "Gateway": "gateway.networking.istio.io", "VirtualService": "virtualservice.networking.istio.io",
    "DestinationRule": "destinationrule.networking.istio.io",
}


class LocalBackend(Backend):
    name = "local"

    def __init__(self, paths: Paths, gateway_port: int):
        self.paths = paths
        self.port = gateway_port
        self.tls_port = gateway_tls_port(gateway_port)
        self.run_dir = paths.run_dir
        self.xds_dir = self.run_dir / "xds"
        self.objects_file = self.run_dir / "objects.json"
        self.processes = Processes(self.run_dir)

    # -- lifecycle ----------------------------------------------------------------

    def up(self) -> bool:
        if self.processes.supervisor_alive():
            return self._repair()
        for what, port in (("HTTP", self.port), ("HTTPS", self.tls_port)):
            if port_in_use(port):
                raise LabError(f"port {port} on 127.0.0.1 is already in use, so the gateway cannot serve {what} "
                               "there", f"stop what uses it, or run `invoke up --port {self.port + 1}` "
                                        "(HTTPS moves with it)")
        admin_port = free_port()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            envoy.write_initial(self.xds_dir)
            from lab.certs import make_gateway_tls   # here, not at the top: cryptography takes ~40 ms
            tls = make_gateway_tls(self.paths.tls_dir)  # to import, and only `up` needs it
            bootstrap_file = self.run_dir / BOOTSTRAP_FILE
            write_json(bootstrap_file, envoy.bootstrap(self.xds_dir, self.port, admin_port, self.tls_port, tls))
            gateway = {"argv": envoy.gateway_argv(bootstrap_file), "port": admin_port, "ready_path": "/ready"}
            save_state(self.paths, LabState("local", self.port, {"admin_port": admin_port}))
            self.processes.start_supervisor({GATEWAY: gateway})
            self.processes.wait_ready({GATEWAY: gateway}, timeout=20)
        except BaseException:
            self.down()  # half-started (an error or Ctrl-C): leave nothing behind
            raise
        return True

    def _repair(self) -> bool:
        """`up` on a running lab: restart what exited, change nothing else."""
        status = self.processes.status()
        desired = self.processes.desired()
        missing = {n: s for n, s in desired.items() if status.get(n, {}).get("state") != "running"}
        if not missing:
            return False
        self.processes.set_desired(desired)
        self.processes.wait_ready(missing)
        return True

    def down(self) -> bool:
        was_up = self.processes.supervisor_alive() or self.paths.state_file.exists() or self.run_dir.exists()
        self.processes.stop_supervisor()
        _remove_tree(self.run_dir)
        clear_state(self.paths)
        return was_up

    # -- objects ------------------------------------------------------------------

    def _objects(self) -> dict[Ref, dict]:
        raw = read_json(self.objects_file, default={}) or {}
        return {Ref.from_key(key): obj for key, obj in raw.items()}

    def get(self, ref: Ref) -> dict | None:
        self._require_up()
        obj = self._objects().get(ref)
        return copy.deepcopy(obj) if obj else None

    def apply(self, objects: list[dict]) -> list[str]:
        self._require_up()
        current = self._objects()
        new = dict(current)
        lines = []
        for obj in objects:
            check_supported(obj)
            validate(obj)
            obj = _with_namespace(obj)
            ref = ref_of(obj)
            if ref.namespace and ref.kind != "Namespace" and Ref("Namespace", "", ref.namespace) not in new \
                    and ref.namespace != "default":
                raise ManifestError(f"{ref}: namespace {ref.namespace} does not exist",
                                    f"apply a Namespace named {ref.namespace} first (or in the same file, above it)")
            verb = "unchanged" if current.get(ref) == obj else ("configured" if ref in current else "created")
            new[ref] = obj
            lines.append(f"{KIND_NAMES.get(ref.kind, ref.kind.lower())}/{ref.name} {verb}")
        self._converge(new)
        write_json(self.objects_file, {ref.key: obj for ref, obj in new.items()})
        return lines

    def patch(self, ref: Ref, operations: list[dict]) -> str:
        obj = self.get(ref)
        if obj is None:
            raise LabError(f"{ref} is not applied in the lab", "check the kind, namespace and name (`invoke status`)")
        try:
            patched = jsonpatch.apply_patch(obj, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as e:
            raise ManifestError(f"the patch does not apply to {ref}: {e}",
                                "check each operation's path against the object (`invoke get`)") from None
        if ref_of(patched) != ref:
            raise ManifestError(f"the patch renames {ref}", "a patch may not change kind, name or namespace")
        line = self.apply([patched])[0]
        return line.replace(" configured", " patched").replace(" unchanged", " patched (no change)")

    def _converge(self, objects: dict[Ref, dict]) -> None:
        """Make processes and gateway match `objects`; on failure keep serving the old state."""
        old_processes = self.processes.desired()
        pods = desired_pods(objects, load_runners(), old_processes)
        config = translate(objects, pods)
        new_processes = {GATEWAY: old_processes[GATEWAY], **{n: p.process_spec() for n, p in pods.items()}}
        starting = {n: s for n, s in new_processes.items() if n not in old_processes}
        pusher = envoy.XdsPusher(self.xds_dir, self._admin())
        old_clusters = _read_resources(self.xds_dir / "cds.json")
        try:
            if starting:
                self.processes.set_desired({**old_processes, **new_processes})
                self.processes.wait_ready(starting)
            # Clusters first (old and new), then routes, then drop the old clusters:
            # a route never names a cluster Envoy does not have yet.
            merged = {c["name"]: c for c in old_clusters} | {c["name"]: c for c in config.clusters}
            pusher.push_clusters(list(merged.values()))
            pusher.push_routes(config.route_configs)
            pusher.push_clusters(config.clusters)
        except BaseException:
            if starting:
                self.processes.set_desired(old_processes)
            raise
        if set(new_processes) != set(old_processes):
            self.processes.set_desired(new_processes)

    # -- reading --------------------------------------------------------------------

    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gateway_tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def ca_bundle(self) -> Path:
        self._require_up()
        return self.paths.ca_file

    def _admin(self) -> EnvoyAdmin:
        state = load_state(self.paths)
        if state is None:
            raise NotUp()
        return EnvoyAdmin(f"http://127.0.0.1:{state.settings['admin_port']}")

    def gateway_admin(self) -> EnvoyAdmin:
        self._require_up()
        return self._admin()

    def live_routes(self) -> list[LiveRoute]:
        self._require_up()
        return self._admin().live_routes()

    def status(self) -> LabStatus:
        if not self.processes.supervisor_alive():
            notes = ["the lab's supervisor is not running: `invoke up` restarts the lab"] \
                if self.paths.state_file.exists() else []
            return LabStatus(provider=self.name, up=False, notes=notes)
        states = self.processes.status()
        processes = []
        for name in self.processes.desired():
            info = states.get(name, {})
            state = info.get("state", "starting")
            detail = f"pid {info['pid']}" if state == "running" else \
                f"exit code {info.get('returncode')}: {self.processes.last_log_line(name)}" if state == "exited" else ""
            processes.append(ProcessStatus(name=name, state=state, detail=detail))
        routes, notes = [], []
        try:
            routes = self._admin().live_routes()
        except OSError as e:
            notes.append(f"could not read the gateway's routes: {e}")
        return LabStatus(provider=self.name, up=True, gateway_url=self.gateway_url(),
                         processes=processes, routes=routes, notes=notes)

    def _require_up(self) -> None:
        if not self.processes.supervisor_alive():
            raise NotUp("the local lab is not up")


def _with_namespace(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    if obj["kind"] != "Namespace":
        obj["metadata"].setdefault("namespace", "default")
    obj.pop("status", None)
    return obj


def _read_resources(path) -> list[dict]:
    return (read_json(path, default={}) or {}).get("resources", [])


def _remove_tree(path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def recover_state(paths: Paths) -> LabState | None:
    """state.json gone (deleted by hand, say) while a local lab still runs: the lab is still ours and
    its run folder says how it was started, so write the state back instead of orphaning it."""
    if not Processes(paths.run_dir).supervisor_alive():
        return None
    try:
        port, admin_port = envoy.bootstrap_ports(read_json(paths.run_dir / BOOTSTRAP_FILE))
    except (TypeError, KeyError, ValueError):
        return None
    state = LabState("local", port, {"admin_port": admin_port})
    save_state(paths, state)
    return state
