"""get, delete and logs through the real `invoke`, with kubectl's habits, on a real local lab."""

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

from lab.config import EXERCISES_DIR, PROJECT_DIR
from lab.exercises.catalogue import exercise_names, load_exercise
from tests.lab_process import ctrl_c, new_lab

pytestmark = pytest.mark.slow

MANIFESTS = EXERCISES_DIR / "canary" / "manifests"
ROUTED = EXERCISES_DIR / "canary" / "solutions" / "virtualservice-80-20.yaml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("everyday"))
    lab.invoke("up", "--provider", "local")
    lab.invoke("apply", str(MANIFESTS / "gateway.yaml"))
    lab.invoke("apply", str(ROUTED))
    yield lab
    lab.cleanup()


def status_of(lab, host="canary.lab.local") -> int:
    request = urllib.request.Request(lab.url + "/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def refused(result, *phrases):
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for phrase in phrases:
        assert phrase in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize("kind", ["vs", "virtualservice", "VirtualServices", "virtualservice.networking.istio.io"])
def test_get_kind_lists_a_table_whatever_the_spelling(lab, kind):
    listed = lab.invoke("get", kind, "-n", "canary-lab").stdout
    assert "virtualservices in namespace canary-lab" in listed
    assert "canary" in listed and "hosts canary.lab.local" in listed


def test_get_lists_every_namespace_without_n_and_nothing_in_an_empty_one(lab):
    assert "httpbin" in lab.invoke("get", "deploy").stdout and "tornado" in lab.invoke("get", "deploy").stdout
    assert "No deployments in namespace default in the lab." in lab.invoke("get", "deploy", "-n", "default").stdout


def test_get_one_object_as_yaml_or_json(lab):
    as_yaml = yaml.safe_load(lab.invoke("get", "vs", "canary", "-o", "yaml").stdout)
    as_json = json.loads(lab.invoke("get", "vs", "canary", "--namespace", "canary-lab", "-o", "json").stdout)
    assert as_yaml == as_json
    assert as_json["kind"] == "VirtualService" and as_json["metadata"]["name"] == "canary"
    listed = json.loads(lab.invoke("get", "svc", "-o", "json").stdout)
    assert listed["kind"] == "List" and {"httpbin", "tornado"} <= {i["metadata"]["name"] for i in listed["items"]}


def test_a_name_that_is_not_there_suggests_the_closest_one_and_its_namespace(lab):
    refused(lab.invoke("get", "vs", "canry", check=False), "did you mean canary in namespace canary-lab?")
    refused(lab.invoke("get", "vs", "canary", "-n", "default", check=False),
            "did you mean canary in namespace canary-lab?")
    refused(lab.invoke("get", "vz", check=False), "unknown kind 'vz'", "did you mean VirtualService (vs)?")
    refused(lab.invoke("get", "vs", "-o", "wide", check=False), "-o yaml or -o json")


@pytest.mark.parametrize("task", ["get", "patch", "delete", "logs"])
def test_help_works_for_tasks_with_positional_arguments(lab, task):
    shown = lab.invoke(task, "--help").stdout
    assert shown.startswith("Usage:") and f" {task} " in shown
    assert ("--follow" if task == "logs" else "-n STRING, --namespace=STRING") in shown


def test_delete_stops_serving_the_route_and_a_second_delete_is_one_line(lab):
    assert status_of(lab) == 200
    said = lab.invoke("delete", "vs", "canary", "-n", "canary-lab").stdout
    assert "virtualservice/canary deleted" in said
    assert status_of(lab) == 404                          # the gateway no longer routes the host
    assert "No virtualservices" in lab.invoke("get", "vs").stdout
    refused(lab.invoke("delete", "vs", "canary", check=False), "not in the lab; nothing was deleted")
    lab.invoke("apply", str(ROUTED))
    assert status_of(lab) == 200


def test_delete_f_removes_what_the_file_holds(lab):
    said = lab.invoke("delete", "-f", str(ROUTED)).stdout
    assert "virtualservice/canary deleted" in said and status_of(lab) == 404
    lab.invoke("apply", str(ROUTED))


def test_delete_is_all_or_nothing(lab):
    # A Service the VirtualService still routes to: the rest could not be served, so nothing goes.
    before = lab.invoke("get", "svc", "-o", "json").stdout
    refused(lab.invoke("delete", "svc", "httpbin", check=False), "not deleted", "matches no Service")
    assert lab.invoke("get", "svc", "-o", "json").stdout == before and status_of(lab) == 200
    # One missing object among several: nothing is deleted either.
    both = lab.root / "both.yaml"
    both.write_text(ROUTED.read_text() + "\n---\n" + yaml.safe_dump(
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "ghost", "namespace": "canary-lab"}, "spec": {"hosts": ["ghost"]}}))
    refused(lab.invoke("delete", "-f", str(both), check=False), "VirtualService canary-lab/ghost not in the lab")
    assert status_of(lab) == 200


