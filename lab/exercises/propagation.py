"""Has the gateway caught up with what the lab holds? The one evidence a check has of propagation lag.

The lab's model of istiod (the local translator, through lab/routes.py) says what the gateway should
serve for a host, given every routing object the lab holds; when the gateway serves something else,
it has not pushed the change yet (or refused it). Only then may a check say "(yet)" and "wait": when
the model and the gateway agree, waiting changes nothing, and the routes are what they are.
"""

import json

from lab.backends.base import Backend, LiveRoute
from lab.errors import LabError
from lab.kinds import GATEWAY_API_GROUP
from lab.manifests import ref_of
from lab.routes import expected_routes, served

# What the translator reads to make a host's routes (pods do not change routes, only endpoints).
ROUTING_KINDS = (("Namespace", ""), ("Service", ""), ("Gateway", ""), ("VirtualService", ""),
                 ("DestinationRule", ""), ("Gateway", GATEWAY_API_GROUP), ("HTTPRoute", GATEWAY_API_GROUP),
                 ("ReferenceGrant", GATEWAY_API_GROUP))


# What else a step's check reads: the pods behind the routes (a Deployment's replicas and labels).
WATCHED_KINDS = (*ROUTING_KINDS, ("Deployment", ""))


def what_checks_read(backend: Backend) -> tuple:
    """Everything a check's outcome depends on, to tell when it may have changed: the gateway's live
    routes, the specs of the objects they are made of (a DestinationRule's subsets, a Service's selector,
    a ReferenceGrant, a Deployment's replicas) and the ready endpoints. Status fields are left out: they
    change on their own."""
    specs = sorted(json.dumps([o.get("kind"), (o.get("metadata") or {}).get("namespace"),
                               (o.get("metadata") or {}).get("name"), o.get("spec")], sort_keys=True, default=str)
                   for kind, group in WATCHED_KINDS for o in _listed(backend, kind, group))
    return backend.live_routes(), specs, backend.ready_endpoints()


def _listed(backend: Backend, kind: str, group: str) -> list[dict]:
    """A kind's objects, or none where the lab cannot list it (a cluster without the Gateway API's CRDs)."""
    try:
        return backend.list_objects(kind, group)
    except LabError:
        return []


def unserved_objects(backend: Backend, host: str, scheme: str, live: list[LiveRoute]) -> str:
    """The objects naming `host` whose routes the gateway does not serve (as the model says it should),
    e.g. "VirtualService canary-lab/canary"; "" when it serves what the lab holds, or when the model
    cannot tell (an object it does not take: then there is no evidence either way)."""
    objects = [o for kind, group in ROUTING_KINDS for o in backend.list_objects(kind, group)]
    # (one kind the lab cannot list leaves the model without it: route_table treats that as no evidence)
    naming = [o for o in objects if o.get("kind") in ("VirtualService", "HTTPRoute")
              and host in ((o.get("spec") or {}).get("hosts") or (o.get("spec") or {}).get("hostnames") or [])]
    if not naming:
        return ""    # nothing held names the host: nothing for the gateway to catch up with
    try:
        expected = expected_routes([], objects)
    except (LabError, KeyError, TypeError, ValueError, AttributeError):
        return ""
    key = (scheme, host)
    if served({key: expected.get(key, [])}, [r for r in live if r.scheme == scheme]):
        return ""
    return ", ".join(str(ref_of(o)) for o in naming)
