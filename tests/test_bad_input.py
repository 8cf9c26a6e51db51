"""Bad input through the real CLI: one line with the fix, exit 1, and the lab unchanged."""

import pytest

from lab.config import EXERCISES_DIR
from tests.lab_process import new_lab, running_lab

pytestmark = pytest.mark.slow

MANIFESTS = EXERCISES_DIR / "canary" / "manifests"
GOOD_VS = (MANIFESTS / "virtualservice.yaml").read_text()
TOO_BIG_FOR_ENVOY = "[a-z]{1000}" * 40


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("bad-input"), ("apply", str(MANIFESTS / "gateway.yaml")),
                     ("apply", str(MANIFESTS / "virtualservice.yaml"))) as lab:
        yield lab


def lab_snapshot(lab) -> tuple[str, str]:
    objects = (lab.root / ".lab" / "run" / "objects.json").read_text()
    routes = lab.invoke("status").stdout.split("gateway routes")[1]
    return objects, routes


def assert_refused(lab, result, *phrases):
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


SUBSET = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary, namespace: canary-lab}
spec:
  hosts: [canary.lab.local]
  gateways: [canary-gateway]
  http:
    - route:
        - {destination: {host: httpbin, subset: v2, port: {number: 8000}}}
"""


@pytest.mark.parametrize("text, phrases", [
    ("apiVersion: v1\nkind: Service\nmetadata: {name: x\n  spec: [\n", ["malformed YAML", "line"]),
    (SUBSET, ["subset v2", "no DestinationRule defines it"]),
    (GOOD_VS.replace("weight: 100", "weight: -5"), ["weight is -5", "0 or more", "Istio refuses it"]),
    (GOOD_VS.replace("      match:", "      fault: {abort: {httpStatus: 503}}\n      match:"),
     ["spec.http[0].fault is not supported by the local lab", "k3d or minikube"]),
    (GOOD_VS.replace("weight: 100", "weight: 80\n        - destination: {host: tornado}\n          weight: 30"),
     ["add up to 110", "weight ÷ 110", "the lab's convention, not Istio's rule"]),
    (GOOD_VS.replace("        - uri:\n            prefix: /websocket", "        - headers: {x-track: canary}"),
     ["spec.http[0].match[0].headers.x-track is 'canary', not a match", "write it as {exact: \"canary\"}"]),
], ids=["malformed-yaml", "unknown-subset", "negative-weight", "unsupported-field", "weights-not-100",
        "header-value-alone"])
def test_bad_manifest_is_refused_and_the_lab_keeps_serving_the_last_good_config(lab, text, phrases):
    before = lab_snapshot(lab)
    result = lab.invoke("apply", "-", input=text, check=False)
    assert_refused(lab, result, *phrases)
    assert lab_snapshot(lab) == before


def test_missing_file_is_one_line(lab):
    assert_refused(lab, lab.invoke("apply", "no-such.yaml", check=False), "no-such.yaml: no such file")


def test_apply_when_no_lab_is_up_says_to_run_up(tmp_path):
    idle = new_lab(tmp_path)
    assert_refused(idle, idle.invoke("apply", str(MANIFESTS / "gateway.yaml"), check=False), "invoke up")


def test_unknown_provider_is_refused(tmp_path):
    idle = new_lab(tmp_path)
    assert_refused(idle, idle.invoke("up", "--provider", "kubeadm", check=False), "unknown provider", "local")


def test_damaged_progress_file_is_one_line_and_kept(tmp_path):
    idle = new_lab(tmp_path)
    progress = tmp_path / ".lab" / "progress.json"
    progress.parent.mkdir()
    progress.write_text("{not json")
    assert_refused(idle, idle.invoke("status", check=False), "progress.json is damaged", "repair or delete")
    assert progress.read_text() == "{not json"


def test_a_config_envoy_rejects_is_reported_and_the_last_good_one_keeps_serving(lab):
    # Istio's validation takes a regex of at most 1024 characters that Go compiles; this one compiles
    # to 40,004 RE2 instructions, past the 32,768 Istio lets its Envoys take, so only the gateway refuses it.
    rejected = GOOD_VS.replace("            prefix: /websocket", f"            regex: '{TOO_BIG_FOR_ENVOY}'")
    before = lab_snapshot(lab)
    result = lab.invoke("apply", "-", input=rejected, check=False)
    assert_refused(lab, result, "rejected the new config", "last good config keeps serving")
    assert lab_snapshot(lab) == before
    traffic = lab.invoke("traffic", "--requests", "20")
    assert "httpbin" in traffic.stdout and "100.0%" in traffic.stdout


def test_addons_on_the_local_lab_are_refused_before_anything_starts(tmp_path):
    idle = new_lab(tmp_path)
    result = idle.invoke("up", "--provider", "local", "--addons", "kiali", check=False)
    assert_refused(idle, result, "need a cluster", "--provider k3d")
    assert not (tmp_path / ".lab" / "state.json").exists()


def test_a_registry_for_the_local_lab_is_refused_before_anything_starts(tmp_path):
    """--registry is --provider existing's: the local lab, which pulls no image, said so with a
    traceback and exit 3 (a method only the cluster backend has; mypy found it)."""
    idle = new_lab(tmp_path)
    result = idle.invoke("up", "--provider", "local", "--registry", "registry.example.com/team", check=False)
    assert_refused(idle, result, "--registry is for --provider existing", "leave --registry out")
    assert not (tmp_path / ".lab" / "state.json").exists()


def test_invoke_patch_changes_weights_and_a_bad_patch_changes_nothing(lab, tmp_path):
    good = tmp_path / "patch.yaml"
    good.write_text("- {op: replace, path: /spec/http/1/name, value: everything-else}\n")
    assert "virtualservice.networking.istio.io/canary patched\n" == \
        lab.invoke("patch", "VirtualService", "canary", "--patch-file", str(good)).stdout
    assert "patched (no change)" in lab.invoke("patch", "VirtualService", "canary", "--patch-file", str(good)).stdout
    before = lab_snapshot(lab)
    wrong_path = lab.invoke("patch", "VirtualService", "canary", "--patch", '[{"op": "replace", '
                            '"path": "/spec/http/7/route/0/weight", "value": 50}]', check=False)
    assert_refused(lab, wrong_path, "the patch does not apply to VirtualService canary-lab/canary")
    not_a_patch = lab.invoke("patch", "VirtualService", "canary", "--patch", "{op: replace}", check=False)
    assert_refused(lab, not_a_patch, "a JSON patch is a non-empty list")
    negative = lab.invoke("patch", "VirtualService", "canary", "--patch",
                          '[{"op": "replace", "path": "/spec/http/1/route/0/weight", "value": -1}]', check=False)
    assert_refused(lab, negative, "weight is -1")
    assert lab_snapshot(lab) == before


def test_a_bad_alpha_setting_is_refused_before_any_step_runs(lab):
    progress = lab.root / ".lab" / "progress.json"
    before = progress.read_text() if progress.exists() else None
    result = lab.invoke("exercise", "canary", "--yes", env_extra={"CANARY_LAB_ALPHA": "1%"}, check=False)
    assert_refused(lab, result, "CANARY_LAB_ALPHA=1%", "0.01")
    assert "Step 1" not in result.stdout
    assert (progress.read_text() if progress.exists() else None) == before


@pytest.mark.parametrize("values, phrases", [     # words helm 3 and helm 4 both use
    ("canary: {enabeld: true}", ["enabeld", "not allowed"]),
    ("canary: {enabled: true, weight: 110}", ["weight", "100"]),
], ids=["misspelt-key", "weight-past-100"])
@pytest.mark.parametrize("exercise, namespace", [("cross-namespace", "traffic"),
                                                 ("cross-namespace-gateway-api", "search-traffic")])
def test_helm_values_the_chart_does_not_allow_are_refused_by_its_schema(lab, tmp_path, values, phrases, helm,
                                                                        exercise, namespace):
    # Helm itself ignores unknown keys; the chart's values.schema.json makes them an error.
    values_file = tmp_path / "values.yaml"
    values_file.write_text(values + "\n")
    before = lab_snapshot(lab)
    result = lab.invoke("helm", str(EXERCISES_DIR / exercise / "chart" / "traffic-manager"),
                        "--release", "traffic-manager", "--namespace", namespace, "--values", str(values_file),
                        check=False)
    assert_refused(lab, result, "helm could not render traffic-manager", *phrases)
    assert lab_snapshot(lab) == before
