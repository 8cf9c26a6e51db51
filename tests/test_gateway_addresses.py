"""Each Gateway API Gateway has an address of its own, as on a cluster (Istio deploys a gateway per
Gateway): through the real CLI and Envoy, the first Gateway on the track's ports (the lab's + 1, as a
cluster's port-forward), others and further listener ports on ports the lab picks and keeps across
apply, a killed supervisor and `up`; a deleted Gateway's port stops answering. One lab for the module."""

import os
import signal
import textwrap
import urllib.error
import urllib.request

import pytest
import yaml

from lab.backends.local.backend import LocalBackend
from lab.traffic.sampler import RequestSpec, count
from tests.lab_process import new_lab
from tests.test_local_faults import wait_until
from tests.test_routing import VERSIONS, deployment

pytestmark = pytest.mark.slow

HOST = "both.lab.local"

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web-v1, namespace: shop}
spec: {selector: {app: web, version: v1}, ports: [{port: 80, targetPort: 8888}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: shop}
spec: {selector: {app: web, version: v2}, ports: [{port: 80, targetPort: 8888}]}
"""


def gateway(name: str, listeners: str) -> str:
    return textwrap.dedent(f"""
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {{name: {name}, namespace: shop}}
        spec:
          gatewayClassName: istio
          listeners: {listeners}
        """)


def route(name: str, parent: str, version: str, host: str = HOST, section: str = "") -> str:
    section = f", sectionName: {section}" if section else ""
    return textwrap.dedent(f"""
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {{name: {name}, namespace: shop}}
        spec:
          parentRefs: [{{name: {parent}{section}}}]
          hostnames: [{host}]
          rules: [{{backendRefs: [{{name: web-{version}, port: 80}}]}}]
        """)


TWO_GATEWAYS = (gateway("first", "[{name: http, port: 80, protocol: HTTP}]") + route("to-v1", "first", "v1")
                + gateway("second", "[{name: http, port: 80, protocol: HTTP}]") + route("to-v2", "second", "v2"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("gateway-addresses"))
    lab.invoke("up", "--provider", "local")
    lab.invoke("apply", "-", input=APP + deployment("v1") + deployment("v2"))
    lab.invoke("apply", "-", input=gateway("first", "[{name: http, port: 80, protocol: HTTP}]"))
    lab.invoke("apply", "-", input=TWO_GATEWAYS)
    yield lab
    lab.cleanup()


def addresses(lab) -> dict[tuple[str, int], str]:
    """(Gateway, listener port) → URL, as the lab reports them (`invoke status` prints the same)."""
    return {(ref.name, port): url for ref, _, port, url in LocalBackend(lab.paths, lab.port).gateway_addresses()}


def answers(url: str, host: str = HOST, n: int = 20) -> dict[str, int]:
    return count(url, RequestSpec(host=host), VERSIONS, n)


def status_code(url: str, host: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/", headers={"Host": host}), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_two_gateways_routing_one_host_each_answer_on_their_own_address(lab):
    """Locally they used to share the lab's port: one route was unreachable while both said Accepted."""
    found = addresses(lab)
    assert found[("first", 80)] == f"http://127.0.0.1:{lab.port + 1}"    # the first Gateway: the track's port
    assert found[("second", 80)] not in (found[("first", 80)], lab.url)
    assert answers(found[("first", 80)]) == {"v1": 20}
    assert answers(found[("second", 80)]) == {"v2": 20}
    assert status_code(lab.url, HOST) == 404          # the ingress gateway (the Istio API's) has no such host
    for name in ("to-v1", "to-v2"):
        status = yaml.safe_load(lab.invoke("get", "httproute", name, "-n", "shop").stdout)["status"]
        assert status["parents"][0]["conditions"][0]["status"] == "True"
    shown = lab.invoke("status").stdout
    assert f"Gateway shop/first: {found[('first', 80)]} (listener http, port 80)" in shown
    assert f"Gateway shop/second: {found[('second', 80)]} (listener http, port 80)" in shown


def test_a_check_sends_a_host_to_the_gateway_whose_listener_takes_it(lab):
    lab.invoke("apply", "-",
               input=gateway("named", "[{name: http, port: 80, protocol: HTTP, hostname: named.lab.local}]")
               + route("named", "named", "v2", host="named.lab.local"))
    backend = LocalBackend(lab.paths, lab.port)
    assert backend.gateway_endpoint("http", "named.lab.local")[0] == addresses(lab)[("named", 80)]
    assert backend.gateway_endpoint("http", "istio-track.lab.local")[0] == lab.url   # no Gateway takes it
    assert answers(lab.endpoint("named.lab.local"), host="named.lab.local") == {"v2": 20}


def test_listeners_on_two_ports_of_one_gateway_do_not_merge(lab):
    lab.invoke("apply", "-", input=gateway("ports", "[{name: a, port: 8080, protocol: HTTP}, "
                                                    "{name: b, port: 8090, protocol: HTTP}]")
               + route("on-b", "ports", "v2", host="ports.lab.local", section="b"))
    found = addresses(lab)
    assert found[("ports", 8080)] != found[("ports", 8090)]
    assert answers(found[("ports", 8090)], host="ports.lab.local") == {"v2": 20}
    assert status_code(found[("ports", 8080)], "ports.lab.local") == 404   # listener a has no route for it


def test_ports_are_kept_across_apply_a_killed_supervisor_and_up(lab):
    before = addresses(lab)
    lab.invoke("apply", "-", input=TWO_GATEWAYS)
    assert addresses(lab) == before
    os.kill(lab.supervisor_pid(), signal.SIGKILL)
    assert wait_until(lambda: not lab.processes.supervisor_alive())
    lab.invoke("up", "--provider", "local")
    assert addresses(lab) == before
    assert answers(before[("second", 80)]) == {"v2": 20}


def test_an_https_listener_is_reached_on_the_tracks_https_port_with_the_lab_ca(lab):
    lab.invoke("apply", "-",
               input=gateway("secure", "[{name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: "
                                                     "[{name: canary-lab-gateway-tls}]}}]")
               + route("secure", "secure", "v1", host="secure.lab.local"))
    url = addresses(lab)[("secure", 443)]
    assert url == f"https://127.0.0.1:{lab.port + 363 + 1}"
    assert count(url, RequestSpec(host="secure.lab.local", scheme="https"), VERSIONS, 20,
                 ca_file=str(lab.paths.ca_file)) == {"v1": 20}
    assert lab.endpoint("secure.lab.local", scheme="https") == url


def test_a_url_a_step_names_before_its_gateway_exists_is_the_one_it_gets(lab):
    """The walkthrough fills {{gateway_url}} before the step applies the Gateway: a promise kept."""
    promised = LocalBackend(lab.paths, lab.port).entry_url("http", True, "later.lab.local")
    assert promised != f"http://127.0.0.1:{lab.port + 1}"    # the first Gateway holds the track's port
    lab.invoke("apply", "-",
               input=gateway("later", "[{name: http, port: 80, protocol: HTTP, hostname: later.lab.local}]")
               + route("later", "later", "v1", host="later.lab.local"))
    assert addresses(lab)[("later", 80)] == promised
    assert answers(promised, host="later.lab.local") == {"v1": 20}


def test_a_deleted_gateway_stops_answering_and_gives_its_port_back(lab):
    url = addresses(lab)[("second", 80)]
    lab.invoke("delete", "httproute", "to-v2", "-n", "shop")
    lab.invoke("delete", "gtw", "second", "-n", "shop")
    assert ("second", 80) not in addresses(lab)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/", timeout=2)
    assert "second" not in str(LocalBackend(lab.paths, lab.port).live_routes())
