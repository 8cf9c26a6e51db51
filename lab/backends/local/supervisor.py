"""The local lab's supervisor: the one long-lived process that owns the others.

Envoy is sent SIGTERM when the process that started it exits, so `invoke up`
cannot own the gateway. This small process does: it starts the processes named
in desired.json, reaps them, reports them in status.json, and stops them all
on SIGTERM. It never restarts a process by itself — `status` shows what died,
and `up` (SIGHUP after rewriting desired.json) starts what is missing.

Run as: python -m lab.backends.local.supervisor RUN_DIR
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.files import write_json
from lab.ports import port_in_use

STOP_TIMEOUT = 5.0
POLL_SECONDS = 0.05
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the supervisor itself is killed, so nothing is orphaned."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: `down` still stops children by pid


def log_name(name: str) -> str:
    return name.replace("/", "_") + ".log"


class Supervisor:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, subprocess.Popen] = {}
        self.exited: dict[str, int] = {}
        self.generation = 0
        self.reload = True
        self.stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload", True))
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the learner's terminal is not for us
        while not self.stopping:
            if self.reload:
                self.reload = False
                self.reconcile()
            if self.reap():
                self.write_status()
            time.sleep(POLL_SECONDS)
        self.stop(list(self.children))
        self.write_status()

    def reconcile(self) -> None:
        desired = json.loads((self.run_dir / "desired.json").read_text())
        wanted = desired["processes"]
        self.stop([name for name in self.children if name not in wanted])
        for name in [n for n in self.exited if n not in wanted]:
            del self.exited[name]
        for name, spec in wanted.items():
            if name not in self.children:
                self.start(name, spec)
        self.generation = desired["generation"]
        self.write_status()

    def start(self, name: str, spec: dict) -> None:
        log = open(self.logs / log_name(name), "ab")
        try:
            if spec.get("port") and port_in_use(spec["port"]):
                # Started anyway, it would fail to bind while whatever holds the port
                # answered its readiness check: it would look ready and serve nothing.
                log.write(f"canary-lab: port {spec['port']} on 127.0.0.1 is already in use "
                          f"by another process\n".encode())
                self.exited[name] = -1
                return
            self.children[name] = subprocess.Popen(
                spec["argv"], env={**os.environ, **spec.get("env", {})}, cwd=spec.get("cwd") or None,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
            self.exited.pop(name, None)
        except OSError as e:
            log.write(f"canary-lab: could not start {spec['argv'][0]}: {e}\n".encode())
            self.exited[name] = -1
        finally:
            log.close()

    def reap(self) -> bool:
        changed = False
        for name, child in list(self.children.items()):
            code = child.poll()
            if code is not None:
                self.exited[name] = code
                del self.children[name]
                changed = True
        return changed

    def stop(self, names: list[str]) -> None:
        """TERM them all at once, then KILL what is left after the timeout."""
        victims = [(n, self.children.pop(n)) for n in names if n in self.children]
        for _, child in victims:
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for _, child in victims:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def write_status(self) -> None:
        processes = {name: {"pid": c.pid, "state": "running", "argv0": c.args[0]}
                     for name, c in self.children.items()}
        processes.update({name: {"pid": None, "state": "exited", "returncode": code}
                          for name, code in self.exited.items()})
        status = {"generation": self.generation, "supervisor": os.getpid(),
                  "stopped": self.stopping, "processes": processes}
        write_json(self.run_dir / "status.json", status)


if __name__ == "__main__":
    Supervisor(Path(sys.argv[1])).run()
