"""The lab stores a Gateway API object as an API server does: with exactly the defaults its CRD's
schema declares (structural defaulting, k8s.io/apiextensions-apiserver pkg/apiserver/schema/
defaulting: a missing property with a `default` gets it, then defaulting goes on inside), so
`invoke get` shows what `kubectl get -o yaml` shows, and routing reads the same values."""

import copy

import pytest
import yaml

from lab.backends.local.gateway_api import admit
from lab.manifests import load_manifest_file
from tests.gateway_api_crds import GROUP, schema_of
from tests.test_manifests_valid import SHIPPED

SPARSE = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g, namespace: ns}
spec:
  gatewayClassName: istio
  listeners:
    - {name: a, port: 80, protocol: HTTP}
    - {name: b, port: 81, protocol: HTTP, allowedRoutes: {kinds: [{kind: HTTPRoute}]}}
    - {name: c, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
    - {name: d, port: 82, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  parentRefs: [{name: g}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r2, namespace: ns}
spec:
  parentRefs: [{name: g, sectionName: a}]
  rules:
    - backendRefs: [{name: s, port: 80}]
    - matches: [{headers: [{name: x, value: y}]}, {path: {value: /p}}, {path: {type: Exact, value: /e}}, {method: GET}]
      backendRefs: [{name: s, port: 80, weight: 3}]
"""


def defaulted(value, schema: dict):
    """Structural defaulting as the API server applies a CRD's `default`s."""
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = defaulted(value[name], sub)
    elif isinstance(value, list) and "items" in schema:
        value = [defaulted(item, schema["items"]) for item in value]
    return value


def as_api_server_stores(obj: dict) -> dict:
    schema = schema_of(obj["kind"], obj["apiVersion"].rpartition("/")[2])
    return {**defaulted(copy.deepcopy(obj), schema), "metadata": obj["metadata"]}


OBJECTS = [obj for obj in yaml.safe_load_all(SPARSE)] + \
    [obj for path in SHIPPED for obj in load_manifest_file(path) if obj["apiVersion"].startswith(GROUP + "/")]


@pytest.mark.parametrize("obj", OBJECTS, ids=[f"{o['kind']}-{o['metadata']['name']}" for o in OBJECTS])
def test_admit_fills_in_exactly_the_crds_defaults(obj):
    stored = admit(obj, None)
    assert stored["spec"] == as_api_server_stores(obj)["spec"]   # status is the controller's (gateway_status.py)
    assert stored["metadata"]["generation"] == 1 and stored["metadata"]["creationTimestamp"]
