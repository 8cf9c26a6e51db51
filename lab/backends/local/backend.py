"""The local backend: the backend verbs over Envoy + app processes.

apply = validate → pods → translate → start new pods → push clusters and
routes → stop old pods → save. Each stage can fail; until the last one, the
lab keeps serving what it served before and nothing is saved.
"""

import copy
import os
import shutil
import signal
import time
from pathlib import Path

import jsonpatch

from lab.backends.base import Backend, LabStatus, LiveRoute, ProcessStatus
from lab.backends.local import envoy
from lab.backends.local.endpoints import target_port_notes
from lab.backends.local.gateway_api import admit
from lab.backends.local.gateway_status import apply_note, with_status
from lab.backends.local.pods import desired_pods
from lab.backends.local.processes import Processes, pid_alive
from lab.backends.local.runners import load_runners
from lab.backends.local.schema import check_object
from lab.backends.local.translate import EnvoyConfig, translate
from lab.config import Paths, gateway_tls_port
from lab.edge import ctrl_c_deferred
from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError, ManifestError, NotUp
from lab.files import read_json, write_json
from lab.manifests import Ref, ref_of
from lab.ports import free_port, port_in_use
from lab.state import DamagedState, LabState, clear_state, lab_lock, load_state, save_state
from lab.validate import validate_update

