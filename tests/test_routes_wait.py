"""Waiting for a gateway to serve applied weights, against routes read back as Envoy shows them."""

import pytest

from lab.backends.base import LiveRoute, RouteDestination
from lab.errors import LabError
from lab.routes import served, wait_until_served
from tests.conftest import objects

VS = objects("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary, namespace: canary-lab}
spec:
  hosts: [canary.lab.local]
  gateways: [canary-gateway]
  http:
    - match: [{uri: {prefix: /websocket}}, {uri: {prefix: /ws}}]
      route: [{destination: {host: tornado}}]
    - route:
        - {destination: {host: httpbin}, weight: 80}
        - {destination: {host: tornado}, weight: 20}
""")[0]


def live(*weight_lists):
    return [LiveRoute("canary.lab.local", "uri /*", [RouteDestination(f"s{i}", "", w) for i, w in enumerate(ws)])
            for ws in weight_lists]


def test_served_when_every_route_shows_the_applied_weights():
    assert served({"canary.lab.local": [[100], [20, 80]]}, live([100], [100], [80, 20]))
    assert not served({"canary.lab.local": [[100], [20, 80]]}, live([100], [100]))
    assert not served({"canary.lab.local": [[100], [20, 80]]}, [])


def test_waits_through_stale_reads_then_returns():
    reads = iter([live([100]), live([100], [100]), live([100], [100], [80, 20])])
    wait_until_served([VS], lambda: next(reads), timeout=5, interval=0)


def test_gives_up_with_a_clear_line():
    with pytest.raises(LabError, match="does not serve the new routes for canary.lab.local"):
        wait_until_served([VS], lambda: live([100]), timeout=0, interval=0)
