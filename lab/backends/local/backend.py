"""The local backend: the backend verbs over Envoy + app processes.

apply = validate → pods → translate → start new pods → push clusters and
routes → save → stop old pods. Each stage up to the save can fail; until the
save, the lab keeps serving what it served before and nothing is saved. The old
pods stop only once the new objects are saved.
"""

import copy
import os
import shutil
import signal
import time
from pathlib import Path

from lab.backends.base import NOTE, Backend, LabStatus, LiveRoute, ProcessStatus
from lab.backends.local import envoy
from lab.backends.local.endpoints import ready_endpoints, target_port_notes
from lab.backends.local.gateway_addresses import GatewayPorts, gateway_urls, listener_for, track_port
from lab.backends.local.gateway_api import admit, is_istio_gateway
from lab.backends.local.gateway_status import apply_note, with_status
from lab.backends.local.logs import matching_processes, read_lines
from lab.backends.local.pod_objects import pod_objects
from lab.backends.local.pods import desired_pods
from lab.backends.local.processes import DESIRED_FIX, Processes, pid_alive
from lab.backends.local.runners import load_runners
from lab.backends.local.schema import check_object
from lab.backends.local.store import read_objects, read_pending, save_objects
from lab.backends.local.translate import EnvoyConfig, translate
from lab.config import Paths, gateway_tls_port
from lab.envoy_admin import EnvoyAdmin
from lab.errors import LabError, ManifestError, NotUp
from lab.files import DamagedFile, read_json, write_json
from lab.interrupts import ctrl_c_deferred
from lab.manifests import Ref, check_limits, checked_object, ref_of
from lab.patches import apply_patch
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
        self.gateway_ports = GatewayPorts(self.run_dir, gateway_port)   # each Gateway API Gateway's own ports

    # -- lifecycle ----------------------------------------------------------------

    def up(self) -> bool:
        with lab_lock(self.paths):
            return self._up()

    def _up(self) -> bool:
        if self.processes.supervisor_alive() and self.processes.desired_file.exists():
            return self._repair()
        # Without desired.json (deleted by hand) the supervisor cannot be told what to run: it is
        # stopped below, and the stored objects are served afresh.
        # The lab's processes still run but its run folder (pid files and all) is gone: nothing can
        # talk to them any more, so end them and start afresh rather than fail on our own ports.
        self.processes.stop_supervisor()
        for what, port in (("HTTP", self.port), ("HTTPS", self.tls_port)):
            if port_in_use(port):
                raise LabError(f"port {port} on 127.0.0.1 is already in use, so the gateway cannot serve {what} "
                               "there", f"stop what uses it, or run `invoke up --port {self.port + 1}` "
                                        "(HTTPS moves with it)")
        stored = self._objects()   # a damaged store is named before anything starts, and kept
        admin_port = free_port()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            envoy.write_initial(self.xds_dir)
            from lab.certs import make_gateway_tls  # here, not at the top: cryptography takes ~40 ms
            tls = make_gateway_tls(self.paths.tls_dir)  # to import, and only `up` needs it
            bootstrap_file = self.run_dir / BOOTSTRAP_FILE
            write_json(bootstrap_file, envoy.bootstrap(self.xds_dir, self.port, admin_port, self.tls_port, tls))
            gateway = {"argv": envoy.gateway_argv(bootstrap_file), "port": admin_port, "ready_path": "/ready"}
            save_state(self.paths, LabState("local", self.port, {"admin_port": admin_port}))
            self.processes.start_supervisor({GATEWAY: gateway})
            self.processes.wait_ready({GATEWAY: gateway}, timeout=20)
        except LabError as error:   # its message points into the run folder, which goes: keep the logs
            kept = self.processes.keep_logs(self.paths.logs_dir / "last-failed-up")
            self._down()
            raise LabError(error.message.replace(str(self.run_dir), str(kept)),
                           error.fix.replace(str(self.run_dir), str(kept))) from None
        except BaseException:
            self._down()  # half-started (an error or Ctrl-C): leave nothing behind
            raise
        self.pending_file.unlink(missing_ok=True)   # a fresh Envoy serves nothing yet: nothing is ahead of the store
        if stored:   # the supervisor had died with the lab up: serve again what is stored (kept if that fails)
            self._converge(stored, save=lambda: None)
        return True

    def _repair(self) -> bool:
        """`up` on a running lab: restart what exited, change nothing else. Pods no stored object
        owns (left by a command killed -9 after starting them, before it saved the objects they
        serve) are stopped, and the gateway gets the stored objects' config again, as it does
        whenever what Envoy serves differs from them (a restarted Envoy loads its files from disk)."""
        objects, desired, status = self._objects(), self.processes.desired(), self.processes.status()
        # "running" with a pid that has died is missing too: the supervisor has not reaped it yet.
        missing = {n: s for n, s in desired.items() if status.get(n, {}).get("state") != "running"
                   or not pid_alive(status[n].get("pid"))}
        if missing:
            self.processes.set_desired(desired)
            self.processes.wait_ready(missing)
        pods = desired_pods(objects, load_runners(), desired)
        orphans = set(desired) - set(pods) - {GATEWAY}
        interrupted = self.pending_file.exists()
        if orphans or interrupted or self._serves_other_than(objects, pods):
            self._converge(objects, save=lambda: None)
            return True
        return bool(missing)

    def serves_what_is_stored(self) -> bool:
        """Whether the gateway serves exactly the clusters and routes the stored objects make."""
        objects = self._objects()
        return not self._serves_other_than(objects, desired_pods(objects, load_runners(), self.processes.desired()))

    def _serves_other_than_safe(self, objects: dict[Ref, dict], pods: dict) -> bool:
        """As _serves_other_than, for `status`: a gateway that does not answer is said elsewhere."""
        try:
            return self._serves_other_than(objects, pods)
        except (LabError, OSError):
            return False

    def _serves_other_than(self, objects: dict[Ref, dict], pods: dict) -> bool:
        """Whether the gateway serves other clusters or routes than the stored objects make."""
        config = translate(objects, pods)
        remembered = self.gateway_ports.remembered()
        if any(entry.key not in remembered for entry in config.gateway_listeners):
            return True   # a Gateway API listener with no port yet cannot be served
        listeners = [envoy.ServedListener(entry.key, remembered[entry.key], entry.route_config)
                     for entry in config.gateway_listeners]
        tls = envoy.tls_files(read_json(self.run_dir / BOOTSTRAP_FILE))
        return envoy.XdsPusher(self.xds_dir, self._admin()).differs(config.clusters, config.route_configs,
                                                                    listeners, tls)

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
        return read_objects(self.objects_file)

    def get(self, ref: Ref) -> dict | None:
        self._require_up()
        if ref.kind == "Pod":   # pods are the supervisor's processes, not stored objects
            return next((p for p in self._pods() if ref == ref_of(p)), None)
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
            check_limits([obj], "the objects to apply")   # helm, exercise steps and patches too, not only files
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
        config = self._converge(new, save=lambda: save_objects(self.objects_file, new))
        applied = {ref_of(_with_namespace(obj)) for obj in objects}
        return ([line + apply_note(ref, new) for ref, line in zip(refs, lines, strict=True)]
                + [f"Warning: {text}" for ref, text in config.warnings if ref in applied]   # as kubectl prints them
                + [f"{NOTE}{text}" for ref, text in config.notes if ref in applied])

    def patch(self, ref: Ref, operations: list[dict]) -> str:
        with lab_lock(self.paths):   # read and apply as one step: no other apply lands in between
            return self._patch(ref, operations)

    def _patch(self, ref: Ref, operations: list[dict]) -> str:
        obj = self.get(ref)
        if obj is None:
            raise LabError(f"{ref} is not applied in the lab", "check the kind, namespace and name (`invoke status`)")
        patched = apply_patch(obj, operations, str(ref))
        if not isinstance(patched.get("metadata"), dict) or not patched["metadata"].get("name"):
            raise ManifestError(f"the patch leaves {ref} without metadata.name", "a patch may not remove the name")
        checked_object(patched, f"{ref} after the patch")   # apiVersion and kind still there, as text
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
        if any(ref.kind == "Pod" for ref in refs):
            raise LabError("the local lab does not delete single pods: its pods are its Deployments' processes "
                           "(a cluster's ReplicaSet would start a new pod in the deleted one's place)",
                           "change the Deployment (replicas, image, env) and apply it; `invoke up` restarts an "
                           "exited pod")
        current = self._objects()
        namespaces = {ref.name for ref in refs if ref.kind == "Namespace"}
        left = {ref: obj for ref, obj in current.items() if ref not in refs and ref.namespace not in namespaces}
        if left == current:
            return
        try:
            self._converge(left, save=lambda: save_objects(self.objects_file, left))
        except ManifestError as e:
            raise LabError(f"not deleted: what is left would not be served ({e.message})",
                           "delete or change that object too (a cluster would delete it and serve what is "
                           "left as it can: 503 for a route to a missing Service, 404 for a host no Gateway "
                           "serves)") from None

    def list_objects(self, kind: str, group: str = "") -> list[dict]:
        self._require_up()
        if (kind, group) == ("Pod", ""):
            return self._pods()
        return [copy.deepcopy(obj) for ref, obj in sorted(self._objects().items())
                if (ref.kind, ref.group) == (kind, group)]

    def _pods(self) -> list[dict]:
        """The Deployments' replicas the supervisor runs, as Pod objects (lab/backends/local/pod_objects.py)."""
        objects, desired = self._objects(), self.processes.desired()
        pods = {n: p for n, p in desired_pods(objects, load_runners(), desired).items() if n in desired}
        return pod_objects(pods, objects, self.processes.status())

    def logs(self, name: str, tail: int = 0, follow: bool = False):
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
        old_listeners = envoy.read_gateway_listeners(self.xds_dir)
        ports = self.gateway_ports.assign(config.gateway_listeners, objects, taken={p.port for p in pods.values()})
        listeners = [envoy.ServedListener(entry.key, ports[entry.key], entry.route_config)
                     for entry in config.gateway_listeners]
        tls = envoy.tls_files(read_json(self.run_dir / BOOTSTRAP_FILE))
        try:
            if starting:
                self.processes.set_desired({**old_processes, **new_processes})
                _test_point("pods-requested", self.run_dir)
                self.processes.wait_ready(starting)
            _test_point("before-push", self.run_dir)
            with ctrl_c_deferred():   # from the first push to the save, one step
                write_json(self.pending_file, {"pid": os.getpid(), "since": time.time()})
                try:
                    # Clusters first (old and new), then routes, then drop the old clusters:
                    # a route never names a cluster Envoy does not have yet.
                    merged = {c["name"]: c for c in old_clusters} | {c["name"]: c for c in config.clusters}
                    pusher.push_clusters(list(merged.values()))
                    pusher.push_routes(config.route_configs)
                    pusher.push_gateway_listeners(listeners, tls)
                    _test_point("after-routes", self.run_dir)
                    if len(merged) > len(config.clusters):
                        time.sleep(DRAIN_SECONDS)   # requests already sent to a cluster about to go finish first
                    pusher.push_clusters(config.clusters)
                    save()
                    self.gateway_ports.save({entry.key: entry.local_port for entry in listeners})
                except BaseException:
                    _restore(pusher, old_clusters, config.clusters, old_routes, (old_listeners, tls))
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
        if GATEWAY not in self.processes.desired():
            raise DamagedFile(f"{self.processes.desired_file} does not name the gateway", DESIRED_FIX)
        info = self.processes.status().get(GATEWAY, {})
        if info.get("state") != "running":
            raise LabError(f"the gateway (Envoy) is not running ({self.processes.why_exited(GATEWAY, info)}); "
                           "nothing was applied", "run `invoke up` to restart it, then apply again")

    # -- reading --------------------------------------------------------------------

    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gateway_tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def entry_url(self, scheme: str, gateway_api: bool = False, host: str = "") -> str:
        """The Gateway API track: the port of the Gateway listener that takes `host`, else the track's
        own port (the lab's + 1, which the first Gateway gets, as a cluster's port-forward uses)."""
        if not gateway_api:
            return super().entry_url(scheme)
        if not host or not self.processes.supervisor_alive():
            return f"{scheme}://127.0.0.1:{track_port(self.port, scheme)}"
        key = listener_for(self._objects(), scheme, host)
        port = self.gateway_ports.remembered().get(key or "") or self.gateway_ports.promise(scheme, host)
        return f"{scheme}://127.0.0.1:{port}"

    def gateway_endpoint(self, scheme: str, host: str = "") -> tuple[str, str | None]:
        """A host a Gateway API Gateway takes goes to that Gateway's own port; the rest to the ingress gateway."""
        self._require_up()
        key = listener_for(self._objects(), scheme, host)
        port = self.gateway_ports.remembered().get(key) if key else None
        if port is None:
            return super().gateway_endpoint(scheme, host)
        return f"{scheme}://127.0.0.1:{port}", str(self.ca_bundle()) if scheme == "https" else None

    def gateway_addresses(self) -> list[tuple[Ref, str, int, str]]:
        """(Gateway, listener name, listener port, URL) for each Gateway API listener the lab serves."""
        self._require_up()
        objects, ports = self._objects(), self.gateway_ports.remembered()
        return [(ref, name, port, url) for ref, obj in sorted(objects.items()) if is_istio_gateway(ref, obj)
                for name, port, url in gateway_urls(ports, ref, objects)]

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
            detail = (f"pid {info['pid']}" if state == "running"
                      else f"exit code {info.get('returncode')}: {self.processes.why_exited(name, info)}"
                      if state == "exited" else "")
            processes.append(ProcessStatus(name=name, state=state, detail=detail))
        routes, notes = [], []
        if not self.processes.desired_file.exists():
            notes.append(f"{self.processes.desired_file} is missing, so the lab cannot change what runs: "
                         "`invoke up` starts its processes again from the stored objects")
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
        if GATEWAY not in exited and not self.pending_file.exists() and self._serves_other_than_safe(objects, pods):
            notes.append("the gateway serves other routes than the stored objects make (Envoy restarted with a "
                         "config it rejected?): `invoke up` pushes the stored objects' config again")
        try:
            routes = self._admin().live_routes()
        except OSError as e:
            notes.append(f"could not read the gateway's routes: {e}")
        return LabStatus(provider=self.name, up=True, gateway_url=self.gateway_url(),
                         processes=processes, routes=routes, notes=notes, gateway_addresses=self.gateway_addresses())

    def _interrupted(self) -> bool:
        """A pending record whose command no longer runs (a damaged one is named: DamagedFile)."""
        pending = read_pending(self.pending_file)
        return pending is not None and not pid_alive(pending.pid)

    def _require_up(self) -> None:
        if not self.processes.supervisor_alive():
            raise NotUp("the local lab is not up")