GATEWAY = "gateway"
DRAIN_SECONDS = 0.2   # longer than any sample app's answer
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
        # Written before the first push, removed after the save: if it is left, a command was
        # killed in between and the gateway may serve what is not stored (`up` pushes the stored again).
        self.pending_file = self.run_dir / "pending.json"
        self.processes = Processes(self.run_dir)

    # -- lifecycle ----------------------------------------------------------------

    def up(self) -> bool:
        with lab_lock(self.paths):
            return self._up()

    def _up(self) -> bool:
        if self.processes.supervisor_alive():
            return self._repair()
        # The lab's processes still run but its run folder (pid files and all) is gone: nothing can
        # talk to them any more, so end them and start afresh rather than fail on our own ports.
        self.processes.stop_supervisor()
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
            self._down()  # half-started (an error or Ctrl-C): leave nothing behind
            raise
        self.pending_file.unlink(missing_ok=True)   # a fresh Envoy serves nothing yet: nothing is ahead of the store
        stored = self._objects()
        if stored:   # the supervisor had died with the lab up: serve again what is stored (kept if that fails)
            self._converge(stored, save=lambda: None)
        return True

    def _repair(self) -> bool:
        """`up` on a running lab: restart what exited, change nothing else. Pods no stored object
        owns (left by a command killed -9 after starting them, before it saved the objects they
        serve) are stopped, and the gateway gets the stored objects' config again."""
        desired, status = self.processes.desired(), self.processes.status()
        # "running" with a pid that has died is missing too: the supervisor has not reaped it yet.
        missing = {n: s for n, s in desired.items() if status.get(n, {}).get("state") != "running"
                   or not pid_alive(status[n].get("pid"))}
        if missing:
            self.processes.set_desired(desired)
            self.processes.wait_ready(missing)
        owned = set(desired_pods(self._objects(), load_runners(), desired)) | {GATEWAY}
        orphans = set(desired) - owned
        interrupted = self.pending_file.exists()
        if orphans or interrupted:
            self._converge(self._objects(), save=lambda: None)
        return bool(missing or orphans or interrupted)

    def stop_processes(self) -> bool:
        """End every process of this lab (found by marker, whatever its files say); keep every file."""
        with lab_lock(self.paths):
            found = bool(self.processes.leftovers())
            self.processes.stop_supervisor()
            return found

    def down(self) -> bool:
        with lab_lock(self.paths):
            return self._down()

    def _down(self) -> bool:
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
        objects = self._objects()
        obj = objects.get(ref)
        return copy.deepcopy(with_status(ref, obj, objects)) if obj else None

    def apply(self, objects: list[dict]) -> list[str]:
        with lab_lock(self.paths):
            return self._apply(objects)

    def _apply(self, objects: list[dict]) -> list[str]:
        self._require_up()
        current = self._objects()
        new = dict(current)
        lines, refs = [], []
        for obj in objects:
            check_object(obj)
            obj = _with_namespace(obj)
            ref = ref_of(obj)
            validate_update(new.get(ref), obj)   # what the API server refuses to change (a selector)
            obj = admit(obj, current.get(ref))   # Gateway API: CRD defaults, creationTimestamp
            if ref.namespace and ref.kind != "Namespace" and Ref("Namespace", "", ref.namespace) not in new \
                    and ref.namespace != "default":
                raise ManifestError(f"{ref}: namespace {ref.namespace} does not exist",
                                    f"apply a Namespace named {ref.namespace} first (or in the same file, above it)")
            verb = "unchanged" if current.get(ref) == obj else ("configured" if ref in current else "created")
            new[ref] = obj
            kind = f"{ref.kind.lower()}.{ref.group}" if ref.group else KIND_NAMES.get(ref.kind, ref.kind.lower())
            lines.append(f"{kind}/{ref.name} {verb}")
            refs.append(ref)
        config = self._converge(new, save=lambda: write_json(self.objects_file,
                                                             {ref.key: obj for ref, obj in new.items()}))
        applied = {ref_of(_with_namespace(obj)) for obj in objects}
        return ([line + apply_note(ref, new) for ref, line in zip(refs, lines)]
                + [f"note: {text}" for ref, text in config.notes if ref in applied])

    def patch(self, ref: Ref, operations: list[dict]) -> str:
        with lab_lock(self.paths):   # read and apply as one step: no other apply lands in between
            return self._patch(ref, operations)

    def _patch(self, ref: Ref, operations: list[dict]) -> str:
        obj = self.get(ref)
        if obj is None:
            raise LabError(f"{ref} is not applied in the lab", "check the kind, namespace and name (`invoke status`)")
        try:
            patched = jsonpatch.apply_patch(obj, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as e:
            raise ManifestError(f"the patch does not apply to {ref}: {e}",
                                "check each operation's path against the object (`invoke get`)") from None
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict) \
                or not patched["metadata"].get("name"):
            raise ManifestError(f"the patch leaves {ref} without metadata.name", "a patch may not remove the name")
        if ref_of(patched) != ref:
            raise ManifestError(f"the patch renames {ref}", "a patch may not change kind, name or namespace")
        line = self._apply([patched])[0]   # (notes, if any, follow it)
        return line.replace(" configured", " patched").replace(" unchanged", " patched (no change)")

    def delete(self, refs: list[Ref]) -> None:
        with lab_lock(self.paths):
            self._delete(refs)

    def _delete(self, refs: list[Ref]) -> None:
        """Remove the objects (a Namespace takes what is in it), their pods and their routes, all or
        nothing: if what is left cannot be served, nothing is deleted."""
        self._require_up()
        current = self._objects()
        namespaces = {ref.name for ref in refs if ref.kind == "Namespace"}
        left = {ref: obj for ref, obj in current.items() if ref not in refs and ref.namespace not in namespaces}
        if left == current:
            return
        try:
            self._converge(left, save=lambda: write_json(self.objects_file,
                                                         {ref.key: obj for ref, obj in left.items()}))
        except ManifestError as e:
            raise LabError(f"not deleted: what is left would not be served ({e.message})",
                           "delete or change that object too (a cluster would delete it and serve what is "
                           "left as it can: 503 for a route to a missing Service, 404 for a host no Gateway "
                           "serves)") from None

    def list_objects(self, kind: str, group: str = "") -> list[dict]:
        self._require_up()
        return [copy.deepcopy(obj) for ref, obj in sorted(self._objects().items())
                if (ref.kind, ref.group) == (kind, group)]

    def logs(self, name: str, tail: int = 0, follow: bool = False):
        from lab.backends.local.logs import matching_processes, read_lines

        self._require_up()
        chosen = matching_processes(name, list(self.processes.desired()))
        return read_lines({p: self.processes.log_file(p) for p in chosen}, tail, follow)

    def _converge(self, objects: dict[Ref, dict], save) -> EnvoyConfig:
        """Make processes and gateway match `objects`, then `save` them — all of it or none:
        on any failure, Ctrl-C included, the old config keeps serving and nothing is saved."""
        old_processes = self.processes.desired()
        pods = desired_pods(objects, load_runners(), old_processes)
        config = translate(objects, pods)
        self._require_gateway()
        new_processes = {GATEWAY: old_processes[GATEWAY], **{n: p.process_spec() for n, p in pods.items()}}
        starting = {n: s for n, s in new_processes.items() if n not in old_processes}
        pusher = envoy.XdsPusher(self.xds_dir, self._admin())
        old_clusters = _read_resources(self.xds_dir / "cds.json")
        old_routes = {scheme: _read_resources(self.xds_dir / name)[0] for scheme, name in envoy.RDS_FILES.items()}
        try:
            if starting:
                self.processes.set_desired({**old_processes, **new_processes})
                self.processes.wait_ready(starting)
            with ctrl_c_deferred():   # from the first push to the save, one step
                write_json(self.pending_file, {"pid": os.getpid(), "since": time.time()})
                try:
                    # Clusters first (old and new), then routes, then drop the old clusters:
                    # a route never names a cluster Envoy does not have yet.
                    merged = {c["name"]: c for c in old_clusters} | {c["name"]: c for c in config.clusters}
                    pusher.push_clusters(list(merged.values()))
                    pusher.push_routes(config.route_configs)
                    _crash_point("after-routes")
                    if len(merged) > len(config.clusters):
                        time.sleep(DRAIN_SECONDS)   # requests already sent to a cluster about to go finish first
                    pusher.push_clusters(config.clusters)
                    save()
                except BaseException:
                    _restore(pusher, old_clusters, config.clusters, old_routes)
                    self.pending_file.unlink(missing_ok=True)   # the old config serves again
                    raise
                self.pending_file.unlink(missing_ok=True)   # only a kill -9 in between leaves it
                if set(new_processes) != set(old_processes):
                    self.processes.set_desired(new_processes)
        except BaseException:
            if starting:
                _quietly(lambda: self.processes.set_desired(old_processes))
            raise
        return config

    def _require_gateway(self) -> None:
        info = self.processes.status().get(GATEWAY, {})
        if info.get("state") != "running":
            raise LabError(f"the gateway (Envoy) is not running ({self.processes.why_exited(GATEWAY, info)}); "
                           "nothing was applied", "run `invoke up` to restart it, then apply again")

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
        port = state.settings.get("admin_port")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise DamagedState(f"{self.paths.state_file} is damaged (settings.admin_port is {port!r})",
                               "`invoke down`, then `invoke up` (down stops a local lab even so)")
        return EnvoyAdmin(f"http://127.0.0.1:{port}")

    def gateway_admin(self) -> EnvoyAdmin:
        self._require_up()
        return self._admin()

    def live_routes(self) -> list[LiveRoute]:
        self._require_up()
        return self._admin().live_routes()

    def ready_endpoints(self) -> dict[tuple[str, str], int]:
        from lab.backends.local.endpoints import ready_endpoints

        self._require_up()
        running = {name for name, info in self.processes.status().items() if info.get("state") == "running"}
        return ready_endpoints(self._objects(), running)

    def upstream_counts(self) -> dict[str, tuple[int, int]]:
        self._require_up()
        return self._admin().upstream_counts()

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
                f"exit code {info.get('returncode')}: {self.processes.why_exited(name, info)}" if state == "exited" else ""
            processes.append(ProcessStatus(name=name, state=state, detail=detail))
        routes, notes = [], []
        if self._interrupted():
            notes.append("a command was stopped between changing the gateway and saving the objects, so the "
                         "gateway may serve what `get` does not show: `invoke up` serves the stored objects again")
        exited = [p.name for p in processes if p.state == "exited"]
        if exited:   # a kubelet restarts a container by itself; the local lab does it on `up`
            notes.append(f"{', '.join(exited)} exited: `invoke up` restarts {'it' if len(exited) == 1 else 'them'} "
                         "(a cluster's kubelet would restart a pod by itself)")
        objects = self._objects()   # a Service port that reaches none of its pods: why requests get 503
        pods = desired_pods(objects, load_runners(), self.processes.desired())
        notes += [text for ref, text in target_port_notes(objects, pods) if ref.kind == "Service"]
        try:
            routes = self._admin().live_routes()
        except OSError as e:
            notes.append(f"could not read the gateway's routes: {e}")
        return LabStatus(provider=self.name, up=True, gateway_url=self.gateway_url(),
                         processes=processes, routes=routes, notes=notes)

    def _interrupted(self) -> bool:
        """A pending record whose command no longer runs (a damaged one counts as interrupted)."""
        if not self.pending_file.exists():
            return False
        try:
            return not pid_alive((read_json(self.pending_file, default={}) or {}).get("pid"))
        except LabError:
            return True

    def _require_up(self) -> None:
        if not self.processes.supervisor_alive():
            raise NotUp("the local lab is not up")


def _with_namespace(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    if obj["kind"] != "Namespace":
        obj["metadata"].setdefault("namespace", "default")
    obj.pop("status", None)
    return obj


def _crash_point(name: str) -> None:
    """Tests only: CANARY_LAB_TEST_KILL_AT=<name> kills this process with SIGKILL here, as a
    learner's `kill -9` could; inert unless that variable names this point."""
    if os.environ.get("CANARY_LAB_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _restore(pusher, old_clusters: list[dict], new_clusters: list[dict], old_routes: dict) -> None:
    """Put the old config back after a push half-happened (best effort: the gateway may be gone)."""
    merged = {c["name"]: c for c in new_clusters} | {c["name"]: c for c in old_clusters}
    _quietly(lambda: pusher.push_clusters(list(merged.values())))
    _quietly(lambda: pusher.push_routes(old_routes))
    _quietly(lambda: pusher.push_clusters(old_clusters))


def _quietly(action) -> None:
    try:
        action()
    except (LabError, OSError):
        pass


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
