"""A Service's targetPort on the real local lab: requests reach a pod only where a cluster's
would (the image's port, or a container port's name), and otherwise get the cluster's 503, with
apply and status saying why in one line."""

import copy
import urllib.error
import urllib.request

import pytest
import yaml

from lab.config import EXERCISES_DIR, PROJECT_DIR
from tests.lab_process import running_lab

pytestmark = pytest.mark.slow

MANIFESTS = EXERCISES_DIR / "canary" / "manifests"
ROUTING = (MANIFESTS / "gateway.yaml").read_text() + "\n---\n" + (MANIFESTS / "virtualservice.yaml").read_text()
SAMPLE = list(yaml.safe_load_all((PROJECT_DIR / "apps" / "sample-apps.yaml").read_text()))
DEPLOYMENT, SERVICE = SAMPLE[1], SAMPLE[2]


def service(target) -> str:
    changed = copy.deepcopy(SERVICE)
    changed["spec"]["ports"][0]["targetPort"] = target
    return yaml.safe_dump(changed)


def named_container_port(name: str) -> str:
    changed = copy.deepcopy(DEPLOYMENT)
    changed["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": name, "containerPort": 8080}]
    return yaml.safe_dump(changed)


def status_of(lab) -> int:
    request = urllib.request.Request(lab.url + "/get", headers={"Host": "canary.lab.local"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_target_port_decides_whether_requests_reach_the_pods(tmp_path):
    with running_lab(tmp_path, ("apply", "-", ROUTING)) as lab:
        assert status_of(lab) == 200

        wrong = lab.invoke("apply", "-", input=service(8081))
        assert "note:" in wrong.stdout and "targets 8081" in wrong.stdout and "listen on 8080" in wrong.stdout
        assert status_of(lab) == 503          # as a cluster: connections to :8081 are refused
        assert "targets 8081" in lab.invoke("status").stdout

        lab.invoke("apply", "-", input=named_container_port("http"))
        lab.invoke("apply", "-", input=service("http"))
        assert status_of(lab) == 200          # the name resolves to containerPort 8080
        assert "targets" not in lab.invoke("status").stdout

        unnamed = lab.invoke("apply", "-", input=service("web"))
        assert "no container port of httpbin's pods is named web" in unnamed.stdout
        assert status_of(lab) == 503
