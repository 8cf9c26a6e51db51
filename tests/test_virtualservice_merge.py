"""Two VirtualServices for one gateway host: Istio merges them, the older one's routes first
(pilot core/gateway.go; ties by name, then namespace), and so does the local lab."""

import time
import urllib.error
import urllib.request

import pytest
import yaml

from lab.backends.local.translate import translate
from lab.config import EXERCISES_DIR
from tests.conftest import by_ref
from tests.lab_process import running_lab
from tests.test_translate import BASE, PODS


def vs(name: str, created: str, prefix: str, subset: str) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: shop, creationTimestamp: '{created}'}}
spec:
  hosts: [shop.local]
  gateways: [gw]
  http:
    - match: [{{uri: {{prefix: {prefix}}}}}]
      route: [{{destination: {{host: app, subset: {subset}}}}}]
"""


def served_order(text: str) -> list[tuple[str, str]]:
    config = translate(by_ref(BASE + text), PODS)
    [host] = [vh for vh in config.route_configs["http"]["virtual_hosts"] if vh["domains"][0] == "shop.local"]
    return [(r["match"]["prefix"], r["route"]["cluster"].split("|")[2]) for r in host["routes"]]


def test_the_older_virtualservices_routes_come_first_whatever_the_names():
    older_b = vs("b", "2026-01-01T00:00:00Z", "/b", "v1") + vs("a", "2026-01-02T00:00:00Z", "/", "v2")
    assert served_order(older_b) == [("/b", "v1"), ("/", "v2")]
    older_a = vs("b", "2026-01-02T00:00:00Z", "/b", "v1") + vs("a", "2026-01-01T00:00:00Z", "/", "v2")
    assert served_order(older_a) == [("/", "v2"), ("/b", "v1")]   # a catch-all first hides b's route


def test_created_in_the_same_second_the_name_decides():
    same = vs("b", "2026-01-01T00:00:00Z", "/b", "v1") + vs("a", "2026-01-01T00:00:00Z", "/a", "v2")
    assert served_order(same) == [("/a", "v2"), ("/b", "v1")]


def test_the_later_one_is_noted_as_merged():
    config = translate(by_ref(BASE + vs("b", "2026-01-01T00:00:00Z", "/b", "v1")
                              + vs("a", "2026-01-02T00:00:00Z", "/a", "v2")), PODS)
    assert [str(ref) for ref, text in config.notes if "merged after" in text] == ["VirtualService shop/a"]


MANIFESTS = EXERCISES_DIR / "canary" / "manifests"
HEADERS_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: headers-first, namespace: canary-lab}
spec:
  hosts: [canary.lab.local]
  gateways: [canary-gateway]
  http:
    - match: [{uri: {prefix: /headers}}]
      route: [{destination: {host: tornado, port: {number: 8888}}}]
"""


def answer(lab, path: str) -> int:
    request = urllib.request.Request(lab.url + path, headers={"Host": "canary.lab.local"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.slow
def test_on_the_lab_a_second_virtualservice_comes_after_the_first_and_keeps_its_place(tmp_path):
    routing = (MANIFESTS / "gateway.yaml").read_text() + "\n---\n" + (MANIFESTS / "virtualservice.yaml").read_text()
    with running_lab(tmp_path, ("apply", "-", routing)) as lab:
        assert answer(lab, "/headers") == 200                       # httpbin answers /headers
        time.sleep(1.1)   # creation times are whole seconds: a tie would go by name
        applied = lab.invoke("apply", "-", input=HEADERS_VS)
        assert "merged after those of the VirtualServices created before it" in applied.stdout
        assert answer(lab, "/headers") == 200                       # canary's catch-all is older: still httpbin
        lab.invoke("delete", "vs", "canary", "-n", "canary-lab")
        time.sleep(1.1)
        lab.invoke("apply", "-", input=routing)                     # re-created: now the newer one
        assert answer(lab, "/headers") == 404                       # headers-first's route: tornado has no /headers
        stored = yaml.safe_load(lab.invoke("get", "vs", "canary", "-n", "canary-lab", "-o", "yaml").stdout)
        lab.invoke("apply", "-", input=yaml.safe_dump(stored))      # what `get` shows applies back, unchanged
