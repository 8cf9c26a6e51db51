"""Argo Rollouts objects checked against the CRDs' own OpenAPI schemas, as an API server checks them.

The CRDs are Argo Rollouts v1.9.1's (manifests/crds/rollout-crd.yaml and
analysis-template-crd.yaml at that tag), the version the lab installs, vendored in
cluster/argo-rollouts/. Unknown fields are errors, as under kubectl's strict field validation.
"""

import copy
from functools import lru_cache

import jsonschema
import yaml

from lab.config import PROJECT_DIR
from tests.gateway_api_crds import _strict

GROUP = "argoproj.io"
CRD_DIR = PROJECT_DIR / "cluster" / "argo-rollouts"
CRD_FILES = {"Rollout": "rollout-crd.yaml", "AnalysisTemplate": "analysis-template-crd.yaml"}


@lru_cache
def schema_of(kind: str, version: str) -> dict:
    crd = yaml.load((CRD_DIR / CRD_FILES[kind]).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return _strict(copy.deepcopy(served["schema"]["openAPIV3Schema"]))


def validate(obj: dict) -> None:
    """Raise jsonschema.ValidationError when the API server would refuse `obj`."""
    version = obj["apiVersion"].rpartition("/")[2]
    jsonschema.validate(obj, schema_of(obj["kind"], version), cls=jsonschema.Draft7Validator)
