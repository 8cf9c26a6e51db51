"""The supervisor survives anything one pod does: that pod shows as exited with the reason,
the others keep serving. Pods start with a clean environment, and stop on time."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from lab.backends.local import supervisor as supervisor_module
from lab.backends.local.pids import pid_alive
from lab.backends.local.processes import Processes
from lab.backends.local.supervisor import Supervisor
from lab.ports import free_ports

SERVE = "import http.server, os; http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), " \
        "http.server.SimpleHTTPRequestHandler).serve_forever()"


def server(port: int, **env) -> dict:
    return {"argv": [sys.executable, "-c", SERVE], "port": port, "env": {"PORT": str(port), **env}}


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def processes(tmp_path):
    processes = Processes(tmp_path / "run")
    yield processes
    processes.stop_supervisor()
    assert not processes.leftovers()


@pytest.mark.parametrize("bad_env, reason", [
    ({"BAD=NAME": "x"}, "illegal environment variable name"),
    ({"OK": "nul\0byte"}, "null byte"),
], ids=["equals-in-name", "nul-in-value"])
def test_a_pod_that_cannot_start_fails_alone_and_the_others_keep_serving(processes, bad_env, reason):
    good_port, bad_port = free_ports(2)
    good = server(good_port)
    processes.start_supervisor({"shop/good-0": good})
    processes.wait_ready({"shop/good-0": good}, timeout=10)
    processes.set_desired({"shop/good-0": good, "shop/bad-0": server(bad_port, **bad_env)})
    assert processes.supervisor_alive()
    assert answers(good_port)
    bad = processes.status()["shop/bad-0"]
    assert bad["state"] == "exited" and reason in processes.why_exited("shop/bad-0", bad)
    # The supervisor still takes orders: the bad pod removed, the good one untouched.
    good_pid = processes.status()["shop/good-0"]["pid"]
    processes.set_desired({"shop/good-0": good})
    assert set(processes.status()) == {"shop/good-0"} and processes.status()["shop/good-0"]["pid"] == good_pid


def test_a_full_disk_at_a_pods_start_fails_that_pod_and_the_supervisor_keeps_going(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    supervisor = Supervisor(run_dir)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(supervisor_module, "write_json", no_space)
    monkeypatch.setattr(supervisor_module.subprocess, "Popen", no_space)
    (run_dir / "desired.json").write_text(json.dumps({"generation": 1, "processes": {"shop/web-0": server(1)}}))
    supervisor.reconcile()          # neither the start nor the status write may raise
    assert supervisor.exited == {"shop/web-0": -1}
    assert "No space left on device" in supervisor.reasons["shop/web-0"]
    assert supervisor.status_unsaved
    monkeypatch.undo()
    supervisor.write_status()       # once there is room again, the reason is reported
    status = json.loads((run_dir / "status.json").read_text())
    assert "No space left on device" in status["processes"]["shop/web-0"]["reason"]


def test_a_pod_gets_a_clean_environment_with_its_home_inside_the_lab(processes, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "attacker"))
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--log-file /tmp/owned")
    [port] = free_ports(1)
    dump = tmp_path / "env.json"
    pod = {"argv": [sys.executable, "-c", f"import json, os; json.dump(dict(os.environ), open({str(dump)!r}, 'w'))"
                    f"\n{SERVE}"], "port": port, "env": {"PORT": str(port), "VERSION": "v1"}}
    processes.start_supervisor({"shop/web-0": pod})
    processes.wait_ready({"shop/web-0": pod}, timeout=10)
    env = json.loads(dump.read_text())
    assert "PYTHONPATH" not in env and "GUNICORN_CMD_ARGS" not in env
    assert env["VERSION"] == "v1" and env["PATH"] == os.environ["PATH"]
    assert env["HOME"].startswith(str(processes.run_dir)) and env["TMPDIR"].startswith(str(processes.run_dir))


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout(processes, monkeypatch):
    stubborn = {"argv": [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                               "print('ready', flush=True); time.sleep(60)"]}
    processes.start_supervisor({"stubborn": stubborn})
    deadline = time.monotonic() + 10
    while "ready" not in processes.log_file("stubborn").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = processes.status()["stubborn"]["pid"]
    started = time.monotonic()
    processes.set_desired({})       # the supervisor stops it: TERM, ignored, then KILL
    took = time.monotonic() - started
    assert not pid_alive(pid)
    assert supervisor_module.STOP_TIMEOUT - 0.5 < took < supervisor_module.STOP_TIMEOUT + 5


def test_workers_orphaned_by_a_killed_master_are_ended_with_it(processes):
    [port] = free_ports(1)
    # A master that forks a worker holding the port, like gunicorn's.
    forking = {"argv": [sys.executable, "-c",
                        "import os, time\nif os.fork() == 0:\n    " + SERVE.replace("; ", "\n    ")
                        + "\nelse:\n    time.sleep(60)"], "port": port, "env": {"PORT": str(port)}}
    processes.start_supervisor({"shop/web-0": forking})
    processes.wait_ready({"shop/web-0": forking}, timeout=10)
    os.kill(processes.status()["shop/web-0"]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while answers(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not answers(port), "the orphaned worker still holds the pod's port"
    processes.set_desired({"shop/web-0": forking})     # what `up` does: it starts again on its port
    processes.wait_ready({"shop/web-0": forking}, timeout=10)
    assert answers(port)


def test_processes_are_found_without_reading_proc(processes, monkeypatch):
    """The lab's own code never reads /proc (it does not exist on macOS): psutil does that."""
    import pathlib

    real_read_text, real_read_bytes = pathlib.Path.read_text, pathlib.Path.read_bytes

    def guarded(real):
        def read(self, *args, **kwargs):
            assert not str(self).startswith("/proc"), f"the lab read {self}"
            return real(self, *args, **kwargs)
        return read

    [port] = free_ports(1)
    pod = server(port)
    processes.start_supervisor({"shop/web-0": pod})
    processes.wait_ready({"shop/web-0": pod}, timeout=10)
    monkeypatch.setattr(pathlib.Path, "read_text", guarded(real_read_text))
    monkeypatch.setattr(pathlib.Path, "read_bytes", guarded(real_read_bytes))
    assert processes.supervisor_alive()
    assert len(processes.leftovers()) == 2          # the supervisor and its pod, found by marker
    monkeypatch.undo()


def test_down_finds_the_lab_after_its_run_folder_is_deleted(processes):
    import shutil

    [port] = free_ports(1)
    pod = server(port)
    processes.start_supervisor({"shop/web-0": pod})
    processes.wait_ready({"shop/web-0": pod}, timeout=10)
    found = processes.leftovers()
    shutil.rmtree(processes.run_dir)
    assert not processes.supervisor_alive()        # no pid file left to say so
    processes.stop_supervisor()
    assert not any(pid_alive(p.pid) for p in found)
    assert not answers(port)


def test_a_stranger_is_never_one_of_the_labs_processes(processes):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        [port] = free_ports(1)
        processes.start_supervisor({"shop/web-0": server(port)})
        assert stranger.pid not in {p.pid for p in processes.leftovers()}
        processes.stop_supervisor()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_reused_pid_is_told_apart_by_its_create_time(processes):
    from lab.backends.local.pids import runs_program

    [port] = free_ports(1)
    pod = server(port)
    processes.start_supervisor({"shop/web-0": pod})
    info = processes.status()["shop/web-0"]
    assert runs_program(info["pid"], sys.executable, info["created"])
    assert not runs_program(info["pid"], sys.executable, info["created"] - 3600)   # same pid, another process
    assert not runs_program(info["pid"], "/bin/other-program")
