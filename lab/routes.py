"""Waiting until a gateway serves what was applied: routes read back from Envoy, compared
with the VirtualServices' weights. A cluster's istiod pushes config within seconds; the
lab waits for that instead of letting a check sample the old routes."""

import time

from lab.backends.base import LiveRoute
from lab.errors import LabError
from lab.validate import route_weights


def expected_weights(virtual_service: dict) -> dict[str, list[list[int]]]:
    """host → the weights of each http route, in order, as Envoy will show them."""
    spec = virtual_service.get("spec") or {}
    weights = [sorted(route_weights(http.get("route") or [])) for http in spec.get("http") or []]
    return {host: weights for host in spec.get("hosts") or []}


def served(expected: dict[str, list[list[int]]], routes: list[LiveRoute]) -> bool:
    for host, wanted in expected.items():
        live = [sorted(d.weight for d in r.destinations) for r in routes
                if r.scheme == "http" and host in [h.strip() for h in r.host.split(",")]]
        # One http route may become several Envoy routes (one per match entry): compare distinct runs.
        collapsed = [w for i, w in enumerate(live) if i == 0 or live[i - 1] != w]
        wanted_collapsed = [w for i, w in enumerate(wanted) if i == 0 or wanted[i - 1] != w]
        if collapsed != wanted_collapsed:
            return False
    return True


def wait_until_served(virtual_services: list[dict], read_routes, timeout: float = 30.0,
                      interval: float = 0.5) -> None:
    expected: dict[str, list[list[int]]] = {}
    for vs in virtual_services:
        expected.update(expected_weights(vs))
    deadline = time.monotonic() + timeout
    while not served(expected, read_routes()):
        if time.monotonic() >= deadline:
            raise LabError(f"the gateway does not serve the new routes for {', '.join(expected)} after "
                           f"{timeout:.0f}s", "`invoke status` shows what it serves; is the VirtualService "
                                              "bound to the ingress gateway?")
        time.sleep(interval)
