"""kubectl's habits in every task, through the real `invoke` on a real local lab: `get pods`/`po`
with kubectl's columns, `-A`, `-n` as the namespace everywhere (logs and rollout too), `logs`
within one namespace, `apply -f DIR` and `delete -f DIR` as kubectl reads a folder; and the
Exercises table of the README saying what `invoke exercises` says."""

import json
import os
import re
import signal
from calendar import timegm

import pytest
import yaml

from lab import commands, ui
from lab.config import APPS_DIR, PROJECT_DIR
from lab.exercises.catalogue import exercise_names, load_exercise
from lab.pod_rows import human_duration, pod_row
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Emulator
from tests.lab_process import new_lab, running_lab

OTHER = "other-team"


def in_other_namespace() -> str:
    """The sample apps' httpbin Deployment again, in a namespace of its own."""
    deployment = next(o for o in yaml.safe_load_all((APPS_DIR / "sample-apps.yaml").read_text())
                      if o["kind"] == "Deployment" and o["metadata"]["name"] == "httpbin")
    deployment["metadata"]["namespace"] = OTHER
    return yaml.safe_dump_all([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OTHER}}, deployment])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("habits"))
    try:
        lab.invoke("up", "--provider", "local")
        lab.invoke("apply", "-", input=in_other_namespace())
        yield lab
    finally:
        lab.cleanup()