def test_logs_of_the_gateway_and_of_a_deployments_pod(lab):
    gateway = lab.invoke("logs", "gateway").stdout.splitlines()
    assert any("envoy" in line or "[info]" in line or "[warning]" in line for line in gateway)
    assert lab.invoke("logs", "gateway", "--tail", "2").stdout.splitlines() == gateway[-2:]
    assert "gunicorn" in lab.invoke("logs", "httpbin").stdout.lower() or \
        "listening" in lab.invoke("logs", "httpbin").stdout.lower()
    refused(lab.invoke("logs", "htpbin", check=False), "no pod or Deployment named 'htpbin'", "did you mean httpbin?")


def test_logs_follow_shows_new_lines_until_ctrl_c(lab):
    follow = subprocess.Popen([sys.executable, "-m", "invoke", "logs", "gateway", "-f", "--tail", "1"],
                              cwd=PROJECT_DIR, env=lab.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follow.stdout.readline()                    # the last line, at once
        with open(lab.processes.log_file("gateway"), "a") as log:   # as if Envoy wrote a line
            log.write("a line written while following\n")
        assert follow.stdout.readline().strip() == "a line written while following"
        assert follow.poll() is None                       # still following
    finally:
        out, err = ctrl_c(follow)
    assert follow.returncode == 130 and "Traceback" not in err


def test_traffic_explains_status_codes_that_are_no_apps_answer_and_names_its_headers(lab):
    shown = " ".join(lab.invoke("traffic", "--requests", "12", "--host", "nowhere.lab.local").stdout.split())
    assert "404 ×12 — no route for this host and path (NR): is the Host header right?" in shown
    shown = " ".join(lab.invoke("traffic", "--requests", "10", "--header", "x-track: canary").stdout.split())
    assert "10 requests to canary.lab.local/ with x-track: canary" in shown and "×" not in shown.split("share")[-1]
    lab.invoke("delete", "deploy", "httpbin")          # the route stays, nothing runs behind it
    try:
        shown = " ".join(lab.invoke("traffic", "--requests", "40").stdout.split())
        assert "no healthy upstream (UH): is the app up? `invoke status`" in shown
        assert "503 ×" in shown and "tornado" in shown
    finally:
        lab.invoke("apply", str(PROJECT_DIR / "apps" / "sample-apps.yaml"))
    assert status_of(lab) == 200


def test_up_and_status_say_where_the_learner_stands_and_what_to_play_next(lab):
    steps = [s.name for s in load_exercise("canary").steps]
    progress = lab.root / ".lab" / "progress.json"
    progress.write_text(json.dumps({"exercises": {"canary": {"done": steps[:3]}}}))
    status = " ".join(lab.invoke("status").stdout.split())
    assert f"canary (3/{len(steps)} steps)" in status
    up = " ".join(lab.invoke("up").stdout.split())
    assert f"Next: invoke exercise canary (resumes at step 4/{len(steps)}: {steps[3]})" in up
    listed = " ".join(lab.invoke("exercises").stdout.split())
    assert f"3/{len(steps)} steps" in listed
    # a step skipped (a cluster-only one on the local lab) counts as seen, in the list as in status
    progress.write_text(json.dumps({"exercises": {"canary": {"done": steps[:-1], "skipped": steps[-1:]}}}))
    assert "canary (complete)" in " ".join(lab.invoke("status").stdout.split())
    assert re.search(r"│ complete\s*│", lab.invoke("exercises").stdout.split("progressive")[0])
    progress.write_text(json.dumps({"exercises": {"canary": {"done": steps}}}))
    following = next(n for n in exercise_names() if n != "canary")
    assert "canary (complete)" in " ".join(lab.invoke("status").stdout.split())
    assert f"Next: invoke exercise {following} " in " ".join(lab.invoke("up").stdout.split()) + " "
    progress.unlink()


GATEWAY_API_BROKEN = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: errors, namespace: canary-lab}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: errors.lab.local}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: errors, namespace: canary-lab}
spec:
  parentRefs: [{name: errors}]
  hostnames: [errors.lab.local]
  rules: [{backendRefs: [{name: nope, port: 80}]}]
"""


def test_traffic_tells_the_gateways_own_500_from_an_apps(lab, tmp_path):
    # Envoy marks what an upstream answered (x-envoy-upstream-service-time); its own replies carry no mark.
    shown = " ".join(lab.invoke("traffic", "--requests", "10", "--path", "/status/500").stdout.split())
    assert re.search(r"500 ×\d+ — an error from the app", shown) and "gateway's own" not in shown, shown
    broken = tmp_path / "broken.yaml"
    broken.write_text(GATEWAY_API_BROKEN)
    lab.invoke("apply", str(broken))
    try:
        shown = " ".join(lab.invoke("traffic", "--requests", "10", "--host", "errors.lab.local").stdout.split())
        assert "500 ×10 — the gateway's own answer, no app was asked" in shown, shown
        # and `get` sums up the Gateway API's kinds as kubectl's columns do
        routes = " ".join(lab.invoke("get", "httproute", "-n", "canary-lab").stdout.split())
        assert "hostnames errors.lab.local; parents errors" in routes, routes
        gateways = " ".join(lab.invoke("get", "gtw", "-n", "canary-lab").stdout.split())
        assert "class istio; listeners http HTTP/80 errors.lab.local" in gateways, gateways
    finally:
        lab.invoke("delete", "-f", str(broken))
