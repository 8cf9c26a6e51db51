"""Which loopback port each Gateway API listener gets on the local lab, and which Gateway a host goes
to — without processes (the real-Envoy side is tests/test_gateway_addresses.py)."""

import socket

import pytest

from lab.backends.local.gateway_addresses import GatewayPorts, listener_for, track_port
from lab.backends.local.gateway_api_routes import gateway_listeners
from lab.files import DamagedFile
from lab.ports import free_port, port_in_use
from tests.test_gateway_api import store


def gateway(name: str, listeners: str, created: str = "2026-01-01T00:00:00Z") -> str:
    return f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: shop, creationTimestamp: '{created}'}}
spec:
  gatewayClassName: istio
  listeners: {listeners}
"""


def route(name: str, parent: str, hostnames: str) -> str:
    return f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: shop}}
spec:
  parentRefs: [{{name: {parent}}}]
  hostnames: {hostnames}
"""


NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"""


@pytest.fixture
def lab_port():
    """A lab port whose track ports (+ 1, and the HTTPS one's + 1) are free."""
    for _ in range(50):
        port = free_port()
        if port < 65000 and not any(port_in_use(p) for p in (port + 1, port + 364)):
            return port
    pytest.skip("no free pair of ports")


def assign(tmp_path, lab_port: int, text: str, taken: frozenset[int] = frozenset()) -> dict[str, int]:
    held = store(NAMESPACE + text)
    ports = GatewayPorts(tmp_path, lab_port)
    found = ports.assign(gateway_listeners(held, {}, {}), held, set(taken))
    ports.save(found)
    return found


def test_the_oldest_gateways_first_ports_get_the_tracks_and_the_rest_free_ones(tmp_path, lab_port):
    found = assign(tmp_path, lab_port,
                   gateway("newer", "[{name: a, port: 80, protocol: HTTP}]", "2026-06-01T00:00:00Z")
                   + gateway("older",
                             "[{name: web, port: 9090, protocol: HTTP}, {name: admin, port: 8080, protocol: HTTP},"
                             " {name: tls, port: 443, protocol: HTTPS,"
                             " tls: {certificateRefs: [{name: canary-lab-gateway-tls}]}}]"))
    assert found["shop/older:9090"] == track_port(lab_port, "http") == lab_port + 1   # its first listener
    assert found["shop/older:443"] == track_port(lab_port, "https") == lab_port + 364
    others = {found["shop/older:8080"], found["shop/newer:80"]}
    assert len(others) == 2 and not others & {lab_port, lab_port + 1, lab_port + 363, lab_port + 364}


def test_a_port_once_given_is_kept_and_a_deleted_gateways_comes_back(tmp_path, lab_port):
    first = assign(tmp_path, lab_port, gateway("a", "[{name: h, port: 80, protocol: HTTP}]"))
    both = assign(tmp_path, lab_port, gateway("a", "[{name: h, port: 80, protocol: HTTP}]")
                  + gateway("b", "[{name: h, port: 80, protocol: HTTP}]", "2025-01-01T00:00:00Z"))
    assert both["shop/a:80"] == first["shop/a:80"] == lab_port + 1   # b is older, but a holds the port
    assert both["shop/b:80"] != lab_port + 1
    alone = assign(tmp_path, lab_port, gateway("b", "[{name: h, port: 80, protocol: HTTP}]", "2025-01-01T00:00:00Z"))
    assert alone == {"shop/b:80": both["shop/b:80"]}
    again = assign(tmp_path, lab_port, gateway("b", "[{name: h, port: 80, protocol: HTTP}]", "2025-01-01T00:00:00Z")
                   + gateway("c", "[{name: h, port: 80, protocol: HTTP}]"))
    assert again["shop/c:80"] == lab_port + 1    # a's port went back when a went


def test_a_track_port_another_program_holds_or_the_lab_took_is_not_given(tmp_path, lab_port):
    with socket.socket() as other:
        other.bind(("127.0.0.1", lab_port + 1))
        other.listen(1)
        found = assign(tmp_path, lab_port, gateway("a", "[{name: h, port: 80, protocol: HTTP}]"))
    assert found["shop/a:80"] != lab_port + 1
    taken = frozenset(range(found["shop/a:80"] - 5, found["shop/a:80"] + 5))
    fresh = assign(tmp_path / "x", lab_port, gateway("a", "[{name: h, port: 8080, protocol: HTTP}]")
                   + gateway("b", "[{name: h, port: 80, protocol: HTTP}]"), taken=taken)
    assert fresh["shop/b:80"] not in taken


def test_a_promised_port_is_the_one_its_hosts_gateway_gets(tmp_path, lab_port):
    ports = GatewayPorts(tmp_path, lab_port)
    assert ports.promise("http", "first.lab.local") == lab_port + 1   # free: the track's, nothing kept
    assign(tmp_path, lab_port, gateway("a", "[{name: h, port: 80, protocol: HTTP}]"))
    promised = ports.promise("http", "later.lab.local")
    assert promised != lab_port + 1 and ports.promise("http", "later.lab.local") == promised
    assign(tmp_path, lab_port, gateway("a", "[{name: h, port: 80, protocol: HTTP}]"))   # an apply keeps promises
    assert ports.promise("http", "later.lab.local") == promised
    assert ports.promise("http", "other.lab.local") not in (promised, lab_port + 1)
    found = assign(tmp_path, lab_port, gateway("a", "[{name: h, port: 80, protocol: HTTP}]")
                   + gateway("z", "[{name: h, port: 80, protocol: HTTP}]")
                   + gateway("later", "[{name: h, port: 80, protocol: HTTP, hostname: later.lab.local}]"))
    assert found["shop/later:80"] == promised
    assert found["shop/z:80"] != promised


ROUTED = (gateway("exact", "[{name: h, port: 80, protocol: HTTP, hostname: shop.lab.local}]", "2026-06-01T00:00:00Z")
          + gateway("wide", "[{name: h, port: 80, protocol: HTTP, hostname: '*.lab.local'}]")
          + gateway("wider", "[{name: h, port: 80, protocol: HTTP, hostname: '*.local'}]")
          + gateway("any", "[{name: h, port: 80, protocol: HTTP}, "
                           "{name: s, port: 443, protocol: HTTPS, "
                           "tls: {certificateRefs: [{name: canary-lab-gateway-tls}]}}]")
          + route("on-any", "any", "[routed.lab.local]"))


@pytest.mark.parametrize("scheme, host, listener", [
    ("http", "shop.lab.local", "shop/exact:80"),          # an exact hostname beats the wildcards, older or not
    ("http", "cart.lab.local", "shop/wide:80"),           # the longest wildcard
    ("http", "cart.other.local", "shop/wider:80"),
    ("http", "routed.lab.local", "shop/any:80"),          # an attached route's hostname is exact
    ("http", "elsewhere.example.com", None),              # a listener without hostname claims nothing
    ("https", "routed.lab.local", "shop/any:443"),
    ("http", "", None),
])
def test_a_host_goes_to_the_listener_that_picks_it_most_specifically(scheme, host, listener):
    assert listener_for(store(NAMESPACE + ROUTED), scheme, host) == listener


def test_on_a_tie_the_oldest_gateway_takes_the_host():
    tie = (gateway("b", "[{name: h, port: 80, protocol: HTTP, hostname: '*.lab.local'}]", "2026-01-01T00:00:00Z")
           + gateway("a", "[{name: h, port: 80, protocol: HTTP, hostname: '*.lab.local'}]", "2026-06-01T00:00:00Z"))
    assert listener_for(store(NAMESPACE + tie), "http", "x.lab.local") == "shop/b:80"


@pytest.mark.parametrize("gateways, host, listener", [
    # an exact hostname beats a wildcard of the same length, however old the wildcard's Gateway
    (gateway("old", "[{name: h, port: 80, protocol: HTTP, hostname: '*.lab.local'}]")
     + gateway("new", "[{name: h, port: 80, protocol: HTTP, hostname: a.lab.local}]", "2026-06-01T00:00:00Z"),
     "a.lab.local", "shop/new:80"),
    # the listener's best name counts: an attached route's exact hostname over its own wildcard
    (gateway("old", "[{name: h, port: 80, protocol: HTTP, hostname: '*.lab.local'}]")
     + gateway("new", "[{name: h, port: 80, protocol: HTTP, hostname: shop.lab.local}]", "2026-06-01T00:00:00Z")
     + route("on-old", "old", "[shop.lab.local]"), "shop.lab.local", "shop/old:80"),
    # equally specific: the one with routes for it, though newer
    (gateway("old", "[{name: h, port: 80, protocol: HTTP, hostname: '*.lab.local'}]")
     + gateway("new", "[{name: h, port: 80, protocol: HTTP, hostname: '*.lab.local'}]", "2026-06-01T00:00:00Z")
     + route("on-new", "new", "['*.lab.local']"), "x.lab.local", "shop/new:80"),
    # a later listener of a Gateway whose first does not take the host
    (gateway("two", "[{name: x, port: 80, protocol: HTTP, hostname: x.lab.local}, "
                    "{name: y, port: 81, protocol: HTTP, hostname: y.lab.local}]"), "y.lab.local", "shop/two:81"),
    # two listener ports taking the host alike: the first, as a cluster forwards to the first HTTP port
    (gateway("two", "[{name: x, port: 81, protocol: HTTP, hostname: '*.lab.local'}, "
                    "{name: y, port: 80, protocol: HTTP, hostname: '*.lab.local'}]"), "y.lab.local", "shop/two:81"),
])
def test_ties_between_listeners_are_broken_as_a_learner_would_expect(gateways, host, listener):
    assert listener_for(store(NAMESPACE + gateways), "http", host) == listener


@pytest.mark.parametrize("text", ['{"listeners": {"shop/web:80": "x"}}', '{"listeners": {"shop/web:80": 0}}',
                                  '{"listeners": []}', '{"listners": {}}', "{not json"])
def test_a_damaged_ports_file_is_named_and_kept_not_a_crash(tmp_path, lab_port, text):
    # The file is the lab's own; a hand edit gone wrong gets one line with the fix, and stays for the learner.
    (tmp_path / "gateway-api-ports.json").write_text(text)
    with pytest.raises(DamagedFile, match="gateway-api-ports.json is damaged") as caught:
        GatewayPorts(tmp_path, lab_port).remembered()
    assert "delete it" in caught.value.fix
    assert (tmp_path / "gateway-api-ports.json").read_text() == text
