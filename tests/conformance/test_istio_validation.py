"""Istio's own validation tables, as cases for the lab (Istio release-1.31).

Each case names the Istio test it comes from: pkg/config/validation/validation_test.go (TestValidate...),
pkg/config/validation/agent/validation_test.go (TestValidateWildcardDomain, TestValidateFQDN,
TestValidatePort) and pkg/config/labels/instance_test.go (TestInstanceValidate). The facts are Istio's
(valid or not); the objects are written here as a learner would, around the same values. A valid case
is accepted (or, out of the local lab's scope, refused naming the field, while the cluster backend's
check takes it); an invalid one is refused, saying Istio refuses it; weights that do not add up to
100 are refused as the lab's own convention, saying so.
"""

import pytest

from lab.backends.local.schema import check_object
from lab.errors import ManifestError
from lab.validate import validate
from tests.conformance.validation_cases import ACCEPTED, CLUSTER_ONLY, CONVENTION, REFUSED, Case, judge

NETWORKING = "networking.istio.io/v1"


def vs(hosts=("foo.bar",), gateways=("lab-gateway",), http=None, **more) -> dict:
    spec = {"hosts": list(hosts), **({"gateways": list(gateways)} if gateways is not None else {}),
            "http": http if http is not None else [route(to("foo.baz"))], **more}
    return {"apiVersion": NETWORKING, "kind": "VirtualService", "metadata": {"name": "routes", "namespace": "lab"},
            "spec": spec}


def route(*destinations, **more) -> dict:
    return {"route": list(destinations), **more}


def to(host=None, weight=None, **destination) -> dict:
    return {"destination": {**({"host": host} if host is not None else {}), **destination},
            **({"weight": weight} if weight is not None else {})}


def mesh_vs(hosts=("foo.bar",), http=None) -> dict:
    return vs(hosts, gateways=None, http=http)


def rule(host="reviews", subsets=({"name": "v1", "labels": {"version": "v1"}},), **more) -> dict:
    return {"apiVersion": NETWORKING, "kind": "DestinationRule", "metadata": {"name": "reviews", "namespace": "lab"},
            "spec": {"host": host, "subsets": list(subsets), **more}}


def labelled(labels: dict) -> dict:
    return rule(subsets=[{"name": "v1", "labels": labels}])


