"""Commands at once, and Ctrl-C mid-apply: what is stored is what is served, nothing is lost,
and no pod runs that no stored Deployment owns."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lab.config import EXERCISES_DIR, PROJECT_DIR
from lab.envoy_admin import EnvoyAdmin
from lab.state import load_state
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

SOLUTION = (EXERCISES_DIR / "canary" / "solutions" / "virtualservice-80-20.yaml").read_text()


def split(httpbin: int) -> str:
    return SOLUTION.replace("weight: 80", "weight: HTTPBIN").replace("weight: 20", f"weight: {100 - httpbin}") \
        .replace("HTTPBIN", str(httpbin))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("races"))
    try:
        lab.invoke("up", "--provider", "local")
        lab.invoke("apply", str(EXERCISES_DIR / "canary" / "manifests" / "gateway.yaml"))
        lab.invoke("apply", "-", input=split(50))
        yield lab
    finally:
        lab.cleanup()


def stored(lab) -> dict:
    return json.loads((lab.paths.run_dir / "objects.json").read_text())


def stored_weight(lab) -> int:
    vs = stored(lab)["VirtualService/canary-lab/canary"]
    return vs["spec"]["http"][1]["route"][0]["weight"]


def served_weight(lab) -> int:
    """httpbin's weight in the route the gateway serves: 0 when the route leaves it out, as istiod
    leaves out a weight-0 destination (and the local gateway does too)."""
    admin = EnvoyAdmin(f"http://127.0.0.1:{load_state(lab.paths).settings['admin_port']}")
    [main] = [r for r in admin.live_routes() if r.host == "canary.lab.local" and r.match == "uri /*"]
    return next((d.weight for d in main.destinations if d.service.startswith("httpbin")), 0)


def as_a_terminal_would() -> None:
    """In the child: SIGINT as a terminal delivers it, even when this test run's parent ignores it
    (Python keeps an ignored SIGINT ignored, and a Ctrl-C test would then prove nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(lab, *args, input: str | None = None, env_extra: dict | None = None) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=PROJECT_DIR,
                               env={**lab.env(), **(env_extra or {})}, preexec_fn=as_a_terminal_would,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if input is not None:
        process.stdin.write(input)
    process.stdin.close()
    process.stdin = None   # closed: communicate() must not flush it
    return process


def finish_in_order(processes: dict) -> list:
    """The keys of `processes`, in the order they exited (each checked to exit 0)."""
    order, pending, deadline = [], dict(processes), time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        for key, process in list(pending.items()):
            if process.poll() is not None:
                assert process.returncode == 0, process.stderr.read()
                order.append(key)
                del pending[key]
        time.sleep(0.002)
    assert not pending, "some commands never finished"
    return order


def last_to_commit(processes: dict) -> set:
    """Which of the concurrent commands committed last. Each prints its line right after it
    commits, so the last line came from the last to commit; under load a line can be a little
    late, so any printed within 50 ms of the last may be it."""
    import threading

    said: dict = {}

    def read(key, process):
        if process.stdout.readline():
            said[key] = time.monotonic()

    readers = [threading.Thread(target=read, args=item) for item in processes.items()]
    for reader in readers:
        reader.start()
    finish_in_order(processes)
    for reader in readers:
        reader.join(timeout=10)
    assert sorted(said) == sorted(processes)
    latest = max(said.values())
    return {key for key, when in said.items() if latest - when < 0.05}


def test_ten_concurrent_applies_leave_stored_equal_served_equal_the_last_one(lab):
    last = last_to_commit({w: start(lab, "apply", "-", input=split(w)) for w in range(0, 100, 10)})
    assert stored_weight(lab) == served_weight(lab) and stored_weight(lab) in last


def test_concurrent_namespace_creates_are_all_kept(lab):
    names = [f"team-{i}" for i in range(10)]
    manifest = "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n"
    finish_in_order({n: start(lab, "apply", "-", input=manifest.format(n)) for n in names})
    assert {f"Namespace//{n}" for n in names} <= set(stored(lab))


def test_concurrent_applies_of_one_deployment_leave_no_orphan_pod(lab):
    deployment = (PROJECT_DIR / "apps" / "sample-apps.yaml").read_text().split("---")[1]
    variants = {i: deployment.replace("version: v1", f"version: v1-{i}") for i in range(6)}
    last = last_to_commit({i: start(lab, "apply", "-", input=text) for i, text in variants.items()})
    labels = stored(lab)["Deployment/canary-lab/httpbin"]["spec"]["template"]["metadata"]["labels"]
    assert labels["version"] in {f"v1-{i}" for i in last}
    httpbin_pods = [n for n in lab.processes.desired() if n.startswith("canary-lab/httpbin-")]
    running = [n for n, s in lab.processes.status().items() if n.startswith("canary-lab/httpbin-")]
    assert len(httpbin_pods) == 1 and running == httpbin_pods


def test_a_second_command_waits_then_says_another_is_running(lab):
    from filelock import FileLock

    with FileLock(lab.paths.home / "lock"):
        result = lab.invoke("apply", "-", input=split(30), check=False, env_extra={"CANARY_LAB_LOCK_WAIT": "0.5"})
    assert result.returncode == 1 and "another lab command is still running" in result.stderr
    assert "Traceback" not in result.stderr


def paused_at(lab, point: str, *args, input: str) -> subprocess.Popen:
    """A command started with the lab's test hook: it stops at `point` until released."""
    command = start(lab, *args, input=input, env_extra={"CANARY_LAB_TEST_PAUSE_AT": point})
    marker = lab.paths.run_dir / f"paused-at-{point}"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert command.poll() is None, command.stderr.read()
        assert time.monotonic() < deadline, f"the command never reached {point}"
        time.sleep(0.01)
    return command


def release(lab, point: str) -> None:
    (lab.paths.run_dir / f"paused-at-{point}").unlink()


def interrupted(command: subprocess.Popen) -> str:
    """Ctrl-C's outcome: exit 130 and one line saying so."""
    out, err = command.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert command.returncode == 130, (command.returncode, out, err)
    assert lines == ["error: interrupted"], err
    return out


def other_weight(lab) -> int:
    return 10 if stored_weight(lab) != 10 else 90


def test_ctrl_c_before_the_first_push_leaves_the_old_config_stored_and_served(lab):
    before = stored_weight(lab)
    apply = paused_at(lab, "before-push", "apply", "-", input=split(other_weight(lab)))
    apply.send_signal(signal.SIGINT)        # lands in the pause: nothing pushed yet
    interrupted(apply)
    assert stored_weight(lab) == served_weight(lab) == before


def test_ctrl_c_between_the_push_and_the_save_is_held_until_both_are_done(lab):
    wanted = other_weight(lab)
    apply = paused_at(lab, "after-routes", "apply", "-", input=split(wanted))
    assert served_weight(lab) == wanted and stored_weight(lab) != wanted    # pushed, not saved yet
    apply.send_signal(signal.SIGINT)
    time.sleep(0.3)                         # the held Ctrl-C is recorded, not acted on
    assert apply.poll() is None
    release(lab, "after-routes")
    interrupted(apply)                      # said once the save is done
    assert stored_weight(lab) == served_weight(lab) == wanted
    assert not (lab.paths.run_dir / "pending.json").exists()


def test_ctrl_c_while_new_pods_start_stops_them_and_keeps_the_old_ones(lab):
    deployment = (PROJECT_DIR / "apps" / "sample-apps.yaml").read_text().split("---")[1]
    before_pods = {n: s["pid"] for n, s in lab.processes.status().items() if n.startswith("canary-lab/httpbin-")}
    before = stored(lab)["Deployment/canary-lab/httpbin"]
    apply = paused_at(lab, "pods-requested", "apply", "-", input=deployment.replace("version: v1", "version: v1-new"))
    assert len([n for n in lab.processes.desired() if n.startswith("canary-lab/httpbin-")]) == 2   # old + new
    apply.send_signal(signal.SIGINT)
    interrupted(apply)
    after_pods = {n: s["pid"] for n, s in lab.processes.status().items() if n.startswith("canary-lab/httpbin-")}
    assert after_pods == before_pods and set(lab.processes.desired()) >= set(before_pods)
    assert stored(lab)["Deployment/canary-lab/httpbin"] == before


def test_a_supervisor_killed_while_an_apply_waits_for_its_pods_fails_the_apply_at_once(tmp_path):
    lab = new_lab(tmp_path)
    try:
        lab.invoke("up", "--provider", "local")
        deployment = (PROJECT_DIR / "apps" / "sample-apps.yaml").read_text().split("---")[1]
        stored_before = (lab.paths.run_dir / "objects.json").read_text()
        apply = paused_at(lab, "pods-requested", "apply", "-", input=deployment.replace("replicas: 1", "replicas: 3"))
        os.kill(lab.supervisor_pid(), signal.SIGKILL)
        started = time.monotonic()
        release(lab, "pods-requested")
        _, err = apply.communicate(timeout=60)
        assert apply.returncode == 1 and "supervisor ended" in err and "invoke up" in err, err
        assert time.monotonic() - started < 10          # not the 30 s a pod gets to become ready
        assert (lab.paths.run_dir / "objects.json").read_text() == stored_before
    finally:
        lab.cleanup()
