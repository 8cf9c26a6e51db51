"""The local lab's supervisor: the one long-lived process that owns the others.

Envoy is sent SIGTERM when the process that started it exits, so `invoke up`
cannot own the gateway. This small process does: it starts the processes named
in desired.json, reaps them, reports them in status.json, and stops them all
on SIGTERM. It never restarts a process by itself — `status` shows what died,
and `up` (SIGHUP after rewriting desired.json) starts what is missing.

Nothing one process does may end it: a child that cannot start (a bad
environment, a full disk, a taken port) is reported as exited with its reason,
and the others keep serving.

Run as: python -m lab.backends.local.supervisor RUN_DIR
"""

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.backends.local.pids import POD_MARKER, RUN_DIR_MARKER, create_time, kill_all, lab_processes
from lab.errors import LabError
from lab.files import open_private_log, write_json
from lab.polling import poll
from lab.ports import port_in_use

STOP_TIMEOUT = 5.0
POLL_SECONDS = 0.05
PORT_FREE_WAIT = 2.0   # a pod's old workers, just killed, may hold its port for a moment
PR_SET_PDEATHSIG = 1
# What a child inherits from the supervisor: enough to run a program, nothing that changes how it
# starts (PYTHON*, LD_*, ...). The rest comes from the manifest and apps/*/local.yaml.
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the supervisor itself is killed, so nothing is orphaned."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: `down` still finds children by their marker


def log_name(name: str) -> str:
    return name.replace("/", "_") + ".log"


def child_env(run_dir: Path, name: str, own: dict) -> dict[str, str]:
    """A clean environment: a home and temp folder inside the run folder (gunicorn's control
    socket lands in $HOME), the markers that make the process findable, and the spec's own."""
    home = run_dir / "home" / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    base = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    return {**base, "HOME": str(home), "TMPDIR": str(tmp), **own,
            RUN_DIR_MARKER: str(run_dir), POD_MARKER: name}


class Supervisor:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, subprocess.Popen] = {}
        self.exited: dict[str, int] = {}
        self.reasons: dict[str, str] = {}   # why a process is not running, when the supervisor knows
        self.created: dict[str, float | None] = {}
        self.restarts: dict[str, int] = {}   # starts after the first (on `up`), as a kubelet's restartCount
        self.generation = 0
        self.reload = True
        self.stopping = False
        self.status_unsaved = False

    def run(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload", True))
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the learner's terminal is not for us
        while not self.stopping:
            if self.reload:
                self.reload = False
                self.reconcile()
            if self.reap() or self.status_unsaved:
                self.write_status()
            time.sleep(POLL_SECONDS)
        self.stop(list(self.children))
        self.write_status()

    def reconcile(self) -> None:
        try:
            desired = json.loads((self.run_dir / "desired.json").read_text())
            wanted = desired["processes"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            self._note(f"desired.json unreadable, nothing changed: {e}")
            return
        self.reap()   # a child that died a moment ago is restarted now, not reported running
        self.stop([name for name in self.children if name not in wanted])
        for name in [n for n in self.exited if n not in wanted]:
            del self.exited[name]
            self.reasons.pop(name, None)
            self.restarts.pop(name, None)
        for name, spec in wanted.items():
            if name not in self.children:
                self.start(name, spec)
        self.generation = desired.get("generation", self.generation)
        self.write_status()

    def start(self, name: str, spec: dict) -> None:
        try:
            self._start(name, spec)
        except Exception as e:  # noqa: BLE001 - one process may never take the others down
            self._failed(name, f"could not start: {type(e).__name__}: {e}")

    def _start(self, name: str, spec: dict) -> None:
        port = spec.get("port")
        if port and port_in_use(port) and not self._free_port(name, port):
            # Started anyway, it would fail to bind while whatever holds the port
            # answered its readiness check: it would look ready and serve nothing.
            self._failed(name, f"port {port} on 127.0.0.1 is already in use by another process")
            return
        env = child_env(self.run_dir, name, {str(k): str(v) for k, v in (spec.get("env") or {}).items()})
        with open_private_log(self.logs / log_name(name)) as log:
            child = subprocess.Popen(
                spec["argv"], env=env, cwd=spec.get("cwd") or None,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,   # its own process group: its workers end with it
                preexec_fn=_die_with_parent)
        self.children[name] = child
        if name in self.exited:
            self.restarts[name] = self.restarts.get(name, 0) + 1
        self.created[name] = create_time(child.pid)
        self.exited.pop(name, None)
        self.reasons.pop(name, None)

    def _free_port(self, name: str, port: int) -> bool:
        """The port is held by this pod's own leftovers (its master was killed, its workers
        linger): end them and wait for the port. Anybody else's process is left alone."""
        leftovers = [p for p in lab_processes(self.run_dir, pod=name)
                     if p.pid not in {c.pid for c in self.children.values()}]
        kill_all(leftovers, timeout=1.0)
        return bool(poll(lambda: not port_in_use(port), PORT_FREE_WAIT))

    def _failed(self, name: str, reason: str) -> None:
        self.exited[name] = -1
        self.reasons[name] = reason
        try:
            with open_private_log(self.logs / log_name(name)) as log:
                log.write(f"canary-lab: {reason}\n".encode(errors="replace"))
        except OSError:
            pass  # a full disk: the reason still reaches status.json (or memory until it can)

    def _note(self, text: str) -> None:
        try:
            sys.stderr.write(f"canary-lab supervisor: {text}\n")
            sys.stderr.flush()
        except OSError:
            pass

    def reap(self) -> bool:
        changed = False
        for name, child in list(self.children.items()):
            code = child.poll()
            if code is not None:
                _end_group(child.pid, signal.SIGKILL)   # workers orphaned by a killed master hold its port
                self.exited[name] = code
                del self.children[name]
                changed = True
        return changed

    def stop(self, names: list[str]) -> None:
        """TERM them all at once (with their process groups), then KILL what is left after the timeout."""
        victims = [(n, self.children.pop(n)) for n in names if n in self.children]
        for _, child in victims:
            child.terminate()
            _end_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for _, child in victims:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            _end_group(child.pid, signal.SIGKILL)

    def write_status(self) -> None:
        processes = {name: {"pid": c.pid, "state": "running", "argv0": _argv0(c), "created": self.created.get(name),
                            "restarts": self.restarts.get(name, 0)}
                     for name, c in self.children.items()}
        processes.update({name: {"pid": None, "state": "exited", "returncode": code,
                                 "restarts": self.restarts.get(name, 0),
                                 **({"reason": self.reasons[name]} if name in self.reasons else {})}
                          for name, code in self.exited.items()})
        status = {"generation": self.generation, "supervisor": os.getpid(),
                  "stopped": self.stopping, "processes": processes}
        try:
            write_json(self.run_dir / "status.json", status)
            self.status_unsaved = False
        except (OSError, LabError) as e:   # a full disk: try again on the next tick, keep supervising
            if not self.status_unsaved:
                self._note(f"could not write status.json: {e}")
            self.status_unsaved = True


def _argv0(child: subprocess.Popen) -> str:
    """The program a child runs (every child starts from an argv list)."""
    args = child.args
    return str(args[0] if isinstance(args, list | tuple) else args)


def _end_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":
    Supervisor(Path(sys.argv[1])).run()