def gateway(*servers, name="lab-gateway") -> dict:
    return {"apiVersion": NETWORKING, "kind": "Gateway", "metadata": {"name": name, "namespace": "lab"},
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": list(servers)}}


def server(hosts=("foo.bar.com",), number=80, name="http", protocol="HTTP", **more) -> dict:
    port = {k: v for k, v in (("number", number), ("name", name), ("protocol", protocol)) if v is not None}
    return {"port": port, "hosts": list(hosts), **more}


def weighted(*weights) -> dict:
    zones = ("south", "east", "west")   # as many as there are weights
    return vs(http=[route(*(to(f"foo.baz.{zone}", w) for zone, w in zip(zones, weights, strict=False)))])


def at_port(number) -> dict:
    return vs(http=[route(to("foo.baz", port={"number": number}))])


WILDCARD = "agent TestValidateWildcardDomain"
FQDN = "agent TestValidateFQDN"
PORT = "agent TestValidatePort"
VIRTUAL_SERVICE = "validation TestValidateVirtualService"
HTTP_ROUTE = "validation TestValidateHTTPRoute"
ROUTE_DESTINATION = "validation TestValidateRouteDestination"
DESTINATION = "validation TestValidateDestination"
DESTINATION_RULE = "validation TestValidateDestinationRule"
LABELS = "labels TestInstanceValidate"
GATEWAY = "validation TestValidateGateway"
SERVER = "validation TestValidateServer"
SERVER_PORT = "validation TestValidateServerPort"
SOURCE = "validation.go"   # a rule read from the source, where no table row states it
NAME_MATCHES = "host TestNameMatches"

CASES = [
    # ValidateWildcardDomain, as a gateway-bound VirtualService's hosts take it
    Case(WILDCARD, "empty", vs(hosts=[""]), REFUSED, "is empty"),
    Case(WILDCARD, "too long", vs(hosts=["x" * 256]), REFUSED, "256 characters"),
    Case(WILDCARD, "happy", vs(hosts=["x" * 63]), ACCEPTED),
    Case(WILDCARD, "wildcard", vs(hosts=["*"]), ACCEPTED),
    Case(WILDCARD, "wildcard multi-segment", vs(hosts=["*.bar.com"]), ACCEPTED),
    Case(WILDCARD, "wildcard single segment", vs(hosts=["*foo"]), ACCEPTED),
    Case(WILDCARD, "wildcard prefix", vs(hosts=["*foo.bar.com"]), ACCEPTED),
    Case(WILDCARD, "wildcard prefix dash", vs(hosts=["*-foo.bar.com"]), ACCEPTED),
    Case(WILDCARD, "bad wildcard inside", vs(hosts=["foo.*.com"]), REFUSED, "'*'"),
    Case(WILDCARD, "bad wildcard suffix", vs(hosts=["foo*.bar.com"]), REFUSED, "foo*"),
    # ValidateWildcardDomain refuses an IP address; ValidateVirtualService then takes it (IsValidIPAddress)
    Case(WILDCARD, "IP address (a VirtualService takes it)", vs(hosts=["1.1.1.1"]), ACCEPTED),
    Case(SOURCE + " ValidateDNS1123Labels", "all-numeric top-level label", vs(hosts=["foo.123"]), REFUSED,
         "all-numeric"),
    Case(SOURCE + " ValidateDNS1123Labels", "upper case labels", vs(hosts=["Canary.Lab.Local"]), ACCEPTED),
    Case(SOURCE + " ValidateDNS1123Labels", "non-ASCII label", vs(hosts=["ça.lab.local"]), REFUSED, "'ça'"),
    Case(SOURCE + " ValidateDNS1123Labels", "a port in the host", vs(hosts=["canary.lab.local:80"]), REFUSED,
         "has a port"),
    Case(SOURCE + " ValidateDNS1123Labels", "a 63-character label", vs(hosts=[f"a.{'x' * 63}.com"]), ACCEPTED),
    Case(SOURCE + " ValidateDNS1123Labels", "a 64-character label", vs(hosts=[f"a.{'x' * 64}.com"]), REFUSED,
         "not a DNS-1123 label"),
    Case(SOURCE + " ValidateWildcardDomain", "a 64-character first label", vs(hosts=["x" * 64 + ".com"]), REFUSED,
         "first label"),
    Case(SOURCE + " CheckDNS1123Preconditions", "255 characters", vs(hosts=[".".join(["x" * 63] * 4)]), ACCEPTED),
    # strconv.Atoi: a top-level label of digits past int64 is no number to Istio, so a valid label
    Case(SOURCE + " ValidateDNS1123Labels", "top-level label 2^63 - 1", vs(hosts=[f"foo.{2**63 - 1}"]), REFUSED,
         "all-numeric"),
    Case(SOURCE + " ValidateDNS1123Labels", "top-level label 2^63", vs(hosts=[f"foo.{2**63}"]), ACCEPTED),
    # host.Name.Matches (pkg/config/host/name_test.go TestNameMatches), as two hosts of one VirtualService:
    # hosts that match are duplicates (ValidateVirtualService)
    *(Case(NAME_MATCHES, f"{a} and {b}", vs(hosts=[a, b]), REFUSED if overlap else ACCEPTED,
           "overlap" if overlap else "") for a, b, overlap in (
        ("a.facebook.com", "*.facebook.COM", False), ("foo.com", "foo.com", True), ("bar.com", "foo.com", False),
        ("bar.foo.com", "foo.com", False), ("foo.com", "bar.foo.com", False), ("*.com", "foo.com", True),
        ("*.foo.com", "bar.foo.com", True), ("*", "foo.com", True), ("*", "*.com", True), ("*", "com", True),
        ("*.com", "*.foo.com", True), ("foo.com", "*.foo.com", False), ("*.foo.com", "foo.com", False),
        ("*.foo.bar.baz", "baz", False), ("baz", "*.foo.bar.baz", False), ("*.foo.bar.baz", "*.baz", True),
        ("foo.bar.baz", "*.baz", True))),
    Case(SOURCE + " host Name.Matches", "a wildcard covers whole labels only", vs(hosts=["*.foo.com", "barfoo.com"]),
         ACCEPTED),
    Case(SOURCE + " host Name.Matches", "a wildcard covers whole labels of a wildcard only",
         vs(hosts=["*.foocom", "*.com"]), ACCEPTED),
    Case(SOURCE + " host Name.Matches", "one wildcard twice", vs(hosts=["*.com", "*.com"]), REFUSED, "overlap"),
    # ValidateFQDN, as validateGatewayNames takes a name without '/'
    Case(FQDN, "long FQDN", vs(gateways=["x" * 256]), REFUSED, "256 characters"),
    Case(FQDN, "empty FQDN", vs(gateways=[""]), REFUSED, "is empty"),
    Case(FQDN, "standard FQDN", vs(gateways=["istio.io"]), ACCEPTED),
    Case(FQDN, "unambiguous FQDN", vs(gateways=["istio.io."]), ACCEPTED),
    Case(FQDN, "standard kubernetes FQDN", vs(gateways=["istio-pilot.istio-system.svc.cluster.local"]), ACCEPTED),
    # ValidatePort, as a destination's port selector takes it
    Case(PORT, "0", at_port(0), REFUSED, "port.number is 0"),
    Case(PORT, "65536", at_port(65536), REFUSED, "port.number is 65536"),
    Case(PORT, "-1", at_port(-1), REFUSED, "port.number is -1"),
    Case(PORT, "100", at_port(100), ACCEPTED),
    Case(PORT, "1000", at_port(1000), ACCEPTED),
    Case(PORT, "65535", at_port(65535), ACCEPTED),
    # ValidateVirtualService
    Case(VIRTUAL_SERVICE, "simple", mesh_vs(), ACCEPTED),
    Case(VIRTUAL_SERVICE, "duplicate hosts", vs(hosts=["*.foo.bar", "*.bar"]), REFUSED, "overlap"),
    Case(VIRTUAL_SERVICE, "with no destination", vs(http=[route({})]), REFUSED, "destination.host is missing"),
    Case(VIRTUAL_SERVICE, "destination without host", vs(http=[route(to())]), REFUSED, "host is missing"),
    Case(VIRTUAL_SERVICE, "delegate with no hosts", vs(hosts=[], gateways=None), CLUSTER_ONLY, "delegate"),
    Case(VIRTUAL_SERVICE, "bad host", vs(hosts=["foo.ba!r"]), REFUSED, "'ba!r'"),
    Case(VIRTUAL_SERVICE, "no tcp or http routing", vs(http=[]), REFUSED, "spec.http is empty"),
    Case(VIRTUAL_SERVICE, "bad gateway", vs(gateways=["b@dgateway"]), REFUSED, "b@dgateway"),
    Case(VIRTUAL_SERVICE, "FQDN for gateway", vs(gateways=["gateway.example.com"]), ACCEPTED),
    Case(VIRTUAL_SERVICE, "namespace/name for gateway", vs(gateways=["ns1/gateway"]), ACCEPTED),
    Case(VIRTUAL_SERVICE, "namespace/* for gateway", vs(gateways=["ns1/*"]), REFUSED, "ns1/*"),
    Case(VIRTUAL_SERVICE, "*/name for gateway", vs(gateways=["*/gateway"]), REFUSED, "*/gateway"),
    Case(VIRTUAL_SERVICE, "wildcard for mesh gateway", mesh_vs(hosts=["*"]), REFUSED, "bound to the mesh"),
    Case(VIRTUAL_SERVICE, "wildcard for non-mesh gateway", vs(hosts=["*"], gateways=["somegateway"]), ACCEPTED),
    Case(SOURCE + " isGateway", "wildcard for mesh and a gateway", vs(hosts=["*"], gateways=["mesh", "gw"]),
         REFUSED, "bound to the mesh"),
    # validateGatewayNames returns at its first name without '/': a later bad name goes unchecked by Istio
    Case(SOURCE + " validateGatewayNames", "a bad name after mesh", vs(gateways=["mesh", "ns1/*"]), ACCEPTED),
    Case(VIRTUAL_SERVICE, "deprecated mirror", vs(http=[route(to("foo.baz"), mirrorPercent=5)]), CLUSTER_ONLY,
         "mirrorPercent"),
    Case(VIRTUAL_SERVICE, "set authority", vs(http=[route(to("foo.baz"), headers={
        "request": {"set": {":authority": "foo"}}})]), CLUSTER_ONLY, "spec.http[0].headers"),
    Case(VIRTUAL_SERVICE, "non-method-get", vs(http=[route(to("foo.baz"), match=[
        {"uri": {"prefix": "/api/v1/product"}}, {"uri": {"prefix": "/api/v1/products"}, "method": {"exact": "GET"}}])]),
         CLUSTER_ONLY, "method"),
    Case(VIRTUAL_SERVICE, "jwt claim route without gateway", vs(gateways=["mesh"], http=[route(to("foo.baz"), match=[
        {"uri": {"prefix": "/"}, "headers": {"@request.auth.claims.foo": {"exact": "bar"}}}])]), REFUSED, "JWT claim"),
    Case(SOURCE + " ValidateHTTPHeaderNameOrJwtClaimRoute", "jwt claim route on a gateway", vs(http=[route(
        to("foo.baz"), match=[{"headers": {"@request.auth.claims.foo": {"exact": "bar"}}}])]), CLUSTER_ONLY, "JWT"),
    # validateHTTPRoute
    Case(HTTP_ROUTE, "empty", vs(http=[{}]), REFUSED, "route is empty"),
    Case(HTTP_ROUTE, "simple", vs(), ACCEPTED),
    Case(HTTP_ROUTE, "no destination", vs(http=[route({"destination": None})]), REFUSED, "host is missing"),
    Case(HTTP_ROUTE, "weighted", weighted(25, 75), ACCEPTED),
    Case(HTTP_ROUTE, "weights written as 25.0 and 75.0 (a cluster stores 25 and 75)", weighted(25.0, 75.0),
         ACCEPTED),
    Case(HTTP_ROUTE, "total weight > 100", weighted(550, 500), CONVENTION, "add up to 1050"),
    Case(HTTP_ROUTE, "total weight < 100", weighted(49, 50), CONVENTION, "add up to 99"),
    Case(HTTP_ROUTE, "simple redirect", vs(http=[{"redirect": {"uri": "/lerp", "authority": "foo.biz"}}]),
         CLUSTER_ONLY, "redirect"),
    Case(HTTP_ROUTE, "empty prefix header match", vs(http=[route(to("foo.bar"), match=[
        {"headers": {"emptyprefix": {"prefix": ""}}}])]), REFUSED, "prefix is empty"),
    Case(HTTP_ROUTE, "nil match", vs(http=[route(to("foo.bar"))]), ACCEPTED),
    Case(HTTP_ROUTE, "valid mirror percentage", vs(http=[route(to("foo.bar"), mirrorPercentage={"value": 1})]),
         ACCEPTED),
    # validateHTTPRouteDestinations / validateDestination
    Case(ROUTE_DESTINATION, "simple", vs(http=[route(to("foo.baz"))]), ACCEPTED),
    Case(ROUTE_DESTINATION, "wildcard dash", vs(http=[route(to("*-foo.baz"))]), ACCEPTED),
    Case(ROUTE_DESTINATION, "wildcard prefix", vs(http=[route(to("*foo.baz"))]), ACCEPTED),
    Case(ROUTE_DESTINATION, "wildcard", vs(http=[route(to("*"))]), REFUSED, "host is '*'"),
    Case(ROUTE_DESTINATION, "bad wildcard", vs(http=[route(to("foo.*"))]), REFUSED, "foo.*"),
    Case(ROUTE_DESTINATION, "bad fqdn", vs(http=[route(to("default/baz"))]), REFUSED, "default/baz"),
    Case(ROUTE_DESTINATION, "weight < 0", weighted(5, -1), REFUSED, "weight is -1"),
    Case(ROUTE_DESTINATION, "total weight = 100", weighted(100, 0), ACCEPTED),
    Case(ROUTE_DESTINATION, "weight = 0", vs(http=[route(to("foo.baz.south", 0))]), ACCEPTED),
    Case(ROUTE_DESTINATION, "total weight = 0 with multi RouteDestination", weighted(0, 0), REFUSED, "add up to 0"),
    Case(DESTINATION, "full", vs(http=[route(to("foo.bar", subset="shiny", port={"number": 5000}))]), ACCEPTED),
    Case(DESTINATION, "unnumbered-selector", vs(http=[route(to("foo.bar", subset="shiny", port={}))]), REFUSED,
         "port.number is None"),
    Case(SOURCE + " validateSubsetName", "upper-case subset", vs(http=[route(to("foo.bar", subset="V1"))]), ACCEPTED),
    Case(SOURCE + " validateSubsetName", "subset with '_'", vs(http=[route(to("foo.bar", subset="Bad_Subset"))]),
         REFUSED, "Bad_Subset"),
    Case(SOURCE + " validateSubsetName", "subset with a dot", vs(http=[route(to("foo.bar", subset="v1.2"))]),
         REFUSED, "v1.2"),
    # ValidateDestinationRule
    Case(DESTINATION_RULE, "simple destination rule", rule(subsets=[
        {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]), ACCEPTED),
    Case(DESTINATION_RULE, "missing destination name", rule(host=""), REFUSED, "spec.host is missing"),
    Case(DESTINATION_RULE, "missing subset name", rule(subsets=[{"name": "", "labels": {"version": "v1"}}]),
         REFUSED, "has no name"),
    Case(DESTINATION_RULE, "duplicate subset names", rule(subsets=[
        {"name": "foo", "labels": {"version": "v1"}}, {"name": "foo", "labels": {"version": "v2"}}]), REFUSED,
         "appears twice"),
    Case(DESTINATION_RULE, "valid traffic policy, top level", rule(trafficPolicy={
        "loadBalancer": {"simple": "ROUND_ROBIN"}}), CLUSTER_ONLY, "trafficPolicy"),
    Case(SOURCE + " ValidateDestinationRule", "upper-case subset name", rule(subsets=[
        {"name": "V1", "labels": {"version": "v1"}}]), ACCEPTED),
    Case(SOURCE + " ValidateDestinationRule", "wildcard host", rule(host="*.foo.com"), ACCEPTED),
    Case(SOURCE + " ValidateDestinationRule", "bad wildcard host", rule(host="foo.*.com"), REFUSED, "foo.*.com"),
    # labels.Instance.Validate, as a subset's labels take it
    Case(LABELS, "empty tags", rule(subsets=[{"name": "v1"}]), ACCEPTED),
    Case(LABELS, "bad tag", labelled({"^": "^"}), REFUSED, "'^'"),
    Case(LABELS, "good tag", labelled({"key": "value"}), ACCEPTED),
    Case(LABELS, "good tag - empty value", labelled({"key": ""}), ACCEPTED),
    Case(LABELS, "good tag - DNS prefix", labelled({"k8s.io/key": "value"}), ACCEPTED),
    Case(LABELS, "good tag - subdomain DNS prefix", labelled({"app.kubernetes.io/name": "value"}), ACCEPTED),
    Case(LABELS, "bad tag - empty key", labelled({"": "value"}), REFUSED, "key ''"),
    Case(LABELS, "bad tag key 1", labelled({".key": "value"}), REFUSED, "'.key'"),
    Case(LABELS, "bad tag key 2", labelled({"key_": "value"}), REFUSED, "'key_'"),
    Case(LABELS, "bad tag key 3", labelled({"key$": "value"}), REFUSED, "'key$'"),
    Case(LABELS, "bad tag key - invalid DNS prefix", labelled({"istio./key": "value"}), REFUSED, "istio./key"),
    Case(LABELS, "bad tag value 1", labelled({"key": ".value"}), REFUSED, "'.value'"),
    Case(LABELS, "bad tag value 2", labelled({"key": "value_"}), REFUSED, "'value_'"),
    Case(LABELS, "bad tag value 3", labelled({"key": "value$"}), REFUSED, "'value$'"),
    Case(SOURCE + " labels validateTagKey", "upper-case DNS prefix", labelled({"Example.com/app": "v1"}), ACCEPTED),
    Case(SOURCE + " labels validateTagKey", "a 253-character prefix", labelled({"a" * 253 + "/key": "v1"}), ACCEPTED),
    Case(SOURCE + " labels validateTagKey", "a 254-character prefix", labelled({"a" * 254 + "/key": "v1"}), REFUSED,
         "prefix longer than 253"),
    Case(SOURCE + " labels validateTagKey", "a 63-character name", labelled({"k" * 63: "v1"}), ACCEPTED),
    Case(SOURCE + " labels validateTagKey", "a 64-character name", labelled({"k" * 64: "v1"}), REFUSED,
         "name part of 64 characters"),
    Case(SOURCE + " labels labelValueRegexp", "a 64-character value", labelled({"version": "v" * 64}), ACCEPTED),
    # ValidateGateway / validateServer / validateServerPort
    Case(GATEWAY, "empty", gateway(), REFUSED, "spec.servers is empty"),
    Case(GATEWAY, "happy domain", gateway(server(number=7, name="name1", protocol="http")), ACCEPTED),
    Case(GATEWAY, "invalid port", gateway(server(number=66000, name="name1", protocol="http")), REFUSED,
         "port.number is 66000"),
    Case(GATEWAY, "duplicate port names", gateway(server(name="foo"), server(["scooby.doo.com"], 8080, "foo")),
         REFUSED, "duplicate port names"),
    Case(GATEWAY, "invalid domain", gateway(server(["foo.*.bar.com"])), REFUSED, "foo.*.bar.com"),
    Case(GATEWAY, "valid httpsRedirect", gateway(server(["bar.com"], tls={"httpsRedirect": True})), CLUSTER_ONLY,
         "httpsRedirect"),
    Case(GATEWAY, "invalid partial wildcard", gateway(server(["*bar.com"], 443, "tls", "tls",
                                                             tls={"mode": "ISTIO_MUTUAL"})), REFUSED, "partial"),
    Case(SOURCE + " ValidateGateway", "a name with a dot", gateway(server(), name="lab.gateway"), REFUSED,
         "no dots"),
    Case(SERVER, "happy ip", gateway(server(["1.1.1.1"])), ACCEPTED),
    Case(SERVER, "happy ns/name", gateway(server(["ns1/foo.bar.com"])), ACCEPTED),
    Case(SERVER, "happy */name", gateway(server(["*/foo.bar.com"])), ACCEPTED),
    Case(SERVER, "happy ./name", gateway(server(["./foo.bar.com"])), ACCEPTED),
    Case(SERVER, "invalid ~/name", gateway(server(["~/foo.bar.com"])), REFUSED, "'~'"),
    Case(SERVER, "invalid domain ns/name format", gateway(server(["ns1/foo.*.bar.com"])), REFUSED, "foo.*.bar.com"),
    Case(SERVER, "invalid short name host", gateway(server(["foo"])), REFUSED, "short names"),
    Case(SOURCE + " validateSidecarOrGatewayHostnamePart", "a bad label", gateway(server(["foo.ba!r.com"])),
         REFUSED, "'ba!r'"),
    Case(SOURCE + " ValidateNamespaceSlashWildcardHostname", "no host after '/'", gateway(server(["ns1/"])),
         REFUSED, "empty namespace or host"),
    Case(SOURCE + " ValidateNamespaceSlashWildcardHostname", "no namespace before '/'", gateway(server(["/foo.com"])),
         REFUSED, "empty namespace or host"),
    Case(SERVER, "invalid tls options", gateway(server(number=1, tls={"mode": "SIMPLE"})), REFUSED,
         "with tls settings"),
    Case(SERVER, "no tls on HTTPS", gateway(server(number=10000, name="https", protocol="https")), REFUSED,
         "without tls settings"),
    Case(SERVER, "bind ip", gateway(server(number=7, bind="127.0.0.1")), CLUSTER_ONLY, "bind"),
    Case(SERVER_PORT, "empty", gateway({"port": {}, "hosts": ["foo.bar.com"]}), REFUSED, "protocol is not set"),
    Case(SERVER_PORT, "happy", gateway(server(number=1, name="Henry", protocol="http")), ACCEPTED),
    Case(SERVER_PORT, "invalid protocol", gateway(server(number=1, name="Henry", protocol="kafka")), REFUSED,
         "'kafka'"),
    Case(SERVER_PORT, "invalid number", gateway(server(number=1 << 30)), REFUSED, f"port.number is {1 << 30}"),
    Case(SERVER_PORT, "name, number & protocol", gateway(server(number=None)), REFUSED, "port.number is None"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_istio_validation_case(case: Case) -> None:
    judge(case)


def test_the_cases_cover_istios_tables() -> None:
    sources = {c.source for c in CASES}
    assert {WILDCARD, FQDN, PORT, VIRTUAL_SERVICE, HTTP_ROUTE, ROUTE_DESTINATION, DESTINATION, DESTINATION_RULE,
            LABELS, GATEWAY, SERVER, SERVER_PORT} <= sources
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


def test_a_null_header_match_is_refused_saying_what_a_cluster_does_with_it() -> None:
    """TestValidateHTTPRoute's "null header match" is refused by Istio's webhook, but through a cluster's
    API server the null never reaches it: apiextensions' prunenulls.go deletes the entry, and the route
    then matches every request. The lab refuses it on both backends, saying so, and points at `{}`."""
    null_header = vs(http=[route(to("foo.bar"), match=[{"headers": {"x-track": None}}])])
    for check in (check_object, validate):
        with pytest.raises(ManifestError) as refused:
            check(null_header)
        assert "x-track is empty (null): a cluster's API server drops it" in refused.value.message
        assert "x-track: {}" in refused.value.fix
    present = vs(http=[route(to("foo.bar"), match=[{"headers": {"x-track": {}}}])])
    check_object(present)