def refused(result, *phrases):
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for phrase in phrases:
        assert phrase in " ".join(result.stderr.split()), result.stderr


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pods", "po", "pod", "Pods"])
def test_get_pods_lists_the_labs_processes_as_kubectl_does(lab, kind):
    listed = rows(lab.invoke("get", kind, "-n", "canary-lab").stdout)
    assert listed[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    names = {row[0].rsplit("-", 2)[0]: row for row in listed[1:]}
    assert set(names) == {"httpbin", "tornado"}
    for _name, ready, status, restarts, age in names.values():
        assert (ready, status, restarts) == ("1/1", "Running", "0") and re.fullmatch(r"\d+s|\d+m(\d+s)?", age)
    everywhere = rows(lab.invoke("get", kind, "-A").stdout)
    assert everywhere[0][0] == "NAMESPACE" and {row[0] for row in everywhere[1:]} == {"canary-lab", OTHER}


@pytest.mark.slow
def test_one_pod_as_yaml_and_a_restarted_one_counts_its_restart(lab):
    [name] = [row[0] for row in rows(lab.invoke("get", "pods", "-n", OTHER).stdout)[1:]]
    pod = json.loads(lab.invoke("get", "pod", name, "-n", OTHER, "-o", "json").stdout)
    assert pod["kind"] == "Pod" and pod["status"]["phase"] == "Running"
    assert pod["metadata"]["labels"] == {"app": "httpbin", "version": "v1"}
    pid = lab.processes.status()[f"{OTHER}/{name}"]["pid"]
    os.kill(pid, signal.SIGKILL)                       # the lab's own pod process, by its recorded pid
    lab.invoke("up")                                   # restarts what exited, as a kubelet would
    [row] = rows(lab.invoke("get", "pods", "-n", OTHER).stdout)[1:]
    assert row[:4] == [name, "1/1", "Running", "1"], row
    refused(lab.invoke("delete", "pod", name, "-n", OTHER, check=False), "does not delete single pods")


@pytest.mark.slow
def test_get_all_namespaces_lists_every_namespace_and_refuses_a_name(lab):
    both = lab.invoke("get", "deploy", "-A").stdout
    assert OTHER in both and "canary-lab" in both
    assert OTHER in lab.invoke("get", "deploy", "-n", "canary-lab", "-A").stdout   # -A wins, as in kubectl
    refused(lab.invoke("get", "deploy", "httpbin", "-A", check=False),
            "a resource cannot be retrieved by name across all namespaces")


@pytest.mark.slow
def test_logs_read_one_namespace_and_n_names_it(lab):
    mine = lab.invoke("logs", "httpbin").stdout                 # the canary-lab pod only, no namespace mixed in
    assert mine.strip() and f"[{OTHER}/" not in mine
    theirs = lab.invoke("logs", "httpbin", "-n", OTHER).stdout
    assert theirs.strip() and "[canary-lab/" not in theirs
    assert lab.invoke("logs", "httpbin", "--namespace", OTHER, "--tail", "1").stdout.count("\n") == 1
    refused(lab.invoke("logs", "tornado", "-n", OTHER, check=False),
            "no pod or Deployment named 'tornado' runs in the lab in namespace other-team")
    assert "-n STRING, --namespace=STRING" in lab.invoke("logs", "--help").stdout


@pytest.mark.slow
def test_rollout_takes_n_for_its_namespace(lab):
    result = lab.invoke("rollout", "vs", "nowhere", "-n", OTHER, "--stable", "httpbin", "--canary", "tornado",
                        check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "'-n'" not in result.stderr and OTHER in result.stderr, result.stderr


@pytest.mark.slow
def test_apply_and_delete_f_a_folder_as_kubectl_reads_it(lab, tmp_path):
    folder = tmp_path / "release"
    (folder / "nested").mkdir(parents=True)
    # Name order matters: the namespace must exist before what goes into it (kubectl applies in name order).
    (folder / "01-namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: folder-team}\n")
    (folder / "02-service.json").write_text(json.dumps(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "folder-team"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
    (folder / "03-empty.yml").write_text("# nothing yet\n")
    (folder / "README.md").write_text("kind: not a manifest")                      # not read: not .yaml/.yml/.json
    (folder / "nested" / "ignored.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: nested}\n")
    applied = lab.invoke("apply", "-f", str(folder)).stdout
    assert "folder-team" in applied and "web" in applied
    assert "nested" not in lab.invoke("get", "ns").stdout                          # subfolders need -R in kubectl
    assert "web" in lab.invoke("get", "svc", "-n", "folder-team").stdout
    deleted = lab.invoke("delete", "-f", str(folder)).stdout
    assert "namespace/folder-team deleted" in deleted and "service/web deleted" in deleted
    assert "folder-team" not in lab.invoke("get", "ns").stdout


def test_the_readme_lists_the_backends_invoke_exercises_lists(lab_root):
    readme = (PROJECT_DIR / "README.md").read_text().split("## Exercises", 1)[1].split("\n## ", 1)[0]
    in_readme = {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `([a-z-]+)` \|.*\|([^|]*)\|$", readme, re.M)}
    assert set(in_readme) == set(exercise_names())
    for name in exercise_names():
        assert in_readme[name] == load_exercise(name).backends_shown, name
    # and `invoke exercises` prints that same text, one row per exercise
    with ui.console.capture() as captured:
        commands.list_exercises()
    for name in exercise_names():
        row = next(line for line in captured.get().splitlines() if re.search(rf"│ {re.escape(name)} +│", line))
        assert load_exercise(name).backends_shown in row, row


@pytest.mark.slow
def test_reset_resets_the_exercise_named_not_the_track_remembered(tmp_path):
    with running_lab(tmp_path) as lab:
        progress = lab.root / ".lab" / "progress.json"
        steps = [s.name for s in load_exercise("progressive-gateway-api").steps]
        progress.write_text(json.dumps({"tracks": {"progressive": "gateway"},
                                        "exercises": {"progressive-gateway-api": {"done": steps[:2]}}}))
        played = " ".join(lab.invoke("exercise", "progressive", "--reset", "--yes").stdout.split())
        assert "Progress of progressive reset." in played and "Exercise progressive complete" in played, played
        kept = json.loads(progress.read_text())["exercises"]["progressive-gateway-api"]["done"]
        assert kept == steps[:2]                                     # the other track's progress is untouched


# kubectl's own columns, on Pods as a cluster reports them (printPod's cases).
CLUSTER_PODS = [
    ({"containerStatuses": [{"ready": False, "restartCount": 4,
                             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}], "phase": "Running"},
     {}, ("0/1", "CrashLoopBackOff", 4)),
    ({"containerStatuses": [{"ready": True, "restartCount": 0, "state": {"running": {}}},
                            {"ready": True, "restartCount": 1, "state": {"running": {}}}], "phase": "Running"},
     {}, ("2/2", "Running", 1)),
    ({"containerStatuses": [{"ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}],
      "phase": "Failed"}, {}, ("0/1", "ExitCode:2", 0)),
    ({"containerStatuses": [{"ready": True, "restartCount": 0, "state": {"running": {}}}], "phase": "Running"},
     {"deletionTimestamp": "2026-12-07T12:00:00Z"}, ("1/1", "Terminating", 0)),
    ({"phase": "Pending"}, {}, ("0/1", "Pending", 0)),
]


@pytest.mark.parametrize("status, meta, columns", CLUSTER_PODS)
def test_pod_columns_follow_kubectls_printpod(status, meta, columns):
    containers = [{"name": f"c{i}"} for i in range(max(1, len(status.get("containerStatuses") or [])))]
    pod = {"metadata": {"name": "web-1", "namespace": "shop", "creationTimestamp": "2026-12-07T11:00:00Z", **meta},
           "spec": {"containers": containers}, "status": status}
    row = pod_row(pod, now=timegm((2026, 12, 7, 12, 0, 0)))
    assert (row.ready, row.status, row.restarts, row.age) == (*columns, "60m")


@pytest.mark.parametrize("seconds, shown", [   # apimachinery duration_test.go's cases
    (0, "0s"), (-1, "0s"), (-2, "<invalid>"), (119, "119s"), (120, "2m"), (599, "9m59s"), (600, "10m"),
    (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (8 * 3600 - 60, "7h59m"), (8 * 3600, "8h"), (48 * 3600 - 1, "47h"),
    (48 * 3600, "2d"), (8 * 86400 - 3600, "7d23h"), (8 * 86400, "8d"), (2 * 365 * 86400, "2y"),
    (3 * 365 * 86400 + 86400, "3y1d"), (8 * 365 * 86400, "8y"),
])
def test_ages_read_as_kubectl_writes_them(seconds, shown):
    assert human_duration(seconds) == shown


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


def test_on_a_cluster_get_pods_reads_the_api_servers_pods(lab_root, tools, cluster):
    cluster.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    cluster.kube.apply({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "web-1", "namespace": "shop",
                                     "creationTimestamp": "2026-12-07T11:00:00Z"},
                        "spec": {"containers": [{"name": "app", "image": "web"},
                                                {"name": "istio-proxy", "image": "p"}]},
                        "status": {"phase": "Running", "containerStatuses": [
                            {"name": "app", "ready": True, "restartCount": 2, "state": {"running": {}}},
                            {"name": "istio-proxy", "ready": True, "restartCount": 0, "state": {"running": {}}}]}})
    [pod] = cluster_backend("k3d", tools, cluster).list_objects("Pod")
    row = pod_row(pod, now=timegm((2026, 12, 7, 11, 5, 30)))
    assert (row.namespace, row.name, row.ready, row.status, row.restarts, row.age) == \
        ("shop", "web-1", "2/2", "Running", 2, "5m30s")