def _with_namespace(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    if obj["kind"] != "Namespace":
        obj["metadata"].setdefault("namespace", "default")
    obj.pop("status", None)
    return obj


PAUSE_LIMIT = 60.0   # a test that never releases a paused command does not hang the suite


def _test_point(name: str, run_dir: Path) -> None:
    """Tests only, inert unless a variable names this point: CANARY_LAB_TEST_KILL_AT kills this
    process with SIGKILL here (as a learner's `kill -9` could); CANARY_LAB_TEST_PAUSE_AT writes
    run_dir/paused-at-<name> and waits here until the test removes it, so a test's Ctrl-C or kill
    lands exactly at this point of the command."""
    if os.environ.get("CANARY_LAB_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("CANARY_LAB_TEST_PAUSE_AT") == name:
        marker = run_dir / f"paused-at-{name}"
        marker.write_text(str(os.getpid()))
        deadline = time.monotonic() + PAUSE_LIMIT
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)


def _restore(pusher, old_clusters: list[dict], new_clusters: list[dict], old_routes: dict,
             old_listeners: tuple[list[envoy.ServedListener], dict[str, Path]]) -> None:
    """Put the old config back after a push half-happened (best effort: the gateway may be gone)."""
    merged = {c["name"]: c for c in new_clusters} | {c["name"]: c for c in old_clusters}
    _quietly(lambda: pusher.push_clusters(list(merged.values())))
    _quietly(lambda: pusher.push_routes(old_routes))
    _quietly(lambda: pusher.push_gateway_listeners(*old_listeners))
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
