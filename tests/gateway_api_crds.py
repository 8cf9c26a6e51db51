"""Gateway API objects checked against the CRDs' own OpenAPI schemas, as an API server checks them.

The CRDs are the standard channel of Gateway API v1.6.0, the version Istio 1.31 builds against
(its go.mod), vendored in cluster/gateway-api/ from kubernetes-sigs/gateway-api
(config/crd/standard). Like `kubectl apply`'s strict field validation, a field the schema does
not name is an error. The CRDs' CEL rules (x-kubernetes-validations) are not evaluated here.
"""

import copy
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from lab.config import PROJECT_DIR

GROUP = "gateway.networking.k8s.io"
CRD_DIR = PROJECT_DIR / "cluster" / "gateway-api"
CRD_FILES = {"Gateway": "gateways.yaml", "GatewayClass": "gatewayclasses.yaml", "HTTPRoute": "httproutes.yaml",
             "ReferenceGrant": "referencegrants.yaml"}


@lru_cache
def schema_from(crd_file: Path, version: str) -> dict:
    """The strict OpenAPI schema a CRD file serves for one version (any project's CRD)."""
    crd = yaml.load(crd_file.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return _strict(copy.deepcopy(served["schema"]["openAPIV3Schema"]))


def validate_with(obj: dict, crd_file: Path) -> None:
    """Raise jsonschema.ValidationError when an API server with that CRD would refuse `obj`."""
    version = obj["apiVersion"].rpartition("/")[2]
    jsonschema.validate(obj, schema_from(crd_file, version), cls=jsonschema.Draft7Validator)


def schema_of(kind: str, version: str) -> dict:
    return schema_from(CRD_DIR / CRD_FILES[kind], version)


def validate(obj: dict) -> None:
    """Raise jsonschema.ValidationError when the API server would refuse `obj`."""
    validate_with(obj, CRD_DIR / CRD_FILES[obj["kind"]])


def _strict(schema):
    """Unknown fields are errors, except where the schema keeps unknown fields (metadata's maps)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict(value)
    return schema
