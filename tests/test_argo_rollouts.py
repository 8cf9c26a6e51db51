"""Argo Rollouts on a cluster lab: the release's install.yaml is kept only when its sha256 is the
one the release's provenance names; install and removal run kubectl as Argo's docs do (fake
tools, a Kubernetes API emulator); a Rollout's status is read as the controller writes it."""

import base64
import functools
import hashlib
import http.server
import json

import pytest

from lab.backends.cluster import argo_rollouts
from lab.backends.cluster.argo_rollouts import fetch_manifest, manifest_path, provenance_digest, rollout_status
from lab.config import lab_paths
from lab.errors import LabError
from lab.manifests import Ref
from lab.state import load_state
from tests import test_cluster_backend
from tests.fake_tools import pin_addons
from tests.loopback_http import serving

cluster, commands_on = test_cluster_backend.cluster, test_cluster_backend.commands_on   # their fixtures

MANIFEST = b"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: argo-rollouts}\n"


def provenance(subjects: dict[str, bytes], bundle: bool = True) -> str:
    """An in-toto provenance as slsa-github-generator writes it: a DSSE envelope a line, its
    payload a base64 Statement whose subjects are `sha256sum`'s names and hashes."""
    statement = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
                 "subject": [{"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}
                             for name, data in subjects.items()]}
    envelope = {"payloadType": "application/vnd.in-toto+json",
                "payload": base64.b64encode(json.dumps(statement).encode()).decode(), "signatures": [{"sig": "x"}]}
    # slsa-github-generator v2.1.0 (the v1.9.1 release's) writes a Sigstore bundle a line, the
    # envelope under dsseEnvelope (signing/sigstore/bundle.go); earlier ones, the bare envelope.
    document = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "verificationMaterial": {}, "dsseEnvelope": envelope} if bundle else envelope
    return json.dumps(document) + "\n"


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "release"
    root.mkdir()

    class Files(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    with serving(functools.partial(Files, directory=str(root))) as url:
        yield root, url


def urls(url: str) -> dict:
    return {"manifest_url": f"{url}/install.yaml", "provenance_url": f"{url}/argo-rollouts.intoto.jsonl"}


def test_the_manifest_is_kept_when_the_provenance_names_its_hash_and_not_fetched_again(release, tmp_path):
    root, url = release
    (root / "install.yaml").write_bytes(MANIFEST)
    (root / "argo-rollouts.intoto.jsonl").write_text(provenance({
        "./dist/kubectl-argo-rollouts-linux-amd64": b"cli", "./manifests/namespace-install.yaml": b"other",
        "./manifests/install.yaml": MANIFEST}))
    kept = fetch_manifest(tmp_path / "downloads", **urls(url))
    assert kept == manifest_path(tmp_path / "downloads") and kept.read_bytes() == MANIFEST
    (root / "install.yaml").unlink()
    assert fetch_manifest(tmp_path / "downloads", **urls(url)) == kept      # kept: no second download


def test_a_manifest_that_is_not_the_released_one_is_refused_and_nothing_kept(release, tmp_path):
    root, url = release
    (root / "install.yaml").write_bytes(MANIFEST + b"# changed\n")
    (root / "argo-rollouts.intoto.jsonl").write_text(provenance({"./manifests/install.yaml": MANIFEST}))
    with pytest.raises(LabError, match="sha256 is not the pinned one; nothing was installed"):
        fetch_manifest(tmp_path / "downloads", **urls(url))
    assert not (tmp_path / "downloads").exists() or list((tmp_path / "downloads").iterdir()) == []


def test_another_manifests_hash_is_never_taken_for_install_yamls():
    only_namespaced = provenance({"./manifests/namespace-install.yaml": MANIFEST})
    with pytest.raises(LabError, match="names no sha256 for manifests/install.yaml"):
        provenance_digest(only_namespaced, "manifests/install.yaml")


def test_offline_is_one_line(tmp_path):
    with pytest.raises(LabError, match="cannot download Argo Rollouts .*offline"):
        fetch_manifest(tmp_path, manifest_url="http://127.0.0.1:9/install.yaml",
                       provenance_url="http://127.0.0.1:9/p.jsonl")


def test_the_pinned_release_assets_are_argos_own_names():
    version = argo_rollouts.ARGO_ROLLOUTS
    assert argo_rollouts.MANIFEST_URL == \
        f"https://github.com/argoproj/argo-rollouts/releases/download/{version}/install.yaml"
    assert argo_rollouts.PROVENANCE_URL.endswith(f"/{version}/argo-rollouts.intoto.jsonl")


def up_on_their_cluster(tools, commands_on):
    """`up --provider existing` on a cluster that has its own Istio (so the lab installs none)."""
    tools._deployment("istio-system", "istiod")
    tools._deployment("istio-system", "istio-ingressgateway")
    commands_on.up(provider="existing")


def test_install_on_a_cluster_then_down_removes_it(lab_root, tools, cluster, commands_on):
    up_on_their_cluster(tools, commands_on)
    backend = commands_on.make_backend(lab_paths(), "existing")
    manifest = manifest_path(lab_root / ".lab" / "downloads")   # downloaded before: none at test time
    manifest.parent.mkdir(parents=True)
    manifest.write_bytes(MANIFEST)
    cluster.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argo-rollouts"}})
    kubeconfig = str(lab_root / ".lab" / "kubeconfig")
    tools.calls.clear()
    lines = backend.install_argo_rollouts()
    assert tools.calls == [
        ["kubectl", "create", "namespace", "argo-rollouts", "--kubeconfig", kubeconfig],   # there: tolerated
        ["kubectl", "apply", "--server-side", "--namespace", "argo-rollouts", "-f", str(manifest),
         "--kubeconfig", kubeconfig],
        ["kubectl", "rollout", "status", "deployment/argo-rollouts", "--namespace", "argo-rollouts",
         "--timeout=300s", "--kubeconfig", kubeconfig]]
    assert lines == [f"Argo Rollouts {argo_rollouts.ARGO_ROLLOUTS} installed in namespace argo-rollouts"]
    assert "argo-rollouts" in load_state(lab_paths()).settings["installed"]
    tools.calls.clear()
    assert "installed already (rollouts.argoproj.io exists)" in backend.install_argo_rollouts()[0] and tools.calls == []
    commands_on.down()
    assert ["kubectl", "delete", "--namespace", "argo-rollouts", "-f", str(manifest), "--ignore-not-found",
            "--wait", "--kubeconfig", kubeconfig] in tools.calls
    assert ["kubectl", "delete", "namespace", "argo-rollouts", "--ignore-not-found", "--kubeconfig",
            kubeconfig] in tools.calls
    assert cluster.kube.get(Ref("Deployment", "argo-rollouts", "argo-rollouts")) is None


def test_a_namespace_that_cannot_be_made_fails_with_kubectls_words(lab_root, tools, cluster, commands_on):
    up_on_their_cluster(tools, commands_on)
    backend = commands_on.make_backend(lab_paths(), "existing")
    manifest = manifest_path(lab_root / ".lab" / "downloads")
    manifest.parent.mkdir(parents=True)
    manifest.write_bytes(MANIFEST)
    tools.fail["kubectl create namespace argo-rollouts"] = "error: forbidden: User cannot create namespaces"
    with pytest.raises(LabError, match="forbidden"):
        backend.install_argo_rollouts()
    assert "argo-rollouts" not in load_state(lab_paths()).settings.get("installed", [])


def test_a_rollouts_status_is_read_as_the_controller_writes_it(lab_root, tools, cluster, commands_on):
    up_on_their_cluster(tools, commands_on)
    backend = commands_on.make_backend(lab_paths(), "existing")
    cluster.kube.apply({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                        "metadata": {"name": "shop", "namespace": "shop-argo"}, "spec": {"replicas": 2},
                        "status": {"phase": "Degraded",
                                   "message": "RolloutAborted: metric \"error-rate\" assessed Failed",
                                   "abort": True, "canary": {"weights": {"canary": {"weight": 0},
                                                                         "stable": {"weight": 100}}}}})
    status = rollout_status(backend.get(Ref("Rollout", "shop-argo", "shop")))
    assert (status.phase, status.aborted, status.stable_weight, status.canary_weight) == ("Degraded", True, 100, 0)
    assert status.line() == ('Degraded, weights stable 100% / canary 0% '
                             '(RolloutAborted: metric "error-rate" assessed Failed)')
    assert rollout_status({"status": {}}).line() == "no phase yet"


def test_the_exercises_argo_step_installs_prometheus_and_argo_before_its_manifests(lab_root, tools, cluster,
                                                                                  commands_on, monkeypatch):
    from lab.exercises.catalogue import load_exercise
    from lab.exercises.walkthrough import Walkthrough

    up_on_their_cluster(tools, commands_on)
    pin_addons(monkeypatch, lab_root / ".lab" / "downloads")
    backend = commands_on.make_backend(lab_paths(), "existing")
    manifest = manifest_path(lab_root / ".lab" / "downloads")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_bytes(MANIFEST)
    exercise = load_exercise("auto-rollout")
    step = exercise.step("argo-install")
    tools.calls.clear()
    Walkthrough(exercise, backend, lab_paths(), yes=True).install(step)
    applied = [c for c in tools.calls if c[:2] == ["kubectl", "apply"]]
    assert applied[0][-3].endswith("/samples/addons/prometheus.yaml")          # Istio's addon, for the analysis
    assert applied[1][:3] == ["kubectl", "apply", "--server-side"] and str(manifest) in applied[1]
    assert cluster.kube.get(Ref("Deployment", "argo-rollouts", "argo-rollouts")) is not None


def test_a_bare_dsse_envelope_as_older_generators_wrote_is_read_too():
    assert provenance_digest(provenance({"./manifests/install.yaml": MANIFEST}, bundle=False),
                             "manifests/install.yaml") == hashlib.sha256(MANIFEST).hexdigest()
