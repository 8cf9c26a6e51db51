"""`invoke helm` behaves like `helm upgrade --install`: on the local lab through real helm and
real Envoy (values as helm merges them, objects the chart drops deleted); on a cluster it runs
helm itself."""

import textwrap

import pytest

from lab.config import EXERCISES_DIR
from lab.errors import LabError
from lab.helm import upgrade
from lab.traffic.classify import Classifier
from lab.traffic.sampler import RequestSpec, count
from tests.fake_tools import cluster_backend
from tests.kube_emulator import Emulator
from tests.lab_process import new_lab

CHART = EXERCISES_DIR / "cross-namespace" / "chart" / "traffic-manager"
VERSIONS = Classifier.from_spec({"v1": {"header": {"x-version": "v1"}}, "v2": {"header": {"x-version": "v2"}}})
TESTER = (("X-Track", "canary"),)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("helm"))
    lab.invoke("up", "--provider", "local")
    lab.invoke("apply", str(EXERCISES_DIR / "cross-namespace" / "manifests" / "services.yaml"))
    yield lab
    lab.cleanup()


def helm(lab, *args: str, chart=CHART):
    return lab.invoke("helm", str(chart), "--release", "traffic-manager", "--namespace", "traffic", *args)


def served(lab, headers=()) -> dict[str, int]:
    return count(lab.url, RequestSpec(host="search.lab.local", headers=headers), VERSIONS, 200)


@pytest.mark.slow
def test_values_are_handled_as_helm_does_each_upgrade_from_the_defaults_unless_reuse_values(lab, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("canary: {enabled: true, weight: 10}\n")
    installed = helm(lab, "--values", str(values)).stdout
    assert 'release "traffic-manager"' in installed and "revision" in installed
    assert served(lab, TESTER) == {"v2": 200}

    # --reuse-values: the last values (enabled, the header route) stay; --set moves the weight.
    helm(lab, "--reuse-values", "--set", "canary.weight=50")
    assert served(lab, TESTER) == {"v2": 200}
    half = served(lab)
    assert half.get("v1", 0) > 50 and half.get("v2", 0) > 50, half   # 50/50: P(either < 50 of 200) < 1e-12

    # Without it the upgrade starts from the chart's defaults: canary.enabled falls back to false.
    helm(lab, "--set", "canary.weight=50")
    assert served(lab, TESTER) == {"v1": 200} and served(lab) == {"v1": 200}


@pytest.mark.slow
def test_objects_the_chart_no_longer_renders_are_deleted_by_the_next_upgrade(lab, tmp_path):
    chart = tmp_path / "preview"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: preview\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("preview: false\n")
    (chart / "templates" / "preview.yaml").write_text(textwrap.dedent("""\
        {{- if .Values.preview }}
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: preview, namespace: {{ .Release.Namespace }}}
        spec:
          selector: {istio: ingressgateway}
          servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [preview.lab.local]}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: preview, namespace: {{ .Release.Namespace }}}
        spec:
          hosts: [preview.lab.local]
          gateways: [preview]
          http: [{route: [{destination: {host: search.services-v2.svc.cluster.local}}]}]
        {{- end }}
        """))
    preview = RequestSpec(host="preview.lab.local")
    lab.invoke("helm", str(chart), "--release", "preview", "--namespace", "traffic", "--set", "preview=true")
    assert count(lab.url, preview, VERSIONS, 20) == {"v2": 20}

    # Any value given (here --set) starts from the chart's defaults: preview is off again. (With no
    # values at all helm would keep the last ones: tests/test_helm_values.py.)
    upgraded = lab.invoke("helm", str(chart), "--release", "preview", "--namespace", "traffic",
                          "--set", "preview=false").stdout
    assert "virtualservice/preview deleted" in upgraded and "gateway/preview deleted" in upgraded
    assert count(lab.url, preview, VERSIONS, 20) == {"unclassified": 20}      # the gateway's 404: host gone
    gone = lab.invoke("get", "VirtualService", "preview", "--namespace", "traffic", check=False)
    assert gone.returncode == 1


@pytest.fixture
def cluster():
    with Emulator() as running:
        yield running


def test_on_a_cluster_invoke_helm_runs_helm_upgrade_install_with_the_values_flags(lab_root, tools, cluster, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("canary: {enabled: true}\n")
    lines = upgrade(cluster_backend("k3d", tools, cluster), CHART, "traffic-manager", "traffic", [values],
                    ["canary.weight=10"], reuse_values=True)
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    # https://helm.sh/docs/helm/helm_upgrade/: --install, --reuse-values, --values, --set
    assert tools.calls[0] == ["helm", "upgrade", "--install", "traffic-manager", str(CHART), "--namespace", "traffic",
                              "--reuse-values", "--values", str(values), "--set", "canary.weight=10",
                              "--kubeconfig", kubeconfig]
    assert tools.calls[1] == ["helm", "get", "manifest", "traffic-manager", "--namespace", "traffic",
                              "--kubeconfig", kubeconfig]
    assert "helm upgrade --install" in lines[0]



@pytest.mark.slow
def test_resuming_the_exercise_replays_its_helm_steps_as_a_release(tmp_path, monkeypatch):
    """After `down` and `up`, the walkthrough restores earlier steps; a chart step must come back
    as a release (on a cluster, a real helm would otherwise refuse objects it does not own)."""
    from lab.backends.select import current_backend
    from lab.config import lab_paths
    from lab.exercises.catalogue import load_exercise
    from lab.exercises.walkthrough import Walkthrough
    from lab.state import Progress

    fresh = new_lab(tmp_path / "resume")
    try:
        fresh.invoke("up", "--provider", "local")
        monkeypatch.setenv("CANARY_LAB_ROOT", str(fresh.root))
        exercise = load_exercise("cross-namespace")
        Progress(lab_paths()).mark_done("cross-namespace", "header-only")
        walkthrough = Walkthrough(exercise, current_backend(lab_paths()), lab_paths(), yes=True)
        walkthrough.restore(exercise.steps.index(exercise.step("canary-10")))
        assert served(fresh, TESTER) == {"v2": 200}      # the header-only solution, replayed
        values = tmp_path / "values.yaml"
        values.write_text("canary: {enabled: true, weight: 10}\n")
        assert "upgraded" in helm(fresh, "--values", str(values)).stdout
    finally:
        fresh.cleanup()


def test_on_a_cluster_objects_helm_does_not_own_are_named_with_how_to_clear_them(lab_root, tools, cluster):
    tools.fail["helm upgrade"] = ('Error: UPGRADE FAILED: Unable to continue with update: VirtualService '
                                  '"traffic-manager" in namespace "traffic" exists and cannot be imported into the '
                                  'current release: invalid ownership metadata; label validation error: missing key '
                                  '"app.kubernetes.io/managed-by": must be set to "Helm"')
    with pytest.raises(LabError) as refused:
        upgrade(cluster_backend("k3d", tools, cluster), CHART, "traffic-manager", "traffic")
    assert "helm did not make" in refused.value.message and "invalid ownership metadata" in refused.value.message
    assert "kubectl delete virtualservice,gateway traffic-manager -n traffic" in refused.value.fix
