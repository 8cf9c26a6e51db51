"""kubectl port-forwards the lab starts, tracks by pid file, and stops on `down`."""

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

from lab.backends.cluster.runner import Runner
from lab.backends.local.processes import pid_alive
from lab.errors import LabError
from lab.polling import poll


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def answers_http(port: int, timeout: float = 2.0) -> bool:
    """Whether an HTTP request through the forward gets any HTTP answer. A wedged `kubectl
    port-forward` (it is, after the pod behind it restarts) still accepts connections, then
    resets them or says nothing: only a request tells."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET / HTTP/1.1\r\nHost: canary-lab-probe\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


class PortForward:
    def __init__(self, runner: Runner, run_dir: Path, kubeconfig: Path, name: str,
                 target: str, local_port: int, remote_port: int, namespace: str = "istio-system"):
        self.runner = runner
        self.pid_file = run_dir / f"port-forward-{name}.pid"
        self.argv_file = run_dir / f"port-forward-{name}.argv"   # what it was started as
        self.log = run_dir / f"port-forward-{name}.log"
        self.local_port = local_port
        self._process: subprocess.Popen | None = None
        # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_port-forward/
        self.argv = ["kubectl", "port-forward", target, f"{local_port}:{remote_port}", "--namespace", namespace,
                     "--address", "127.0.0.1", "--kubeconfig", str(kubeconfig)]

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        return pid_alive(self.pid())

    def _started_argv(self) -> list[str] | None:
        try:
            return json.loads(self.argv_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def ensure(self, timeout: float = 15.0, probe=None) -> bool:
        """Start it unless it runs to the same target and `probe(port)` says it works (a process
        alone can be wedged), and wait until it accepts connections; True when (re)started now.
        One local port, another target (the Gateway API track's gateway changed): restarted."""
        if self.running():
            if self._started_argv() == self.argv and (probe is None or probe(self.local_port)):
                return False
            self.stop()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        process = self.runner.start(self.argv, log_path=self.log)
        self.pid_file.write_text(str(process.pid))
        self.argv_file.write_text(json.dumps(self.argv))
        self._process = process   # kept: a running Popen's __del__ would swallow a Ctrl-C landing there
        def up_or_exited() -> str:
            if (probe or _accepts)(self.local_port):
                return "up"
            return "exited" if process.poll() is not None else ""

        if poll(up_or_exited, timeout, interval=0.1) != "up":
            self.stop()
            raise LabError(f"`kubectl port-forward` to {self.argv[2]} did not come up",
                           f"see {self.log}; is port {self.local_port} free?")
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            poll(lambda: not pid_alive(pid), timeout=5)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        self.argv_file.unlink(missing_ok=True)


def stop_every_forward(runner: Runner, run_dir: Path, kubeconfig: Path) -> None:
    """Every port-forward the lab started in this run folder (the deployed gateways' too)."""
    for pid_file in sorted(run_dir.glob("port-forward-*.pid")):
        name = pid_file.name.removeprefix("port-forward-").removesuffix(".pid")
        PortForward(runner, run_dir, kubeconfig, name, "", 0, 0).stop()
