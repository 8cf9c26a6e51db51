"""Every manifest the project ships is valid for a real cluster.

Built-in kinds: kubernetes-validate (strict: unknown fields are errors).
Istio and cert-manager kinds: their pydantic models; the models drop unknown keys
silently, so the input is compared with what the model kept, to catch typos.
"""

import importlib

import jsonschema
import kubernetes_validate
import pytest
import yaml

from lab.backends.cluster.versions import KUBERNETES_MINOR
from lab.config import PROJECT_DIR
from lab.helm import render
from lab.manifests import load_manifest_file
from tests import argo_rollouts_crds, gateway_api_crds, helm_setup

KUBERNETES_VERSION = ".".join(map(str, KUBERNETES_MINOR))   # the clusters' Kubernetes
# JSON patches (patch-*.yaml) and Helm values (values*.yaml) are not objects; the catalogue
# self-test checks them. Charts are checked by what they render.
SHIPPED = sorted(
    path for path in [*PROJECT_DIR.glob("apps/*.yaml"), *PROJECT_DIR.glob("exercises/*/manifests/*.yaml"),
                      *PROJECT_DIR.glob("exercises/*/solutions/*.yaml"), PROJECT_DIR / "cluster" / "issuers.yaml",
                      PROJECT_DIR / "cluster" / "clients.yaml"]
    if not path.name.startswith(("patch-", "values")))
CHART_SETTINGS = [[], ["canary.enabled=true"], ["canary.enabled=true", "canary.weight=10"],
                  ["mtls.strict=true"]]
GRANT_SETTINGS = [["referenceGrant.enabled=true"],
                  ["referenceGrant.enabled=true", "canary.enabled=true", "canary.weight=10"]]
MODELS = {  # apiVersion group → cloudcoil module (the version is the module's last part)
    "networking.istio.io": "cloudcoil.models.istio.networking",
    "security.istio.io": "cloudcoil.models.istio.security",
    "cert-manager.io": "cloudcoil.models.cert_manager",
}


def documents():
    for path in SHIPPED:
        for index, obj in enumerate(load_manifest_file(path)):
            yield pytest.param(obj, id=f"{path.relative_to(PROJECT_DIR)}#{index}-{obj['kind']}")
    charts = sorted(PROJECT_DIR.glob("exercises/*/chart/*/Chart.yaml"))
    if charts and helm_setup.found is None:   # collected before any fixture could skip
        yield pytest.param(None, id="charts", marks=pytest.mark.skip(reason=helm_setup.missing))
        return
    for chart in charts:
        exercise = chart.parent.parent.parent.name
        grants = "referenceGrant" in yaml.safe_load((chart.parent / "values.yaml").read_text())   # Gateway API charts
        for settings in CHART_SETTINGS + GRANT_SETTINGS * grants:
            for index, obj in enumerate(render(chart.parent, "release", "traffic", settings=settings)):
                yield pytest.param(obj,
                                   id=f"{exercise}/{chart.parent.name}[{','.join(settings)}]#{index}-{obj['kind']}")


def unknown_keys(given, kept, path="") -> list[str]:
    """Keys present in the input but dropped by the model (typos, fields of another version)."""
    if isinstance(given, dict) and isinstance(kept, dict):
        found = []
        for key, value in given.items():
            where = f"{path}.{key}" if path else key
            found += [where] if key not in kept else unknown_keys(value, kept[key], where)
        return found
    if isinstance(given, list) and isinstance(kept, list):
        return [k for g, m in zip(given, kept, strict=True) for k in unknown_keys(g, m, path + "[]")]
    return []


def test_the_project_ships_manifests():
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("obj", list(documents()))
def test_shipped_manifest_is_valid(obj):
    group, _, version = obj["apiVersion"].rpartition("/")
    if group == gateway_api_crds.GROUP:
        gateway_api_crds.validate(obj)   # against the vendored CRDs' own schemas
    elif group == argo_rollouts_crds.GROUP:
        argo_rollouts_crds.validate(obj)   # Argo Rollouts' own CRD schemas, as vendored
    elif group in MODELS:
        model = getattr(importlib.import_module(f"{MODELS[group]}.{version}"), obj["kind"])
        kept = model.model_validate(obj).model_dump(by_alias=True, exclude_unset=True)
        assert unknown_keys(obj, kept) == []
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_a_typo_is_caught_by_this_check():
    vs = load_manifest_file(PROJECT_DIR / "exercises/canary/manifests/virtualservice.yaml")[0]
    vs["spec"]["http"][1]["rout"] = vs["spec"]["http"][1].pop("route")
    from cloudcoil.models.istio.networking.v1 import VirtualService

    kept = VirtualService.model_validate(vs).model_dump(by_alias=True, exclude_unset=True)
    assert unknown_keys(vs, kept) == ["spec.http[].rout"]


def test_a_bad_built_in_field_is_caught():
    service = load_manifest_file(PROJECT_DIR / "apps/sample-apps.yaml")[2]
    service["spec"]["selectr"] = service["spec"].pop("selector")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def test_a_wrong_rollout_field_is_caught_by_argos_own_schema():
    rollout = load_manifest_file(PROJECT_DIR / "exercises/auto-rollout/manifests/argo-rollout.yaml")[0]
    argo_rollouts_crds.validate(rollout)
    canary = rollout["spec"]["strategy"]["canary"]
    canary["trafficRouting"]["istio"]["destinationRule"]["canarySubset"] = \
        canary["trafficRouting"]["istio"]["destinationRule"].pop("canarySubsetName")
    with pytest.raises(jsonschema.ValidationError):
        argo_rollouts_crds.validate(rollout)
    template = load_manifest_file(PROJECT_DIR / "exercises/auto-rollout/manifests/argo-app.yaml")[5]
    assert template["kind"] == "AnalysisTemplate"
    template["spec"]["metrics"][0]["provider"]["prometheus"]["querry"] = "up"
    with pytest.raises(jsonschema.ValidationError):
        argo_rollouts_crds.validate(template)
