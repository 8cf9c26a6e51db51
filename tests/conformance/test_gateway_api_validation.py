"""The Gateway API's own validation tests, as cases for the lab (kubernetes-sigs/gateway-api v1.6.0).

From tests/cel/httproute_test.go (TestHTTPPathMatch, TestBackendObjectReference, TestHTTPRouteRule),
tests/cel/gateway_test.go (TestValidateGateway) and the standard CRDs' schemas (config/crd/standard,
vendored in cluster/gateway-api/: served versions, required fields, minItems). A case valid there is
accepted (or refused naming the field where the local lab does not run it); an invalid one is refused,
saying a cluster refuses it too.
"""

import pytest

from tests.conformance.validation_cases import ACCEPTED, REFUSED, Case, judge

V1 = "gateway.networking.k8s.io/v1"
CERT = {"kind": "Secret", "name": "canary-lab-gateway-tls"}


def http_route(match=None, backend=None, api_version=V1, **spec) -> dict:
    rule = {"matches": [match] if match else [],
            "backendRefs": [backend if backend is not None else {"name": "test", "port": 8080}]}
    return {"apiVersion": api_version, "kind": "HTTPRoute", "metadata": {"name": "foo", "namespace": "lab"},
            "spec": {"parentRefs": [{"name": "web"}], "rules": [rule], **spec}}


def path(type_, value) -> dict:
    return {"path": {"type": type_, "value": value}}


def listener(name="http", protocol="HTTP", port=80, **more) -> dict:
    return {"name": name, "protocol": protocol, "port": port, **more}


def gateway(*listeners) -> dict:
    return {"apiVersion": V1, "kind": "Gateway", "metadata": {"name": "foo", "namespace": "lab"},
            "spec": {"gatewayClassName": "istio", "listeners": list(listeners) or [listener()]}}


def grant(api_version="gateway.networking.k8s.io/v1beta1", **spec) -> dict:
    return {"apiVersion": api_version, "kind": "ReferenceGrant", "metadata": {"name": "grant", "namespace": "lab"},
            "spec": spec}


FROM = [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "other"}]
TO = [{"group": "", "kind": "Service"}]
PATH = "cel TestHTTPPathMatch"
BACKEND = "cel TestBackendObjectReference"
RULE = "cel TestHTTPRouteRule"
GATEWAY = "cel TestValidateGateway"
CRD = "crd config/crd/standard"
VALID_CHARACTERS = "must only contain valid path characters"

