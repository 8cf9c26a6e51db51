"""The whole journey on the local lab, through the real CLI, real Envoy and real apps.

Each test starts its own lab on a free port under its own root and stops it;
the last assertion of the journey is that nothing it started is left.
"""

import socket
import subprocess
import urllib.request

import pytest

from lab.backends.local.processes import pid_alive
from lab.config import gateway_tls_port
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(tmp_path):
    lab = new_lab(tmp_path)
    yield lab
    lab.cleanup()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def title_via_gateway(lab, host="canary.lab.local", path="/") -> str:
    request = urllib.request.Request(lab.url + path, headers={"Host": host})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read().decode()
    return body.split("<title>")[1].split("</title>")[0].strip()


def test_up_exercise_down_leaves_nothing_running(lab):
    up = lab.invoke("up", "--provider", "local")
    assert "provider: local" in up.stdout and lab.url in up.stdout
    pids = [lab.supervisor_pid(), *lab.child_pids()]
    assert len(pids) == 4  # supervisor, gateway, httpbin, tornado
    played = lab.invoke("exercise", "canary", "--yes")
    assert "complete" in played.stdout
    assert "passed" in played.stdout
    status = lab.invoke("status")
    assert "canary.lab.local" in status.stdout and "httpbin.canary-lab: 100" in status.stdout
    lab.invoke("down")
    assert not any(pid_alive(p) for p in pids)
    assert port_free(lab.port) and port_free(gateway_tls_port(lab.port))
    assert not (lab.root / ".lab" / "run").exists()
    assert (lab.root / ".lab" / "progress.json").exists()  # progress survives down


def test_up_twice_down_twice_and_down_with_nothing_up(lab):
    nothing = lab.invoke("down")
    assert "Nothing is up" in nothing.stdout
    lab.invoke("up", "--provider", "local")
    again = lab.invoke("up", "--provider", "local")
    assert "already up; nothing changed" in again.stdout
    lab.invoke("down")
    assert "Nothing is up" in lab.invoke("down").stdout


def test_a_dead_app_shows_in_status_and_up_restarts_it(lab):
    import os
    import signal

    lab.invoke("up", "--provider", "local")
    status = lab.invoke("status").stdout
    assert status.count("running") == 3
    victim = [p for p in lab.child_pids()][-1]
    os.kill(victim, signal.SIGKILL)
    import time

    deadline = time.monotonic() + 5
    while "exited" not in (status := lab.invoke("status").stdout) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "exited" in status
    repaired = lab.invoke("up", "--provider", "local")
    assert "nothing changed" not in repaired.stdout
    assert lab.invoke("status").stdout.count("running") == 3


def test_a_lab_whose_state_file_was_deleted_is_found_again_and_down_stops_it(lab):
    lab.invoke("up", "--provider", "local")
    pids = [lab.supervisor_pid(), *lab.child_pids()]
    state_file = lab.root / ".lab" / "state.json"
    state_file.unlink()
    status = lab.invoke("status").stdout
    assert "rebuilt it from its run folder" in status and f"gateway: {lab.url}" in status
    state_file.unlink()
    lab.invoke("down")
    assert not any(pid_alive(p) for p in pids)
    assert port_free(lab.port) and not state_file.exists()


def test_down_never_signals_a_process_that_took_over_a_stale_supervisor_pid(lab):
    # After a reboot .lab/run may still name a pid that now belongs to somebody else.
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        run = lab.root / ".lab" / "run"
        run.mkdir(parents=True)
        (run / "supervisor.pid").write_text(str(stranger.pid))
        (lab.root / ".lab" / "state.json").write_text(f'{{"provider": "local", "gateway_port": {lab.port}}}')
        lab.invoke("down")
        assert stranger.poll() is None, "down ended a process the lab did not start"
        assert not run.exists()
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_gateway_port_in_use_is_one_line_and_exit_1(lab, scheme):
    taken = lab.port if scheme == "http" else gateway_tls_port(lab.port)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", taken))
        blocker.listen(1)
        result = lab.invoke("up", "--provider", "local", check=False)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {taken}" in lines[0] and scheme.upper() in lines[0] and "--port" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (lab.root / ".lab" / "state.json").exists()
