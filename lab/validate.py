"""Checks on Istio objects that hold on every backend.

Istio itself would accept some of these and then serve errors, or a split
nobody meant (weights that do not add up to 100 are read as shares of their
sum); the lab says so up front, because a learner's typo should cost seconds,
not an evening.
"""

from lab.errors import ManifestError
from lab.manifests import ref_of


def validate(obj: dict) -> None:
    if obj.get("kind") == "VirtualService":
        _check_virtual_service(obj)


def _check_virtual_service(vs: dict) -> None:
    ref = ref_of(vs)
    spec = vs.get("spec") or {}
    if not spec.get("hosts"):
        raise ManifestError(f"{ref}: spec.hosts is empty", "list the host names this VirtualService routes")
    for i, http in enumerate(spec.get("http") or []):
        routes = http.get("route") or []
        where = f"spec.http[{i}].route"
        if not routes:
            raise ManifestError(f"{ref}: {where} is empty", "give the route at least one destination")
        weights = []
        for j, route in enumerate(routes):
            if not (route.get("destination") or {}).get("host"):
                raise ManifestError(f"{ref}: {where}[{j}].destination.host is missing",
                                    "name the Service to send traffic to")
            weight = route.get("weight")
            if weight is None:
                weights.append(None)
                continue
            if not isinstance(weight, int) or isinstance(weight, bool):
                raise ManifestError(f"{ref}: {where}[{j}].weight is {weight!r}",
                                    "weights are whole numbers from 0 to 100")
            if weight < 0 or weight > 100:
                raise ManifestError(f"{ref}: {where}[{j}].weight is {weight}",
                                    "weights are whole numbers from 0 to 100")
            weights.append(weight)
        if len(routes) > 1:
            if None in weights:
                raise ManifestError(f"{ref}: {where} has {len(routes)} destinations but not every one has a weight",
                                    "give each destination a weight (Istio reads a missing one as 0); "
                                    "together they make 100")
            if sum(weights) != 100:
                shown = " + ".join(str(w) for w in weights)
                # Istio splits by weight ÷ sum and refuses only a negative weight or a zero total
                # (istio/api virtual_service.proto; istio pkg/config/validation validateHTTPRouteDestinations).
                raise ManifestError(f"{ref}: {where} weights add up to {sum(weights)} ({shown}); Istio would "
                                    f"give each destination its weight ÷ {sum(weights)}, but this lab asks for 100",
                                    "make them add up to 100 (the lab's convention, not Istio's rule: each "
                                    "weight then reads as its percent of the traffic)")


def route_weights(routes: list[dict]) -> list[int]:
    """Effective weights: a lone destination gets 100, as Istio does."""
    if len(routes) == 1:
        return [100]
    return [int(r.get("weight", 0)) for r in routes]
