"""Running the real `invoke` CLI against a lab root of the test's own.

Every lab a test starts is stopped by the test (invoke down, then by pid if
anything is left), so no Envoy or app process outlives the test session.
"""

import contextlib
import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lab.backends.local.backend import LocalBackend
from lab.backends.local.pids import lab_processes
from lab.backends.local.processes import Processes, runs_program, runs_supervisor
from lab.config import PROJECT_DIR, Paths, gateway_tls_port
from lab.ports import port_in_use

CLI_TIMEOUT = 120


@dataclass
class Lab:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        return {**os.environ, "CANARY_LAB_ROOT": str(self.root), "CANARY_LAB_PORT": str(self.port),
                "COLUMNS": "120", "TERM": "dumb"}

    def invoke(self, *args: str, input: str | None = None, check: bool = True,
               env_extra: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_DIR,
                                env={**self.env(), **(env_extra or {})},
                                input=input, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        if check and result.returncode != 0:
            raise AssertionError(f"invoke {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    @property
    def paths(self) -> Paths:
        return Paths(self.root)

    def endpoint(self, host: str, scheme: str = "http") -> str:
        """Where the lab sends requests for `host`: a Gateway API Gateway's own port, else the ingress gateway's."""
        return LocalBackend(self.paths, self.port).gateway_endpoint(scheme, host)[0]

    @property
    def processes(self) -> Processes:
        """What the lab's supervisor records (its pid, what it runs), read as the lab reads it."""
        return Processes(self.paths.run_dir)

    def supervisor_pid(self) -> int | None:
        return self.processes.supervisor_pid()

    def children(self) -> list[tuple[int, str, float | None]]:
        """(pid, program, create time) of each process the supervisor reports running."""
        return [(p["pid"], p.get("argv0", ""), p.get("created")) for p in self.processes.status().values()
                if p.get("pid")]

    def might_be_up(self) -> bool:
        return self.paths.state_file.exists() or self.paths.run_dir.exists() or bool(lab_processes(self.paths.run_dir))

    def child_pids(self) -> list[int]:
        return [pid for pid, *_ in self.children()]

    def cleanup(self) -> None:
        """Down, and if that failed, end what is left by pid: only pids this lab recorded that
        still run what the lab started there (a pid may have been reused since). A lab already down
        (no state, no run folder, no process with its marker) costs nothing: no `invoke down`."""
        if self in _STARTED:
            _STARTED.remove(self)
        if not self.might_be_up():
            return
        supervisor, children = self.supervisor_pid(), self.children()
        subprocess.run([sys.executable, "-m", "invoke", "down"], cwd=PROJECT_DIR, env=self.env(),
                       capture_output=True, timeout=CLI_TIMEOUT)
        leftovers = [pid for pid, program, created in children if runs_program(pid, program, created)]
        if supervisor and runs_supervisor(supervisor, self.paths.run_dir):
            leftovers.append(supervisor)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)


# Below Linux's ephemeral range (32768+): the gateway's HTTPS port is its HTTP port + 363, and
# in that range an app's or Envoy's client socket could hold it by the time the lab starts.
GATEWAY_PORTS = range(20000, 32000)


def gateway_port() -> int:
    """A gateway port whose HTTPS port beside it is free too, and the Gateway API track's ports after
    each (the first Gateway's: lab/backends/local/gateway_addresses.py)."""
    for _ in range(100):
        port = random.choice(GATEWAY_PORTS)
        if not any(port_in_use(p) for p in (port, port + 1, gateway_tls_port(port), gateway_tls_port(port) + 1)):
            return port
    raise RuntimeError("no free pair of gateway ports between 20000 and 32000")


_STARTED: list[Lab] = []   # every lab a test made: the session's last fixture takes them all down


def new_lab(root: Path) -> Lab:
    lab = Lab(root=root, port=gateway_port())
    _STARTED.append(lab)
    return lab


@contextlib.contextmanager
def running_lab(root: Path, *setup: tuple[str, ...] | tuple[str, str, str]):
    """A lab that is up, with `setup` commands applied (("apply", "-", text) reads text from stdin);
    taken down afterwards, also when a setup command fails."""
    lab = new_lab(root)
    try:
        lab.invoke("up", "--provider", "local")
        for command in setup:
            args, text = (command[:2], command[2]) if command[:2] == ("apply", "-") else (command, None)
            lab.invoke(*args, input=text)
        yield lab
    finally:
        lab.cleanup()


def cleanup_all() -> None:
    while _STARTED:
        _STARTED[-1].cleanup()     # removes itself from _STARTED


def ctrl_c(process: subprocess.Popen, timeout: float = 20) -> tuple[str, str]:
    """Ctrl-C for a command the test started, and its output; one that does not stop in time is
    killed (no test leaves it running) and fails the test."""
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"{process.args} did not stop within {timeout:g}s of Ctrl-C") from None
