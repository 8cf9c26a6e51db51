"""Argo Rollouts objects checked against the CRDs' own OpenAPI schemas, as an API server checks them.

The CRDs are Argo Rollouts v1.9.1's (manifests/crds/rollout-crd.yaml and
analysis-template-crd.yaml at that tag), the version the lab installs, vendored in
cluster/argo-rollouts/. Unknown fields are errors, as under kubectl's strict field validation.
"""

from lab.config import PROJECT_DIR
from tests.gateway_api_crds import schema_from, validate_with

GROUP = "argoproj.io"
CRD_DIR = PROJECT_DIR / "cluster" / "argo-rollouts"
CRD_FILES = {"Rollout": "rollout-crd.yaml", "AnalysisTemplate": "analysis-template-crd.yaml"}


def schema_of(kind: str, version: str) -> dict:
    return schema_from(CRD_DIR / CRD_FILES[kind], version)


def validate(obj: dict) -> None:
    """Raise jsonschema.ValidationError when the API server would refuse `obj`."""
    validate_with(obj, CRD_DIR / CRD_FILES[obj["kind"]])
