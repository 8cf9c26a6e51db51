"""Gateway API status, written as Istio's controller writes it on a cluster.

HTTPRoute: status.parents[] with Accepted and ResolvedRefs (pilot/pkg/config/kube/gateway/
conditions.go createRouteStatus: "Route was valid", "All references resolved", and the standard
reasons); Gateway: Accepted, Programmed and ResolvedRefs, its address, and per listener its
supported kinds, attached routes and conditions (conversion.go reportGatewayStatus, buildListener;
gatewaycommon/conversion.go ReportListenerCondition). Conditions are listed by type, as Istio sorts
them. The status is worked out from the objects the lab holds whenever it is read, so it follows
Services and grants applied later.
"""

from lab.backends.local.endpoints import CLUSTER_DOMAIN
from lab.backends.local.gateway_api import CLASS, CONTROLLER, GROUP, HTTPROUTE, RouteResult, attach
from lab.backends.local.gateway_listeners import listener_conflicts, supported_kinds
from lab.manifests import Ref

Problem = tuple[str, str] | None


def deployed_service(ref: Ref) -> str:
    """The Service Istio deploys for a Gateway of class istio: `<name>-istio` in its namespace
    (gatewaycommon/gateway_utils.go GetDefaultName), by its cluster host name."""
    return f"{ref.name}-{CLASS}.{ref.namespace}.{CLUSTER_DOMAIN}"


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
        reason, message = parent.denied or ("", "")
        return f" — not Accepted by Gateway {parent.parent_ref['name']}: {reason} ({message}); it serves nothing"
    if result.unresolved:
        what = "it serves nothing" if result.broken else "its share answers 500"
        return f" — ResolvedRefs False: {result.unresolved[0]} ({result.unresolved[1]}); {what}"
    return ""


def _condition(kind: str, problem: Problem, reason: str, message: str, obj: dict, status: str = "True") -> dict:
    meta = obj["metadata"]
    inverted = {"True": "False", "False": "True"}[status]
    return {"type": kind, "status": inverted if problem else status,
            "reason": problem[0] if problem else reason, "message": problem[1] if problem else message,
            "observedGeneration": meta.get("generation", 1),
            # The lab keeps no history of conditions; it reports them as of the object's creation.
            "lastTransitionTime": meta.get("creationTimestamp")}


def _route_status(obj: dict, result: RouteResult) -> dict:
    parents = []
    for parent in result.parents:
        bound = len(parent.served)
        valid = f"Route was valid, bound to {bound} parents" if bound > 1 else "Route was valid"
        parents.append({
            "parentRef": parent.parent_ref,
            "controllerName": CONTROLLER,
            "conditions": [
                _condition("Accepted", parent.denied, "Accepted", valid, obj),
                _condition("ResolvedRefs", result.unresolved, "ResolvedRefs", "All references resolved", obj),
            ],
        })
    return {"parents": parents}


def _gateway_status(ref: Ref, obj: dict, routes: dict[Ref, RouteResult]) -> dict:
    spec = obj.get("spec") or {}
    if spec.get("gatewayClassName") != CLASS:
        # What the CRD's default status says while no controller has picked the Gateway up.
        pending = {"status": "Unknown", "reason": "Pending", "message": "Waiting for controller",
                   "lastTransitionTime": "1970-01-01T00:00:00Z"}
        return {"conditions": [{"type": "Accepted", **pending}, {"type": "Programmed", **pending}]}
    listeners = spec.get("listeners") or []
    conflicts = listener_conflicts(listeners)
    attached: dict[str, int] = {}
    for result in routes.values():
        for parent in result.parents:
            if parent.denied is None and parent.gateway == ref:
                for served in parent.served:
                    attached[served.listener["name"]] = attached.get(served.listener["name"], 0) + 1
    service = deployed_service(ref)
    ports = sorted({f"{service}:{listener['port']}" for listener in listeners if listener["name"] not in conflicts})
    # Accepted with reason ListenersNotValid when a listener is not valid (reportGatewayStatus); only a
    # later listener conflicts, so one always is: "None of the Gateway's listeners are valid" never applies.
    accepted_reason, accepted_message = ("ListenersNotValid", "One or more of the Gateway's listeners are invalid") \
        if conflicts else ("Accepted", "Resource accepted")
    return {
        # The deployed Service's host name: what Istio reports for a gateway whose Service has no
        # external address (the lab's clusters make it ClusterIP; class istio's AddressType is Hostname).
        "addresses": [{"type": "Hostname", "value": service}],
        "conditions": [
            _condition("Accepted", None, accepted_reason, accepted_message, obj),
            _condition("Programmed", None, "Programmed",
                       f"Resource programmed, assigned to service(s) {_join(ports)}", obj),
            _condition("ResolvedRefs", None, "ResolvedRefs", "All references resolved", obj),
        ],
        "listeners": [_listener_status(listener, conflicts.get(listener["name"]), attached.get(listener["name"], 0),
                                       obj) for listener in listeners],
    }


def _listener_status(listener: dict, conflict: str | None, attached: int, obj: dict) -> dict:
    kinds, valid_kinds = supported_kinds(listener)
    fine = "No errors found"
    clash: Problem = (conflict, "Listener has a conflict with another listener attached to the same Gateway") \
        if conflict else None
    bad_kinds: Problem = None if valid_kinds else ("InvalidRouteKinds", "Invalid route kinds")
    conditions = [
        _condition("Accepted", clash, "Accepted", fine, obj),
        _condition("Conflicted", clash, "NoConflicts", fine, obj, status="False"),
        _condition("Programmed", clash, "Programmed", fine, obj),
        _condition("ResolvedRefs", bad_kinds, "ResolvedRefs", fine, obj),
    ]
    if clash and not bad_kinds:   # ReportListenerConflict sets no ResolvedRefs of its own
        conditions.pop()
    return {"name": listener["name"], "attachedRoutes": attached, "supportedKinds": kinds, "conditions": conditions}


def _join(items: list[str]) -> str:
    """gatewaycommon/conversion.go HumanReadableJoin: a, b, and c."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]
