"""Commands at once, and Ctrl-C mid-apply: what is stored is what is served, nothing is lost,
and no pod runs that no stored Deployment owns."""

import json
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
    admin = EnvoyAdmin(f"http://127.0.0.1:{load_state(lab.paths).settings['admin_port']}")
    [main] = [r for r in admin.live_routes() if r.host == "canary.lab.local" and r.match == "uri /*"]
    [httpbin] = [d for d in main.destinations if d.service.startswith("httpbin")]
    return httpbin.weight


def start(lab, *args, input: str | None = None) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=PROJECT_DIR, env=lab.env(),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if input is not None:
        process.stdin.write(input)
    process.stdin.close()
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


@pytest.mark.parametrize("delay", [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6])
def test_ctrl_c_during_an_apply_is_all_or_nothing(lab, delay):
    before = stored_weight(lab)
    wanted = 10 if before != 10 else 90
    apply = start(lab, "apply", "-", input=split(wanted))
    time.sleep(delay)     # Python and Invoke take ~0.25 s to start: these land across the apply itself
    apply.send_signal(signal.SIGINT)
    apply.wait(timeout=60)
    # 130 from the lab's edge; outside the task itself Invoke exits 1, and Python -2 while it starts or ends.
    assert apply.returncode in (0, 130, 1, -signal.SIGINT), apply.stderr.read()
    assert stored_weight(lab) == served_weight(lab) in (before, wanted)
