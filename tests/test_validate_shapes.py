"""Any shape of bad input gets one line, never a crash: every value of each kind the lab checks, replaced
in turn by a value of the wrong shape (null, a number, a list, a mapping, a line break…), is accepted
or refused with a ManifestError — by `validate` (which the cluster backend calls on raw objects) and
by `check_object` (the local lab's)."""

import copy
from collections.abc import Iterator

import pytest

from lab.backends.local.schema import check_object
from lab.errors import ManifestError
from lab.validate import validate
from tests.conformance import (
    test_gateway_api_validation as gateway_api,
    test_istio_validation as istio,
    test_kubernetes_validation as kubernetes,
)

ODD_VALUES = (None, 0, -1, 1.5, True, "", "*", "a\nb", [], [None], [1], {}, {"x": None}, 70000)
BASES = {
    "VirtualService": istio.vs(http=[istio.route(istio.to("foo.baz", 90, subset="v1", port={"number": 80}),
                                                 istio.to("foo.bar", 10), match=[
        {"uri": {"prefix": "/a"}, "headers": {"x-track": {"exact": "canary"}}}])]),
    "DestinationRule": istio.rule(),
    "Gateway": istio.gateway(istio.server(), istio.server(["*.lab.local"], 443, "https", "HTTPS", tls={
        "mode": "SIMPLE", "credentialName": "canary-lab-gateway-tls"})),
    "Service": kubernetes.service_port(port=80),
    "Deployment": kubernetes.container_port(8080),
    "HTTPRoute": gateway_api.http_route(gateway_api.path("PathPrefix", "/"), hostnames=["a.lab.local"]),
    "Gateway API Gateway": gateway_api.gateway(gateway_api.listener(hostname="a.lab.local")),
    "ReferenceGrant": gateway_api.grant(**{"from": gateway_api.FROM, "to": gateway_api.TO}),
}


def paths(value, path: tuple = ()) -> Iterator[tuple]:
    if path:
        yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from paths(child, (*path, key))


def replaced(obj: dict, path: tuple, value) -> dict:
    obj = copy.deepcopy(obj)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return obj


@pytest.mark.parametrize("kind", BASES)
def test_every_odd_value_anywhere_is_accepted_or_refused_in_one_line(kind):
    base = BASES[kind]
    check_object(base)   # the base itself is good
    tried = 0
    for path in paths(base):
        for value in ODD_VALUES:
            obj = replaced(base, path, value)
            for check in (validate, check_object):
                try:
                    check(obj)
                except ManifestError as refused:
                    assert "\n" not in str(refused), str(refused)   # one line, whatever the input
                tried += 1
    assert tried > 200
