"""The validation cases through the lab's real paths: `invoke apply`, `invoke patch` and `invoke helm`
against one local lab (real Envoy). Each refusal there is the very line `check_object` gives for the
same object (so the bulk of the cases can be judged by calling it), exits 1 and changes nothing; what
Istio accepts is applied; and a Deployment's selector cannot change on any path, as on a cluster.
"""

import copy
import json

import pytest
import yaml

from lab.backends.local.schema import check_object
from lab.config import EXERCISES_DIR, PROJECT_DIR
from lab.errors import ManifestError
from tests.conformance import (
    test_gateway_api_validation as gateway_api,
    test_istio_validation as istio,
    test_kubernetes_validation as kubernetes,
)
from tests.conformance.validation_cases import ACCEPTED, Case
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

NAMESPACE = "canary-lab"
CANARY_VS = yaml.safe_load((EXERCISES_DIR / "canary" / "manifests" / "virtualservice.yaml").read_text())
SAMPLE = list(yaml.safe_load_all((PROJECT_DIR / "apps" / "sample-apps.yaml").read_text()))
CHART = EXERCISES_DIR / "cross-namespace" / "chart" / "traffic-manager"


def pick(module, *ids: str) -> list[Case]:
    cases = {c.id: c for c in module.CASES}
    return [cases[i] for i in ids]


REFUSED_CASES = [
    *pick(istio, "TestValidateWildcardDomain: bad wildcard inside", "TestValidateVirtualService: duplicate hosts",
          "TestValidateVirtualService: namespace/* for gateway", "TestValidateVirtualService: bad gateway",
          "TestValidateRouteDestination: wildcard", "TestValidateHTTPRoute: total weight > 100",
          "TestValidatePort: 0", "validateSubsetName: subset with '_'", "TestValidateServerPort: invalid protocol",
          "ValidateDNS1123Labels: a port in the host"),
    *pick(gateway_api, "config/crd/standard: HTTPRoute v9", "config/crd/standard: ReferenceGrant without spec.to",
          "TestHTTPPathMatch: invalid exact path (/^)"),
    *pick(kubernetes, "TestIsValidPortNum: Service port 0"),
]
ACCEPTED_CASES = [
    *pick(istio, "ValidateDestinationRule: upper-case subset name", "TestInstanceValidate: good tag - DNS prefix"),
    *pick(gateway_api, "config/crd/standard: ReferenceGrant v1"),
]


def in_lab_namespace(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = NAMESPACE
    return obj


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("validation-paths"))
    try:
        lab.invoke("up", "--provider", "local")
        lab.invoke("apply", "-", input=(EXERCISES_DIR / "canary" / "manifests" / "gateway.yaml").read_text()
                   + "---\n" + yaml.safe_dump(CANARY_VS))
        yield lab
    finally:
        lab.cleanup()


def stored(lab) -> str:
    return (lab.paths.run_dir / "objects.json").read_text()


def refused_line(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("case", REFUSED_CASES, ids=[c.id for c in REFUSED_CASES])
def test_invoke_apply_refuses_as_check_object_does(lab, case: Case):
    obj = in_lab_namespace(case.obj)
    with pytest.raises(ManifestError) as expected:
        check_object(obj)
    before = stored(lab)
    line = refused_line(lab.invoke("apply", "-", input=yaml.safe_dump(obj), check=False))
    assert expected.value.message in line and case.says in line, line
    assert stored(lab) == before


@pytest.mark.parametrize("case", ACCEPTED_CASES, ids=[c.id for c in ACCEPTED_CASES])
def test_invoke_apply_takes_what_a_cluster_takes(lab, case: Case):
    assert case.expect == ACCEPTED
    obj = in_lab_namespace(case.obj)
    result = lab.invoke("apply", "-", input=yaml.safe_dump(obj))
    assert "created" in result.stdout or "configured" in result.stdout, result.stdout
    assert any(key.endswith(f"/{NAMESPACE}/{obj['metadata']['name']}") for key in json.loads(stored(lab)))


def test_a_typo_is_named_as_one_and_a_real_field_needs_a_cluster(lab):
    typo = copy.deepcopy(CANARY_VS)
    typo["spec"]["http"][1]["route"][0]["weigth"] = 100
    line = refused_line(lab.invoke("apply", "-", input=yaml.safe_dump(typo), check=False))
    assert "has no field spec.http[1].route[0].weigth" in line and "did you mean 'weight'?" in line, line
    assert "k3d" not in line
    kind = {**copy.deepcopy(CANARY_VS), "kind": "VirtualServce"}
    line = refused_line(lab.invoke("apply", "-", input=yaml.safe_dump(kind), check=False))
    assert "has no kind VirtualServce" in line and "did you mean VirtualService?" in line, line
    assert "HTTPRoute" in line and "ReferenceGrant" in line, line
    real = copy.deepcopy(CANARY_VS)
    real["spec"]["http"][1]["fault"] = {"abort": {"httpStatus": 503, "percentage": {"value": 10}}}
    line = refused_line(lab.invoke("apply", "-", input=yaml.safe_dump(real), check=False))
    assert "spec.http[1].fault is not supported by the local lab (a cluster supports it)" in line, line
    assert "k3d or minikube" in line


def deployment_with(selector: dict) -> dict:
    deployment = next(copy.deepcopy(o) for o in SAMPLE if o["kind"] == "Deployment" and
                      o["metadata"]["name"] == "httpbin")
    deployment["spec"]["selector"] = {"matchLabels": selector}
    deployment["spec"]["template"]["metadata"]["labels"].update(selector)
    return deployment


def test_a_deployments_selector_cannot_change_by_apply_or_patch(lab):
    before = stored(lab)
    line = refused_line(lab.invoke("apply", "-", input=yaml.safe_dump(deployment_with({"app": "other"})),
                                   check=False))
    assert "spec.selector: Invalid value" in line and "field is immutable" in line, line
    assert "invoke delete deploy httpbin -n canary-lab" in line
    patch = [{"op": "replace", "path": "/spec/selector/matchLabels/app", "value": "other"},
             {"op": "replace", "path": "/spec/template/metadata/labels/app", "value": "other"}]
    line = refused_line(lab.invoke("patch", "Deployment", "httpbin", "--patch", json.dumps(patch), check=False))
    assert "field is immutable" in line, line
    assert stored(lab) == before
    # the same selector again (other fields changed) is an ordinary update
    same = deployment_with({"app": "httpbin"})
    same["spec"]["replicas"] = 2
    assert "configured" in lab.invoke("apply", "-", input=yaml.safe_dump(same)).stdout


def test_helm_renders_through_the_same_check(lab, helm, tmp_path):
    lab.invoke("apply", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: traffic}\n")
    before = stored(lab)
    rendered_host = "search.lab.123"   # the chart's schema takes it; Istio refuses an all-numeric top-level label
    line = refused_line(lab.invoke("helm", str(CHART), "--release", "traffic-manager", "--namespace", "traffic",
                                   "--set", f"host={rendered_host}", check=False))
    assert "Istio refuses it" in line and rendered_host in line, line
    assert stored(lab) == before
