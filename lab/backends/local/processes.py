"""Talking to the supervisor: start it, tell it what should run, wait, stop it.

The conversation is two files and two signals: desired.json + SIGHUP to
change what runs, status.json to read what does, SIGTERM to stop it all.
"""

import os
import shutil
import signal
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lab import loopback
from lab.backends.local import pids
from lab.backends.local.pids import pid_alive, runs_program  # noqa: F401 - runs_program: for the tests
from lab.backends.local.supervisor import log_name
from lab.errors import LabError
from lab.files import open_private_log, read_model, write_atomic, write_json
from lab.polling import poll

SUPERVISOR_STOP_TIMEOUT = 10.0
SUPERVISOR_MODULE = "lab.backends.local.supervisor"
DESIRED_FIX = "delete it, then `invoke up` starts the lab's processes again from the stored objects"
STATUS_FIX = "delete it, then `invoke up`: the supervisor writes it again"


class ProcessSpec(BaseModel):
    """One process the supervisor should run (Pod.process_spec, or the gateway's)."""
    model_config = ConfigDict(extra="allow")
    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str = ""
    port: int | None = Field(default=None, ge=1, le=65535)
    ready_path: str = "/"


class Desired(BaseModel):
    """desired.json: what should run, and the generation the supervisor acknowledges in status.json."""
    generation: int = Field(ge=0)
    processes: dict[str, ProcessSpec]


class ProcessState(BaseModel):
    model_config = ConfigDict(extra="allow")
    state: Literal["running", "exited"]
    pid: int | None = None
    returncode: int | None = None
    reason: str = ""
    argv0: str = ""
    created: float | None = None


class Status(BaseModel):
    """status.json, as the supervisor writes it."""
    model_config = ConfigDict(extra="allow")
    generation: int = Field(ge=0)
    processes: dict[str, ProcessState]


