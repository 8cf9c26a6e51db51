"""Waiting for a cluster's gateway to serve what was applied: the lab's translator models what
istiod serves (weight-0 destinations dropped, mesh-only hosts not on the gateway), compared with
routes read back as Envoy shows them — destinations as well as weights."""

import pytest

from lab.backends.base import LiveRoute, RouteDestination
from lab.errors import LabError
from lab.routes import expected_routes, served, wait_until_served
from tests.conftest import objects

CONTEXT = objects("""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: canary-gateway, namespace: canary-lab}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [canary.lab.local]}]
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: canary-lab}
spec: {selector: {app: httpbin}, ports: [{port: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: tornado, namespace: canary-lab}
spec: {selector: {app: tornado}, ports: [{port: 8888}]}
""")


def virtual_service(routes: str, hosts: str = "[canary.lab.local]", gateways: str = "[canary-gateway]") -> dict:
    return objects(f"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: canary, namespace: canary-lab}}
        spec:
          hosts: {hosts}
          gateways: {gateways}
          http:
            - match: [{{uri: {{prefix: /websocket}}}}, {{uri: {{prefix: /ws}}}}]
              route: [{{destination: {{host: tornado}}}}]
            - route: {routes}
        """)[0]


SPLIT = virtual_service("[{destination: {host: httpbin}, weight: 80}, {destination: {host: tornado}, weight: 20}]")


def live(*routes, host="canary.lab.local"):
    """Routes as read from Envoy: each a list of (service, weight)."""
    return [LiveRoute(host, "uri /*", [RouteDestination(f"{name}.canary-lab", "", w) for name, w in route])
            for route in routes]


def expected(vs):
    return expected_routes([vs], CONTEXT)


def test_served_when_every_route_shows_the_modelled_destinations_and_weights():
    want = expected(SPLIT)
    assert served(want, live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)]))
    assert not served(want, live([("tornado", 100)], [("tornado", 100)]))
    assert not served(want, [])


def test_the_same_weights_to_another_destination_are_not_served_yet():
    to_tornado = virtual_service("[{destination: {host: tornado}, weight: 100}]")
    still_httpbin = live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)])
    assert not served(expected(to_tornado), still_httpbin)          # 100% v1 → 100% v2 is a change
    assert served(expected(to_tornado), live([("tornado", 100)], [("tornado", 100)], [("tornado", 100)]))


def test_a_weight_0_destination_is_dropped_as_istiod_drops_it():
    all_httpbin = virtual_service("[{destination: {host: httpbin}, weight: 100}, {destination: {host: tornado}, weight: 0}]")
    assert served(expected(all_httpbin), live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)]))


def test_a_mesh_only_host_is_never_expected_on_the_gateway():
    both = virtual_service("[{destination: {host: httpbin}}]", hosts="[canary.lab.local, httpbin]",
                           gateways="[canary-gateway, mesh]")
    assert set(expected(both)) == {("http", "canary.lab.local")}
    assert served(expected(both), live([("tornado", 100)], [("tornado", 100)], [("httpbin", 100)]))


def test_waits_through_stale_reads_then_returns():
    reads = iter([live([("tornado", 100)]), live([("tornado", 100)], [("tornado", 100)]),
                  live([("tornado", 100)], [("tornado", 100)], [("httpbin", 80), ("tornado", 20)])])
    wait_until_served(expected(SPLIT), lambda: next(reads), timeout=5, interval=0)


def test_gives_up_with_a_clear_line():
    with pytest.raises(LabError, match="does not serve the new routes for canary.lab.local"):
        wait_until_served(expected(SPLIT), lambda: live([("httpbin", 100)]), timeout=0, interval=0)
