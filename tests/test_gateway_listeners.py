"""Istio's listener model on its own: hostname comparison as Istio's host package does it (the facts of
pkg/config/host/name_test.go TestNameMatches and TestNameSubsetOf), supported kinds and listener
conflicts (gatewaycommon/conversion.go, listener_conflict.go)."""

import pytest

from lab.backends.local.gateway_listeners import (
    allowed_by_isolation,
    hostnames_served,
    listener_conflicts,
    supported_kinds,
)
from lab.hosts import hosts_overlap, subset_of

GROUP = "gateway.networking.k8s.io"


@pytest.mark.parametrize("a, b, overlap", [
    ("", "", True), ("", "foo.com", False), ("foo.com", "", False),
    ("foo.com", "foo.com", True), ("bar.com", "foo.com", False),
    ("bar.foo.com", "foo.com", False), ("foo.com", "bar.foo.com", False),
    ("*.com", "foo.com", True), ("*.foo.com", "bar.foo.com", True),
    ("*", "foo.com", True), ("*", "*.com", True), ("*", "com", True), ("*", "*", True), ("*", "", True),
    ("*.com", "*.foo.com", True), ("*.foo.com", "*.com", True),
    ("foo.com", "*.foo.com", False), ("*.foo.com", "foo.com", False),
    ("*.foo.bar.baz", "baz", False), ("baz", "*.foo.bar.baz", False),
    ("*.foo.bar.baz", "*.baz", True), ("foo.bar.baz", "*.baz", True),
    ("a.facebook.com", "*.facebook.COM", False),   # no case folding
    ("*.com", "*.xcom", False), ("*.xcom", "*.com", False), ("*.com", "xcom", False), ("xcom", "*.com", False),
])
def test_hostnames_overlap_as_istio_matches_them(a, b, overlap):
    assert hosts_overlap(a, b) is overlap


@pytest.mark.parametrize("host, of, covered", [
    ("", "", True), ("", "foo.com", False), ("foo.com", "", False),
    ("foo.com", "foo.com", True), ("bar.com", "foo.com", False),
    ("bar.foo.com", "foo.com", False), ("foo.com", "bar.foo.com", False),
    ("foo.com", "*.com", True), ("bar.foo.com", "*.foo.com", True),
    ("foo.com", "*", True), ("*.com", "*", True), ("com", "*", True), ("*", "*", True), ("", "*", True),
    ("*.foo.com", "*.com", True), ("*.com", "*.foo.com", False), ("*.foo.com", "foo.com", False),
    ("*.foo.bar.baz", "baz", False), ("foo.bar.baz", "*.baz", True), ("*", "*.com", False),
    ("*.xcom", "*.com", False), ("xcom", "*.com", False),
])
def test_one_hostname_covers_another_as_istio_subset_of_says(host, of, covered):
    assert subset_of(host, of) is covered


def listener(name: str, port: int = 80, protocol: str = "HTTP", hostname: str = "", kinds=None) -> dict:
    entry = {"name": name, "port": port, "protocol": protocol, **({"hostname": hostname} if hostname else {})}
    if kinds is not None:
        entry["allowedRoutes"] = {"kinds": kinds}
    return entry


def test_later_listeners_on_an_earlier_ones_port_and_hostname_conflict():
    assert listener_conflicts([
        listener("a", hostname="x.com"), listener("b", hostname="x.com"),                       # same: hostname
        listener("c", protocol="HTTPS", hostname="x.com"),                                       # other protocol
        listener("d"), listener("e", protocol="HTTPS"),                                          # no hostname = "*"
        listener("f", port=81, hostname="x.com"), listener("g", hostname="y.com"),               # distinct
    ]) == {"b": "HostnameConflict", "c": "ProtocolConflict", "e": "ProtocolConflict"}


@pytest.mark.parametrize("kinds, taken, valid", [
    (None, ["HTTPRoute", "GRPCRoute"], True),
    ([{"kind": "HTTPRoute"}], ["HTTPRoute"], True),
    ([{"kind": "HTTPRoute", "group": GROUP}, {"kind": "GRPCRoute"}], ["HTTPRoute", "GRPCRoute"], True),
    ([{"kind": "TCPRoute"}], [], False),
    ([{"kind": "HTTPRoute", "group": "example.com"}], [], False),
    ([{"kind": "HTTPRoute"}, {"kind": "HTTPRoute"}], ["HTTPRoute"], False),   # Istio counts the entries
])
def test_a_listener_takes_the_route_kinds_istio_supports_for_its_protocol(kinds, taken, valid):
    found, is_valid = supported_kinds(listener("a", kinds=kinds))
    assert [k["kind"] for k in found] == taken and all(k["group"] == GROUP for k in found)
    assert is_valid is valid


ISOLATED = [listener("empty"), listener("wild", hostname="*.example.com"),
            listener("wilder", hostname="*.foo.example.com"), listener("abc", hostname="abc.foo.example.com"),
            listener("other-port", port=81, hostname="*.bar.com")]


@pytest.mark.parametrize("on, route, served", [
    ("empty", ["*"], ["*"]),
    ("empty", ["bar.com", "*.example.com", "*.foo.example.com", "abc.foo.example.com"], ["bar.com"]),
    ("empty", ["x.bar.com"], ["x.bar.com"]),   # a listener on another port owns nothing here
    ("wild", ["*"], ["*.example.com"]),
    ("wild", ["bar.com", "*.example.com", "*.foo.example.com", "abc.foo.example.com"], ["*.example.com"]),
    ("wilder", ["bar.com", "*.example.com", "*.foo.example.com", "abc.foo.example.com"], ["*.foo.example.com"]),
    ("abc", ["bar.com", "*.example.com", "*.foo.example.com", "abc.foo.example.com"], ["abc.foo.example.com"]),
])
def test_a_broader_listener_leaves_a_more_specific_ones_hostnames_to_it(on, route, served):
    """GatewayHTTPListenerIsolation's hostnames (gateway-http-listener-isolation*.yaml)."""
    [ours] = [entry for entry in ISOLATED if entry["name"] == on]
    assert hostnames_served(ours, ISOLATED, route) == served


def test_isolation_compares_with_listeners_of_the_same_port_and_protocol_only():
    ours = listener("empty")
    assert allowed_by_isolation("a.example.com", ours, [ours, listener("w", port=81, hostname="*.example.com")])
    assert allowed_by_isolation("a.example.com", ours,
                                [ours, listener("w", protocol="HTTPS", hostname="*.example.com")])
    assert not allowed_by_isolation("a.example.com", ours, [ours, listener("w", hostname="*.example.com")])
    # an exact listener as long as our wildcard still owns its hostname
    wild, exact = listener("wild", hostname="*.a.com"), listener("exact", hostname="b.a.com")
    assert hostnames_served(wild, [wild, exact], ["b.a.com", "c.a.com"]) == ["c.a.com"]