CASES = [
    Case(PATH, "invalid because path does not start with '/'", http_route(path("PathPrefix", "foo")), REFUSED,
         "must be an absolute path"),
    Case(PATH, "invalid httpRoute prefix (/.)", http_route(path("PathPrefix", "/.")), REFUSED,
         "must not end with '/.'"),
    Case(PATH, "invalid exact (/./)", http_route(path("Exact", "/foo/./bar")), REFUSED, "must not contain '/./'"),
    Case(PATH, "invalid type", http_route(path("FooBar", "/path")), REFUSED, "'FooBar'"),
    Case(PATH, "valid because type is RegularExpression", http_route(path("RegularExpression", "/foo/./bar")),
         ACCEPTED),
    Case(PATH, "valid httpRoute prefix", http_route(path("PathPrefix", "/path")), ACCEPTED),
    Case(PATH, "valid path with some special characters", http_route(path("Exact", "/abc/123'/a-b-c/d@gmail/%0A")),
         ACCEPTED),
    Case(PATH, "invalid prefix path (/[])", http_route(path("PathPrefix", "/[]")), REFUSED, VALID_CHARACTERS),
    Case(PATH, "invalid exact path (/^)", http_route(path("Exact", "/^")), REFUSED, VALID_CHARACTERS),
    Case(BACKEND, "default groupkind with port", http_route(backend={"name": "backend", "port": 99}), ACCEPTED),
    Case(BACKEND, "default groupkind with no port", http_route(backend={"name": "backend"}), REFUSED,
         "port is required"),
    Case(BACKEND, "explicit service with port", http_route(backend={"group": "", "kind": "Service",
                                                                    "name": "backend", "port": 99}), ACCEPTED),
    Case(BACKEND, "explicit service with no port", http_route(backend={"group": "", "kind": "Service",
                                                                       "name": "backend"}),
         REFUSED, "port is required"),
    Case(RULE, "backendref without any filter", http_route(path("PathPrefix", "/")), ACCEPTED),
    Case(GATEWAY, "tls config present with http protocol", gateway(listener(port=8080, tls={})), REFUSED,
         "must not be set for protocol HTTP"),
    Case(GATEWAY, "https protocol with Passthrough tls mode", gateway(listener(
        "https", "HTTPS", 8080, tls={"mode": "Passthrough"})), REFUSED, "must be Terminate for HTTPS"),
    Case(GATEWAY, "tls mode not set with https protocol and tls config present", gateway(listener(
        "https", "HTTPS", 8080, tls={"certificateRefs": [CERT]})), ACCEPTED),
    Case(GATEWAY, "tls config present with tcp protocol", gateway(listener("tcp", "TCP", 8080, tls={})), REFUSED,
         "must not be set for protocol TCP"),
    Case(GATEWAY, "tls config not set with tls protocol", gateway(listener("tls", "TLS", 8443)), REFUSED,
         "must be set for protocol TLS"),
    Case(GATEWAY, "tls config not set with http protocol", gateway(listener(port=8080)), ACCEPTED),
    Case(GATEWAY, "hostname present with tcp protocol", gateway(listener("tcp", "TCP", 8080, hostname="foo")),
         REFUSED, "hostname must not be set for protocol TCP"),
    Case(GATEWAY, "hostname present with udp protocol", gateway(listener("udp", "UDP", 8080, hostname="foo")),
         REFUSED, "hostname must not be set for protocol UDP"),
    Case(GATEWAY, "certificateRefs not set with HTTPS protocol and TLS terminate mode", gateway(listener(
        "https", "HTTPS", 8443, tls={"mode": "Terminate"})), REFUSED, "without certificateRefs"),
    Case(GATEWAY, "certificateRefs set with HTTPS protocol and TLS terminate mode", gateway(listener(
        "https", "HTTPS", 8443, tls={"mode": "Terminate", "certificateRefs": [CERT]})), ACCEPTED),
    Case(GATEWAY, "names are not unique within the Gateway", gateway(
        listener(), listener(port=8000), listener(port=8080)), REFUSED, "two listeners of one name"),
    Case(GATEWAY, "names are unique within the Gateway", gateway(
        listener("http-1"), listener("http-2", port=8000), listener("http-3", port=8080)), ACCEPTED),
    Case(GATEWAY, "combination of port, protocol, and hostname are not unique", gateway(
        listener("foo", hostname="foo.com"), listener("bar", hostname="foo.com")), REFUSED,
         "repeats another listener's port, protocol and hostname"),
    Case(GATEWAY, "combination of port and protocol are not unique when hostnames not set", gateway(
        listener("foo"), listener("bar")), REFUSED, "repeats another listener's"),
    Case(GATEWAY, "port is unique when protocol and hostname are the same", gateway(
        listener("foo", hostname="foo.com"), listener("bar", port=8000, hostname="foo.com")), ACCEPTED),
    Case(GATEWAY, "hostname is unique when protocol and port are the same", gateway(
        listener("foo", hostname="foo.com"), listener("bar", hostname="bar.com")), ACCEPTED),
    Case(GATEWAY, "one omitted hostname is unique when protocol and port are the same", gateway(
        listener("foo", hostname="foo.com"), listener("bar")), ACCEPTED),
    # The CRDs' schemas: which versions they serve, and what they require
    Case(CRD, "HTTPRoute v1", http_route(), ACCEPTED),
    Case(CRD, "HTTPRoute v1beta1", http_route(api_version="gateway.networking.k8s.io/v1beta1"), ACCEPTED),
    Case(CRD, "HTTPRoute v9", http_route(api_version="gateway.networking.k8s.io/v9"), REFUSED,
         "HTTPRoute foo: apiVersion 'gateway.networking.k8s.io/v9' does not serve kind HTTPRoute"),
    Case(CRD, "HTTPRoute v0", http_route(api_version="gateway.networking.k8s.io/v0"), REFUSED, "does not serve"),
    Case(CRD, "HTTPRoute foo", http_route(api_version="gateway.networking.k8s.io/foo"), REFUSED, "does not serve"),
    Case(CRD, "HTTPRoute v1alpha1", http_route(api_version="gateway.networking.k8s.io/v1alpha1"), REFUSED,
         "does not serve"),
    Case(CRD, "Gateway v1alpha2", {**gateway(), "apiVersion": "gateway.networking.k8s.io/v1alpha2"}, REFUSED,
         "does not serve"),
    Case(CRD, "ReferenceGrant v1beta1", grant(**{"from": FROM, "to": TO}), ACCEPTED),
    Case(CRD, "ReferenceGrant v1", grant("gateway.networking.k8s.io/v1", **{"from": FROM, "to": TO}), ACCEPTED),
    Case(CRD, "ReferenceGrant v1alpha2", grant("gateway.networking.k8s.io/v1alpha2", **{"from": FROM, "to": TO}),
         REFUSED, "does not serve"),
    Case(CRD, "ReferenceGrant without spec.to", grant(**{"from": FROM}), REFUSED, "spec.to is required"),
    Case(CRD, "ReferenceGrant without spec.from", grant(to=TO), REFUSED, "spec.from is required"),
    Case(CRD, "ReferenceGrant with an empty from", grant(**{"from": [], "to": TO}), REFUSED, "at least 1"),
    Case(CRD, "ReferenceGrant from without namespace", grant(**{"from": [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}], "to": TO}), REFUSED,
         "spec.from[0].namespace is required"),
    Case(CRD, "ReferenceGrant to a kind with a space", grant(**{"from": FROM, "to": [
        {"group": "", "kind": "My Service"}]}), REFUSED, "pattern"),
    Case(CRD, "HTTPRoute without spec", {**http_route(), "spec": None}, REFUSED, "spec is required"),
    Case(CRD, "a sectionName with a space", http_route(parentRefs=[{"name": "web", "sectionName": "my http"}]),
         REFUSED, "sectionName"),
    Case(CRD, "two parentRefs to one Gateway without sectionName", http_route(parentRefs=[
        {"name": "web"}, {"name": "web"}]), REFUSED, "section (none) twice"),
    Case(CRD, "two parentRefs to one Gateway, one sectionName", http_route(parentRefs=[
        {"name": "web"}, {"name": "web", "sectionName": "http"}]), REFUSED, "not each with a sectionName"),
    Case(CRD, "two parentRefs to two listeners of one Gateway", http_route(parentRefs=[
        {"name": "web", "sectionName": "http"}, {"name": "web", "sectionName": "https"}]), ACCEPTED),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gateway_api_validation_case(case: Case) -> None:
    judge(case)
