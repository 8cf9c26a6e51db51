"""The supervisor restarts what `up` asks for: a pod that crashed a moment ago (not yet reaped) is
started again, not reported running; a pod whose own leftover workers hold its port gets the port
back, while a stranger's process on that port is left alone. The supervisor runs in this process
here, so each step happens exactly when the test says."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from lab.backends.local.pids import POD_MARKER, RUN_DIR_MARKER, pid_alive
from lab.backends.local.supervisor import Supervisor
from lab.ports import free_ports, port_in_use
from tests.test_local_faults import wait_until
from tests.test_supervisor import SERVE, answers, server


@pytest.fixture
def supervisor(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    supervisor = Supervisor(run_dir)
    yield supervisor
    supervisor.stop(list(supervisor.children))


def want(supervisor: Supervisor, processes: dict, generation: int) -> None:
    """What `up` does: write desired.json; the SIGHUP that follows makes the supervisor reconcile."""
    (supervisor.run_dir / "desired.json").write_text(json.dumps({"generation": generation, "processes": processes}))
    supervisor.reconcile()


def status(supervisor: Supervisor) -> dict:
    return json.loads((supervisor.run_dir / "status.json").read_text())["processes"]


def test_up_right_after_a_crash_restarts_the_pod_instead_of_reporting_it_running(supervisor):
    [port] = free_ports(1)
    want(supervisor, {"shop/web-0": server(port)}, 1)
    assert wait_until(lambda: answers(port))
    crashed = supervisor.children["shop/web-0"].pid
    os.kill(crashed, signal.SIGKILL)
    assert wait_until(lambda: psutil.Process(crashed).status() == psutil.STATUS_ZOMBIE)   # dead, not reaped yet
    want(supervisor, {"shop/web-0": server(port)}, 2)     # `up` at once: before the supervisor's next tick
    restarted = status(supervisor)["shop/web-0"]
    assert restarted["state"] == "running" and restarted["pid"] != crashed and pid_alive(restarted["pid"])
    assert wait_until(lambda: answers(port))


def leftover_worker(run_dir: Path, pod: str, port: int, marked: bool = True) -> subprocess.Popen:
    """A process holding `port` outside the pod's process group: a worker of that pod (it carries the
    pod's marker, as a forked gunicorn worker does) or, unmarked, somebody else's server."""
    env = {**os.environ, "PORT": str(port)}
    if marked:
        env |= {RUN_DIR_MARKER: str(run_dir), POD_MARKER: pod}
    worker = subprocess.Popen([sys.executable, "-c", SERVE], env=env, start_new_session=True)
    assert wait_until(lambda: answers(port))
    return worker


def test_a_pod_whose_own_leftover_worker_holds_its_port_gets_the_port_back(supervisor):
    [port] = free_ports(1)
    worker = leftover_worker(supervisor.run_dir, "shop/web-0", port)
    try:
        want(supervisor, {"shop/web-0": server(port)}, 1)
        started = status(supervisor)["shop/web-0"]
        assert started["state"] == "running", started
        assert worker.wait(timeout=5) is not None                  # the leftover was ended
        assert wait_until(lambda: answers(port))
        assert psutil.Process(started["pid"]).is_running()
    finally:
        worker.kill()
        worker.wait()


def test_a_strangers_process_on_the_port_is_left_alone_and_the_pod_says_why(supervisor):
    [port] = free_ports(1)
    stranger = leftover_worker(supervisor.run_dir, "shop/web-0", port, marked=False)
    try:
        want(supervisor, {"shop/web-0": server(port)}, 1)
        refused = status(supervisor)["shop/web-0"]
        assert refused["state"] == "exited" and f"port {port} on 127.0.0.1 is already in use" in refused["reason"]
        assert stranger.poll() is None and port_in_use(port)
    finally:
        stranger.kill()
        stranger.wait()
