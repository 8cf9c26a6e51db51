"""Which processes are the lab's, portably (psutil: Linux and macOS alike, no /proc).

A pid alone proves nothing: after a reboot or a long run it may belong to
somebody else. A process is the lab's when its environment carries the run
folder's marker: the supervisor gets it from `up`, and gives it to every
process it starts (Envoy, each pod; their workers inherit it). A command line
proves nothing: a learner's `tail -f .lab/run/logs/gateway.log` names the run
folder too, and is not the lab's to end. Light on purpose: the supervisor
imports it too.
"""

import os
import signal
from pathlib import Path
from typing import TypeGuard

import psutil

# Set in the supervisor and every process it starts, so the lab finds its own even
# when the run folder (and with it every pid file) is gone.
RUN_DIR_MARKER = "CANARY_LAB_RUN_DIR"
POD_MARKER = "CANARY_LAB_POD"
SUPERVISOR = "supervisor"   # the supervisor's own POD_MARKER


def pid_alive(pid: int | None) -> TypeGuard[int]:
    """The pid runs and has not exited (a zombie has: only its parent has not reaped it). True only
    for a pid, so a caller may signal it."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def argv_of(pid: int) -> list[str]:
    """The command line `pid` runs now ([] once it is gone or unreadable)."""
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return []


def create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def runs_program(pid: int, argv0: str, created: float | None = None) -> bool:
    """Guard against pid reuse: the pid still runs the program we started (and, when we
    recorded it, was created when ours was)."""
    if not argv0 or not pid_alive(pid) or argv_of(pid)[:1] != [argv0]:
        return False
    return created is None or _same_time(create_time(pid), created)


def runs_supervisor(pid: int, run_dir: Path, module: str) -> bool:
    argv = argv_of(pid)
    return module in argv and str(run_dir) in argv


def _same_time(now: float | None, recorded: float) -> bool:
    return now is not None and abs(now - recorded) < 1.0


def lab_processes(run_dir: Path, pod: str | None = None) -> list[psutil.Process]:
    """Every living process of the lab whose run folder is `run_dir` (only pod `pod`'s, if given)."""
    run = str(run_dir)
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if env.get(RUN_DIR_MARKER) == run and (pod is None or env.get(POD_MARKER) == pod):
            found.append(proc)
    return found


def kill_all(processes: list[psutil.Process], timeout: float = 5.0) -> None:
    """TERM them, then KILL what is left after `timeout`."""
    for proc in processes:
        _signal(proc, signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=timeout)


def _signal(proc: psutil.Process, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except (psutil.Error, OSError):
        pass
