"""Faults the local lab must survive, through the real CLI: a killed app, gateway or supervisor,
a deleted run folder, a second `up` — each leaves a lab that `status` describes truly, that
`up` heals, and that `down` leaves with no process running."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from lab.backends.local.pids import lab_processes, pid_alive
from lab.config import PROJECT_DIR
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

SAMPLE = (PROJECT_DIR / "apps" / "sample-apps.yaml").read_text()
HTTPBIN = "canary-lab/httpbin"


@pytest.fixture
def lab(tmp_path):
    lab = new_lab(tmp_path)
    try:
        lab.invoke("up", "--provider", "local")
        yield lab
    finally:
        lab.cleanup()
        assert not lab_processes(lab.paths.run_dir), "a process of the lab outlived it"


def pods(lab, prefix: str = HTTPBIN) -> dict[str, dict]:
    return {n: s for n, s in lab.processes.status().items() if n.startswith(prefix)}


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def httpbin_answers(lab) -> bool:
    [spec] = [s for n, s in lab.processes.desired().items() if n.startswith(HTTPBIN)]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{spec['port']}/get", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_up_on_a_running_lab_keeps_what_the_learner_applied(lab):
    lab.invoke("apply", "-", input=SAMPLE.replace("replicas: 1", "replicas: 2", 1))
    assert len(pods(lab)) == 2
    again = lab.invoke("up", "--provider", "local")
    assert "nothing changed" in again.stdout
    assert len(pods(lab)) == 2


def test_up_stops_pods_an_apply_killed_midway_left_behind(lab):
    """An apply killed -9 after starting new pods but before saving: the store says 1 replica while
    more run. `up` makes what runs what is stored again."""

    proc = subprocess.Popen([sys.executable, "-m", "invoke", "apply", "-"], cwd=PROJECT_DIR, env=lab.env(),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    proc.stdin.write(SAMPLE.replace("replicas: 1", "replicas: 4", 1))
    proc.stdin.close()
    assert wait_until(lambda: len(pods(lab)) > 1, timeout=20), "the apply never started its pods"
    proc.kill()
    proc.wait()
    stored = lab.invoke("get", "deploy", "httpbin", "-n", "canary-lab", "-o", "json").stdout
    if '"replicas": 4' in stored:
        pytest.skip("the apply finished before it was killed; nothing to heal")
    healed = lab.invoke("up")
    assert "nothing changed" not in healed.stdout
    assert wait_until(lambda: len(pods(lab)) == 1), pods(lab)
    assert httpbin_answers(lab)


@pytest.mark.parametrize("settings", [{}, {"admin_port": "abc"}, {"admin_port": 99999}])
def test_a_state_without_a_usable_admin_port_is_one_line_and_down_still_works(lab, settings):

    state = json.loads(lab.paths.state_file.read_text())
    lab.paths.state_file.write_text(json.dumps({**state, "settings": settings}))
    status = lab.invoke("status", check=False)
    assert status.returncode == 1 and "settings.admin_port" in status.stderr and "Traceback" not in status.stderr
    lab.invoke("down")


def test_up_with_another_port_says_the_lab_is_up_on_its_own(lab):
    other = lab.port + 1
    result = lab.invoke("up", "--port", str(other), check=False)
    assert result.returncode == 1
    assert f"already up on port {lab.port}, not {other}" in result.stderr


def test_up_heals_a_killed_gunicorn_master_whose_workers_hold_its_port(lab):
    [(name, info)] = pods(lab).items()
    os.kill(info["pid"], signal.SIGKILL)
    healed = lab.invoke("up")           # at once: the workers may still hold the port
    assert "nothing changed" not in healed.stdout
    assert pods(lab)[name]["state"] == "running" and pods(lab)[name]["pid"] != info["pid"]
    assert httpbin_answers(lab)


def test_a_killed_gateway_shows_in_status_apply_says_so_and_up_heals_it(lab):
    gateway = lab.processes.status()["gateway"]["pid"]
    os.kill(gateway, signal.SIGKILL)
    assert wait_until(lambda: lab.processes.status()["gateway"]["state"] == "exited")
    status = lab.invoke("status").stdout
    assert "gateway" in status and "exited" in status
    assert "`invoke up` restarts it" in " ".join(status.split())
    refused = lab.invoke("apply", str(PROJECT_DIR / "exercises" / "canary" / "manifests" / "gateway.yaml"),
                         check=False)
    assert refused.returncode == 1 and "gateway (Envoy) is not running" in refused.stderr
    assert "Traceback" not in refused.stderr
    lab.invoke("up")
    assert lab.processes.status()["gateway"]["state"] == "running"
    lab.invoke("apply", str(PROJECT_DIR / "exercises" / "canary" / "manifests" / "gateway.yaml"))


def test_a_killed_supervisor_is_healed_by_up_with_what_was_applied(lab):
    lab.invoke("apply", "-", input=SAMPLE.replace("replicas: 1", "replicas: 2", 1))
    os.kill(lab.supervisor_pid(), signal.SIGKILL)
    assert wait_until(lambda: not lab.processes.supervisor_alive())
    assert "supervisor is not running" in lab.invoke("status").stdout
    lab.invoke("up")
    assert len(pods(lab)) == 2 and all(p["state"] == "running" for p in pods(lab).values())


def test_down_after_the_run_folder_was_deleted_stops_every_process(lab):
    found = lab_processes(lab.paths.run_dir)
    assert len(found) >= 4     # supervisor, gateway, httpbin (and its workers), tornado
    shutil.rmtree(lab.paths.run_dir)
    lab.invoke("down")
    assert not any(pid_alive(p.pid) for p in found)
    assert not lab_processes(lab.paths.run_dir)


def test_up_after_the_run_folder_was_deleted_starts_a_fresh_lab(lab):
    found = lab_processes(lab.paths.run_dir)
    shutil.rmtree(lab.paths.run_dir)
    lab.invoke("up")
    assert not any(pid_alive(p.pid) for p in found)
    assert all(s["state"] == "running" for s in lab.processes.status().values())
    assert httpbin_answers(lab)


def test_gunicorn_makes_no_control_socket_outside_the_lab(lab):
    [name] = pods(lab)
    log = lab.processes.log_file(name)
    assert wait_until(lambda: "Booting worker" in log.read_text())
    assert "Control socket" not in log.read_text()
    assert lab.processes.desired()[name]["argv"].count("--no-control-socket") == 1


def test_a_gateway_that_selects_no_gateway_serves_404_and_the_apply_says_why(lab):
    wrong = (PROJECT_DIR / "exercises" / "canary" / "manifests" / "gateway.yaml").read_text() \
        .replace("istio: ingressgateway", "istio: ingress")
    vs = (PROJECT_DIR / "exercises" / "canary" / "manifests" / "virtualservice.yaml").read_text()
    applied = lab.invoke("apply", "-", input=wrong + "---\n" + vs)
    assert "note: Gateway canary-lab/canary-gateway selects no gateway" in applied.stdout
    request = urllib.request.Request(lab.url + "/get", headers={"Host": "canary.lab.local"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=5)
    assert answer.value.code == 404


def test_a_fixture_that_fails_after_up_still_takes_its_lab_down(tmp_path):
    from tests.lab_process import running_lab

    started = []
    with pytest.raises(AssertionError, match="invoke apply"):
        with running_lab(tmp_path, ("apply", "no-such-file.yaml")) as never:
            started.append(never)
    assert not started
    assert not lab_processes(tmp_path / ".lab" / "run")
    assert not (tmp_path / ".lab" / "state.json").exists()


def test_a_damaged_state_file_is_one_line_and_down_still_stops_the_lab(lab):
    lab.paths.state_file.write_text('{"provider": "kubeadm", "gateway_port": 1}')
    status = lab.invoke("status", check=False)
    assert status.returncode == 1 and "unknown provider 'kubeadm'" in status.stderr and "Traceback" not in status.stderr
    found = lab_processes(lab.paths.run_dir)
    down = lab.invoke("down", check=False)
    assert down.returncode == 1 and "a local lab is stopped" in down.stderr
    assert not any(pid_alive(p.pid) for p in found)
    assert lab.paths.state_file.read_text() == '{"provider": "kubeadm", "gateway_port": 1}'   # kept, never overwritten


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs where the machine allows mounting one (root on Linux), else the test is skipped."""

    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root on Linux)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder) -> None:
    # Unbuffered: a buffered file keeps what the last write could not place and fails again on close,
    # depending on how many bytes the lab happens to use on the disk.
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_a_full_disk_during_an_apply_is_one_line_and_the_lab_keeps_serving(small_disk):
    from tests.lab_process import running_lab

    gateway = str(PROJECT_DIR / "exercises" / "canary" / "manifests" / "gateway.yaml")
    vs = str(PROJECT_DIR / "exercises" / "canary" / "manifests" / "virtualservice.yaml")
    with running_lab(small_disk, ("apply", gateway), ("apply", vs)) as lab:
        stored = (lab.paths.run_dir / "objects.json").read_text()
        fill(small_disk)
        result = lab.invoke("apply", "-", input=SAMPLE.replace("replicas: 1", "replicas: 2", 1), check=False)
        assert result.returncode == 1 and "no space left" in result.stderr, result.stderr
        assert len([ln for ln in result.stderr.splitlines() if ln.strip()]) == 1
        assert (lab.paths.run_dir / "objects.json").read_text() == stored
        assert lab.processes.supervisor_alive()
        request = urllib.request.Request(lab.url + "/get", headers={"Host": "canary.lab.local"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        (small_disk / "filler").unlink()
        lab.invoke("apply", "-", input=SAMPLE.replace("replicas: 1", "replicas: 2", 1))
        assert len(pods(lab)) == 2


def test_nothing_the_lab_writes_is_readable_by_others(lab):
    lab.invoke("apply", str(PROJECT_DIR / "exercises" / "canary" / "manifests" / "gateway.yaml"))
    files = [p for p in lab.paths.home.rglob("*") if p.is_file()]
    assert any(p.name == "gateway.key" for p in files) and any(p.suffix == ".log" for p in files)
    readable = [str(p.relative_to(lab.root)) for p in files if p.stat().st_mode & 0o077]
    assert not readable


@pytest.mark.parametrize("delay", [0.4, 0.7, 1.0, 1.5, 2.5])
def test_ctrl_c_at_any_point_of_up_leaves_a_lab_that_up_heals_and_down_ends(tmp_path, delay):

    lab = new_lab(tmp_path)
    try:
        up = subprocess.Popen([sys.executable, "-m", "invoke", "up", "--provider", "local"], cwd=PROJECT_DIR,
                              env=lab.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=60)
        if lab.paths.state_file.exists():       # interrupted after the lab was up: it is up, whole
            assert "provider: local" in lab.invoke("status").stdout
        else:                                    # interrupted before: nothing is left running
            assert wait_until(lambda: not lab_processes(lab.paths.run_dir), timeout=10)
        second = lab.invoke("up", "--provider", "local", check=False)
        assert second.returncode == 0, (up.returncode, second.stdout, second.stderr)
        assert all(s["state"] == "running" for s in lab.processes.status().values())
        assert len(lab.processes.status()) == 3
        lab.invoke("down")
        assert not lab_processes(lab.paths.run_dir)
    finally:
        lab.cleanup()


def test_down_with_the_whole_lab_folder_gone_still_stops_every_process(lab):
    found = lab_processes(lab.paths.run_dir)
    shutil.rmtree(lab.paths.home)      # state.json, run folder, pid files: all gone
    down = lab.invoke("down")
    assert "were still running without its files; they are stopped" in down.stdout
    assert not any(pid_alive(p.pid) for p in found)
    assert "Nothing is up" in lab.invoke("down").stdout


ROUTING = (PROJECT_DIR / "exercises" / "canary" / "manifests" / "gateway.yaml").read_text() + "\n---\n" + \
    (PROJECT_DIR / "exercises" / "canary" / "manifests" / "virtualservice.yaml").read_text()


def live_routes(lab):
    from lab.envoy_admin import EnvoyAdmin
    from lab.state import load_state
    return EnvoyAdmin(f"http://127.0.0.1:{load_state(lab.paths).settings['admin_port']}").live_routes()


def test_an_apply_killed_between_pushing_routes_and_saving_is_undone_by_up(lab):
    """kill -9 at the worst point: Envoy already has the new routes, the store the old objects."""
    lab.invoke("apply", "-", input=ROUTING)
    stored, served = lab.invoke("get", "vs", "canary", "-n", "canary-lab", "-o", "yaml").stdout, live_routes(lab)
    to_tornado = ROUTING.replace("host: httpbin\n            port:\n              number: 8000",
                                 "host: tornado\n            port:\n              number: 8888")
    assert to_tornado != ROUTING
    killed = lab.invoke("apply", "-", input=to_tornado, check=False,
                        env_extra={"CANARY_LAB_TEST_KILL_AT": "after-routes"})
    assert killed.returncode == -signal.SIGKILL
    assert live_routes(lab) != served                      # the hook fired after the push, before the save
    assert "was stopped between changing the gateway and saving" in lab.invoke("status").stdout
    lab.invoke("up", "--provider", "local")
    assert live_routes(lab) == served                      # what is served is what is stored again
    assert lab.invoke("get", "vs", "canary", "-n", "canary-lab", "-o", "yaml").stdout == stored
    assert "was stopped between" not in lab.invoke("status").stdout


TOO_BIG_FOR_ENVOY = "[a-z]{1000}" * 40   # Istio takes it (≤ 1024, Go compiles it); Envoy's RE2 program is too big


def hosts_answer(lab) -> dict[str, int]:
    codes = {}
    for host, path in (("canary.lab.local", "/get"), ("canary.lab.local", "/websocket")):
        request = urllib.request.Request(lab.url + path, headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                codes[path] = answer.status
        except urllib.error.HTTPError as e:
            codes[path] = e.code
    return codes


def test_a_rejected_push_then_an_envoy_restart_serves_what_is_stored(lab):
    lab.invoke("apply", "-", input=ROUTING)
    served = live_routes(lab)
    rejected = lab.invoke("apply", "-", input=ROUTING.replace("            prefix: /websocket",
                                                              f"            regex: '{TOO_BIG_FOR_ENVOY}'"), check=False)
    assert rejected.returncode == 1 and "rejected the new config" in rejected.stderr
    os.kill(lab.processes.status()["gateway"]["pid"], signal.SIGKILL)
    assert wait_until(lambda: lab.processes.status()["gateway"]["state"] == "exited")
    healed = lab.invoke("up")
    assert live_routes(lab) == served and hosts_answer(lab)["/get"] == 200
    assert "nothing changed" not in healed.stdout


def test_up_pushes_the_stored_config_when_envoy_loaded_other_files_at_a_restart(lab):
    """Whatever left the files on disk other than the store (a rejected push, an edit by hand), a
    restarted Envoy loads them: `status` says so, and `up` compares and pushes the stored again."""
    lab.invoke("apply", "-", input=ROUTING)
    served = live_routes(lab)
    os.kill(lab.processes.status()["gateway"]["pid"], signal.SIGKILL)
    assert wait_until(lambda: lab.processes.status()["gateway"]["state"] == "exited")
    rds = lab.paths.run_dir / "xds" / "rds.json"
    routes = json.loads(rds.read_text())
    routes["resources"][0]["virtual_hosts"] = []          # every host would answer 404
    routes["version_info"] = "other"
    rds.write_text(json.dumps(routes))
    lab.invoke("up")
    assert live_routes(lab) == served and hosts_answer(lab)["/get"] == 200
    assert "nothing changed" in lab.invoke("up").stdout   # compared again: nothing to push


def test_a_learners_own_process_reading_the_run_folder_survives_down(lab):
    log = lab.paths.run_dir / "logs" / "gateway.log"
    tail = subprocess.Popen(["tail", "-f", str(log)], stdout=subprocess.DEVNULL, cwd=lab.root)
    try:
        lab.invoke("down")
        assert tail.poll() is None, "down ended a process that only named a file of the lab"
        assert not lab_processes(lab.paths.run_dir)
    finally:
        tail.kill()
        tail.wait()


def test_a_killed_gateway_is_said_to_be_killed_not_by_its_last_log_line(lab):
    os.kill(lab.processes.status()["gateway"]["pid"], signal.SIGKILL)
    assert wait_until(lambda: lab.processes.status()["gateway"]["state"] == "exited")
    refused = lab.invoke("apply", str(PROJECT_DIR / "exercises" / "canary" / "manifests" / "gateway.yaml"),
                         check=False)
    assert refused.returncode == 1 and "gateway (Envoy) is not running (ended by SIGKILL)" in refused.stderr
    assert "ended by SIGKILL" in " ".join(lab.invoke("status").stdout.split())


def test_up_and_down_at_once_each_finish_whole(lab):
    """One waits for the other (the lab's lock); neither says `run invoke up first` half-way."""
    for _ in range(3):
        both = [subprocess.Popen([sys.executable, "-m", "invoke", *verb], cwd=PROJECT_DIR, env=lab.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for verb in (("up", "--provider", "local"), ("down",))]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in both]
        assert all(code == 0 for *_, code in results), results
        up = lab.paths.state_file.exists()
        assert up == lab.processes.supervisor_alive()
    lab.invoke("up", "--provider", "local")
