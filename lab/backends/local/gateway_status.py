"""Gateway API status, written as Istio's controller writes it on a cluster.

HTTPRoute: status.parents[] with Accepted and ResolvedRefs (pilot/pkg/config/kube/gateway/
conditions.go: "Route was valid", "All references resolved", and the standard reasons); Gateway:
Accepted and Programmed, and per listener its attached routes. The status is worked out from the
objects the lab holds whenever it is read, so it follows Services and grants applied later.
"""

from lab.backends.local.gateway_api import CLASS, CONTROLLER, GROUP, HTTPROUTE, attach
from lab.manifests import Ref


def with_status(ref: Ref, obj: dict, objects: dict[Ref, dict]) -> dict:
    """`obj` with the status a cluster would show (objects outside the Gateway API are unchanged)."""
    if ref.group != GROUP or ref.kind not in ("Gateway", HTTPROUTE):
        return obj
    routes = attach(objects)
    status = _route_status(obj, routes[ref]) if ref.kind == HTTPROUTE else _gateway_status(ref, obj, routes)
    return {**obj, "status": status}


def apply_note(ref: Ref, objects: dict[Ref, dict]) -> str:
    """What a learner must know right after applying: a route not Accepted serves nothing."""
    if ref.group != GROUP:
        return ""
    if ref.kind == "Gateway" and (objects[ref].get("spec") or {}).get("gatewayClassName") != CLASS:
        return f" — not programmed: no controller runs gatewayClassName " \
               f"{objects[ref]['spec'].get('gatewayClassName')} (Istio's is {CLASS})"
    if ref.kind != HTTPROUTE:
        return ""
    result = attach(objects)[ref]
    if not result.parents:
        return " — no parent Gateway of class istio: it serves nothing"
    if not result.accepted:
        parent = result.parents[0]
        return f" — not Accepted by Gateway {parent.parent_ref['name']}: {parent.denied[0]} " \
               f"({parent.denied[1]}); it serves nothing"
    if result.unresolved:
        return f" — ResolvedRefs False: {result.unresolved[0]} ({result.unresolved[1]}); " \
               "its share answers 500"
    return ""


def _condition(kind: str, problem: tuple[str, str] | None, reason: str, message: str, obj: dict) -> dict:
    meta = obj["metadata"]
    return {"type": kind, "status": "False" if problem else "True",
            "reason": problem[0] if problem else reason, "message": problem[1] if problem else message,
            "observedGeneration": meta.get("generation", 1),
            # The lab keeps no history of conditions; it reports them as of the object's creation.
            "lastTransitionTime": meta.get("creationTimestamp")}


def _route_status(obj: dict, result) -> dict:
    parents = []
    for parent in result.parents:
        parents.append({
            "parentRef": parent.parent_ref,
            "controllerName": CONTROLLER,
            "conditions": [
                _condition("Accepted", parent.denied, "Accepted", "Route was valid", obj),
                _condition("ResolvedRefs", result.unresolved, "ResolvedRefs", "All references resolved", obj),
            ],
        })
    return {"parents": parents}


def _gateway_status(ref: Ref, obj: dict, routes) -> dict:
    spec = obj.get("spec") or {}
    if spec.get("gatewayClassName") != CLASS:
        # What the CRD's default status says while no controller has picked the Gateway up.
        pending = {"status": "Unknown", "reason": "Pending", "message": "Waiting for controller",
                   "lastTransitionTime": "1970-01-01T00:00:00Z"}
        return {"conditions": [{"type": "Accepted", **pending}, {"type": "Programmed", **pending}]}
    listeners = []
    for listener in spec.get("listeners") or []:
        attached = sum(1 for route_ref, result in routes.items() for parent in result.parents
                       if parent.denied is None and listener in parent.listeners
                       and (parent.parent_ref.get("namespace") or route_ref.namespace) == ref.namespace
                       and parent.parent_ref["name"] == ref.name)
        listeners.append({
            "name": listener["name"], "attachedRoutes": attached,
            "supportedKinds": [{"group": GROUP, "kind": HTTPROUTE}],
            "conditions": [_condition(kind, None, kind, message, obj) for kind, message in (
                ("Accepted", "No errors found"), ("Programmed", "No errors found"),
                ("ResolvedRefs", "No errors found"))],
        })
    return {
        "conditions": [
            _condition("Accepted", None, "Accepted", "Resource accepted", obj),
            _condition("Programmed", None, "Programmed",
                       "Resource programmed, served by the local lab's gateway on 127.0.0.1", obj),
        ],
        "listeners": listeners,
    }