class Processes:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.desired_file = run_dir / "desired.json"
        self.status_file = run_dir / "status.json"
        self.pid_file = run_dir / "supervisor.pid"
        self._supervisor: subprocess.Popen | None = None

    # -- supervisor lifecycle -------------------------------------------------

    def supervisor_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def supervisor_alive(self) -> bool:
        """Our supervisor runs: the recorded pid is alive and still runs the supervisor of this
        run folder (after a reboot, a stale pid file may name somebody else's process)."""
        pid = self.supervisor_pid()
        return pid_alive(pid) and runs_supervisor(pid, self.run_dir)

    def start_supervisor(self, processes: dict[str, dict]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.desired_file, {"generation": 1, "processes": processes})
        log = open_private_log(self.run_dir / "supervisor.log")
        with log:
            # A new session: Ctrl-C in the learner's terminal must not reach the lab.
            child = subprocess.Popen([sys.executable, "-m", SUPERVISOR_MODULE, str(self.run_dir)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=Path(__file__).resolve().parents[3],
                                     env={**os.environ, pids.RUN_DIR_MARKER: str(self.run_dir),
                                          pids.POD_MARKER: pids.SUPERVISOR})
        write_atomic(self.pid_file, str(child.pid))
        # Kept, not dropped: a Popen collected while its process runs goes through __del__, and
        # a Ctrl-C landing there is printed and swallowed, so a cancelled `up` carried on.
        self._supervisor = child
        self._wait_generation(1)

    def stop_supervisor(self) -> None:
        """SIGTERM the supervisor (it stops its children), then clean up anything left by pid."""
        pid = self.supervisor_pid()
        if pid is not None and self.supervisor_alive():
            os.kill(pid, signal.SIGTERM)
            if not poll(lambda: not pid_alive(pid), SUPERVISOR_STOP_TIMEOUT):
                os.kill(pid, signal.SIGKILL)
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """What the supervisor could not stop (it was killed, or the run folder and its pid files
        were deleted): every process that carries this run folder's marker."""
        pids.kill_all(self.leftovers())

    def leftovers(self) -> list:
        return pids.lab_processes(self.run_dir)

    # -- what runs -----------------------------------------------------------

    def _desired(self) -> Desired | None:
        return read_model(self.desired_file, Desired, DESIRED_FIX)

    def desired(self) -> dict[str, dict]:
        """What should run, by name (empty before `up` wrote it)."""
        desired = self._desired()
        return {name: spec.model_dump(exclude_unset=True) for name, spec in desired.processes.items()} \
            if desired else {}

    def status(self) -> dict[str, dict]:
        """What runs, as the supervisor last wrote it (empty before its first write)."""
        status = read_model(self.status_file, Status, STATUS_FIX)
        return {name: info.model_dump(exclude_unset=True) for name, info in status.processes.items()} \
            if status else {}

    def set_desired(self, processes: dict[str, dict]) -> None:
        """Replace what should run (restarting what exited) and wait until the supervisor has acted."""
        desired = self._desired()
        generation = (desired.generation if desired else 0) + 1
        write_json(self.desired_file, {"generation": generation, "processes": processes})
        pid = self.supervisor_pid()
        if pid is None or not self.supervisor_alive():
            raise LabError("the local lab's supervisor is not running", "run `invoke up` to restart the lab")
        os.kill(pid, signal.SIGHUP)
        self._wait_generation(generation)

    def _wait_generation(self, generation: int, timeout: float = 15.0) -> None:
        def answered() -> bool:
            status = read_model(self.status_file, Status, STATUS_FIX)
            if status is not None and status.generation >= generation:
                return True
            if not self._supervisor_running():
                raise self._no_answer()
            return False

        if not poll(answered, timeout, interval=0.02):
            raise self._no_answer()

    def _supervisor_running(self) -> bool:
        # The one this command started is known by its Popen (no reading of its command line,
        # which reads empty for a moment after the start).
        return self._supervisor.poll() is None if self._supervisor else self.supervisor_alive()

    def _no_answer(self) -> LabError:
        return LabError("the local lab's supervisor did not answer",
                        f"see {self.run_dir / 'supervisor.log'}; `invoke down` then `invoke up` resets the lab")

    def wait_ready(self, names: dict[str, dict], timeout: float = 30.0) -> None:
        """Wait until each named process answers HTTP on its port (or fail with its log's last line)."""
        pending = dict(names)

        def all_ready() -> bool:
            if not self._supervisor_running():   # killed meanwhile: nothing will start, say so now
                raise LabError(f"the local lab's supervisor ended while {', '.join(pending)} started",
                               "run `invoke up` to restart the lab, then the command again")
            status = self.status()
            for name, spec in list(pending.items()):
                if status.get(name, {}).get("state") == "exited":
                    raise LabError(f"{name} exited while starting: {self.why_exited(name, status[name])}",
                                   f"see {self.log_file(name)}")
                if _answers(spec["port"], spec.get("ready_path", "/")):
                    del pending[name]
            return not pending

        if not poll(all_ready, timeout):
            raise LabError(f"{', '.join(pending)} did not become ready in {timeout:.0f}s",
                           f"see the logs in {self.run_dir / 'logs'}")

    def log_file(self, name: str) -> Path:
        return self.run_dir / "logs" / log_name(name)

    def keep_logs(self, folder: Path) -> Path:
        """Copy the logs (the supervisor's, each process's) to `folder`, laid out as in the run
        folder, replacing what an earlier copy left there: for a message about a run folder that
        is about to be removed."""
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        if (self.run_dir / "logs").is_dir():
            shutil.copytree(self.run_dir / "logs", folder / "logs")
        if (self.run_dir / "supervisor.log").is_file():
            shutil.copy2(self.run_dir / "supervisor.log", folder / "supervisor.log")
        return folder

    def why_exited(self, name: str, info: dict) -> str:
        """The supervisor's reason when it refused to start the process; the signal that ended it (a
        killed Envoy's last log line is some old warning, not why it ended); else its log's last line."""
        code = info.get("returncode")
        if info.get("reason"):
            return str(info["reason"])
        if isinstance(code, int) and code < 0 and -code in signal.Signals._value2member_map_:
            return f"ended by {signal.Signals(-code).name}"
        return self.last_log_line(name)

    def last_log_line(self, name: str) -> str:
        try:
            lines = [ln for ln in self.log_file(name).read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no output"
        return lines[-1][:200] if lines else "no output"


def _answers(port: int, path: str) -> bool:
    try:
        with loopback.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:   # never a proxy
            return response.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


def runs_supervisor(pid: int, run_dir: Path) -> bool:
    return pids.runs_supervisor(pid, run_dir, SUPERVISOR_MODULE)
