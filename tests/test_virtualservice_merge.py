"""Two VirtualServices for one gateway host: Istio appends their routes, the older one's first
(pilot/pkg/model/push_context.go VirtualServicesForGateway over configs sorted by creation time;
ties by name, then namespace), then moves the catch-all routes alone to the end
(pilot/pkg/networking/core/gateway.go → route.go SortVHostRoutes). So an older VirtualService's
catch-all never hides a newer one's specific route; between specific routes, the older one's wins."""

import time
import urllib.error
import urllib.request

import pytest
import yaml

from lab.backends.local.translate import translate
from lab.config import EXERCISES_DIR
from lab.routes import expected_routes
from tests.conftest import by_ref, objects
from tests.lab_process import running_lab
from tests.test_translate import BASE, PODS


def vs(name: str, created: str, prefix: str, subset: str) -> str:
    stamp = f", creationTimestamp: '{created}'" if created else ""
    match = f"match: [{{uri: {{prefix: {prefix}}}}}]\n      " if prefix else ""
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: shop{stamp}}}
spec:
  hosts: [shop.local]
  gateways: [gw]
  http:
    - {match}route: [{{destination: {{host: app, subset: {subset}}}}}]
"""


def served_order(text: str) -> list[tuple[str, str]]:
    config = translate(by_ref(BASE + text), PODS)
    [host] = [vh for vh in config.route_configs["http"]["virtual_hosts"] if vh["domains"][0] == "shop.local"]
    return [(r["match"]["prefix"], r["route"]["cluster"].split("|")[2]) for r in host["routes"]]


OLD, NEW = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def test_between_specific_routes_the_older_virtualservices_come_first_whatever_the_names():
    assert served_order(vs("b", OLD, "/b", "v1") + vs("a", NEW, "/a", "v2")) == [("/b", "v1"), ("/a", "v2")]
    assert served_order(vs("b", NEW, "/b", "v1") + vs("a", OLD, "/a", "v2")) == [("/a", "v2"), ("/b", "v1")]


def test_an_older_catch_all_goes_after_a_newer_virtualservices_specific_route():
    assert served_order(vs("a", OLD, "", "v2") + vs("b", NEW, "/b", "v1")) == [("/b", "v1"), ("/", "v2")]
    assert served_order(vs("a", OLD, "/", "v2") + vs("b", NEW, "/b", "v1")) == [("/b", "v1"), ("/", "v2")]


def test_catch_alls_keep_their_order_among_themselves_so_the_older_one_answers():
    assert served_order(vs("b", OLD, "", "v1") + vs("a", NEW, "", "v2")) == [("/", "v1"), ("/", "v2")]
    assert served_order(vs("b", NEW, "", "v1") + vs("a", OLD, "", "v2")) == [("/", "v2"), ("/", "v1")]


def test_created_in_the_same_second_the_name_decides():
    same = vs("b", OLD, "/b", "v1") + vs("a", OLD, "/a", "v2")
    assert served_order(same) == [("/a", "v2"), ("/b", "v1")]


def test_a_virtualservice_not_created_yet_is_predicted_to_merge_last():
    """What the cluster path waits for on apply (lab/routes.py): the VirtualService being applied has
    no creationTimestamp yet, and on a cluster it becomes the newest, so its route goes after the
    stored one's, whatever the names."""
    stored = objects(BASE + vs("b", OLD, "/b", "v1"))
    applying = objects(vs("a", "", "/a", "v2"))
    predicted = expected_routes(applying, stored)[("http", "shop.local")]
    v1 = [("app.shop", "v1", 100)]
    v2 = [("app.shop", "v2", 100)]
    assert predicted == [v1, v2]


def test_the_later_one_is_noted_as_merged():
    config = translate(by_ref(BASE + vs("b", OLD, "/b", "v1") + vs("a", NEW, "/a", "v2")), PODS)
    [text] = [text for ref, text in config.notes if "merged after" in text and str(ref) == "VirtualService shop/a"]
    assert "catch-all routes (no match, prefix /) go last" in text


MANIFESTS = EXERCISES_DIR / "canary" / "manifests"


def headers_vs(name: str, host: str, port: int) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: canary-lab}}
spec:
  hosts: [canary.lab.local]
  gateways: [canary-gateway]
  http:
    - match: [{{uri: {{prefix: /headers}}}}]
      route: [{{destination: {{host: {host}, port: {{number: {port}}}}}}}]
"""


def answer(lab, path: str) -> int:
    request = urllib.request.Request(lab.url + path, headers={"Host": "canary.lab.local"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.slow
def test_on_the_lab_a_newer_virtualservices_route_is_served_before_an_older_catch_all(tmp_path):
    routing = (MANIFESTS / "gateway.yaml").read_text() + "\n---\n" + (MANIFESTS / "virtualservice.yaml").read_text()
    with running_lab(tmp_path, ("apply", "-", routing)) as lab:
        assert answer(lab, "/headers") == 200                       # canary's catch-all: httpbin answers /headers
        time.sleep(1.1)   # creation times are whole seconds: a tie would go by name
        applied = lab.invoke("apply", "-", input=headers_vs("to-tornado", "tornado", 8888))
        assert "merged after those of the VirtualServices created before it" in applied.stdout
        assert answer(lab, "/headers") == 404                       # tornado's: it has no /headers
        assert answer(lab, "/get") == 200                           # the rest still takes canary's catch-all
        time.sleep(1.1)
        lab.invoke("apply", "-", input=headers_vs("to-httpbin", "httpbin", 8000))
        assert answer(lab, "/headers") == 404                       # the older of two specific routes wins
        stored = yaml.safe_load(lab.invoke("get", "vs", "canary", "-n", "canary-lab", "-o", "yaml").stdout)
        lab.invoke("apply", "-", input=yaml.safe_dump(stored))      # what `get` shows applies back, unchanged
