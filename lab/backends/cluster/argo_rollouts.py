"""Argo Rollouts on a cluster lab: its release's install manifest, checked, applied and removed;
and a Rollout's status read back.

The manifest is the release asset `install.yaml` (argo-rollouts .github/workflows/release.yaml
uploads manifests/install.yaml, built with `make manifests IMAGE_TAG=<tag>`). The release's
checksum file (argo-rollouts-checksums.txt) covers only the CLI binaries (Makefile `checksums`),
so the manifest's sha256 is taken from the release's SLSA provenance, `argo-rollouts.intoto.jsonl`
(the same workflow's `sha256sum ./dist/kubectl-argo-rollouts-* ./manifests/*.yaml` subjects).
The provenance's signature is not verified here (that needs cosign or slsa-verifier): as with the
lab's tools, the download must match what its release publishes, or nothing is used. Downloaded
once into the lab's folder, never at test time.
"""

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from lab.backends.cluster import downloads
from lab.backends.cluster.runner import Runner, tool_failed
from lab.backends.cluster.versions import ARGO_ROLLOUTS
from lab.errors import LabError

NAMESPACE = "argo-rollouts"          # install.yaml's ClusterRoleBinding names this namespace
CONTROLLER = "argo-rollouts"         # its Deployment
CRD = "rollouts.argoproj.io"         # the Rollout kind's CRD (manifests/crds/rollout-crd.yaml)
RELEASE = f"https://github.com/argoproj/argo-rollouts/releases/download/{ARGO_ROLLOUTS}"
MANIFEST_URL = f"{RELEASE}/install.yaml"
PROVENANCE_URL = f"{RELEASE}/argo-rollouts.intoto.jsonl"   # release.yaml: provenance-name


def manifest_path(cache_dir: Path) -> Path:
    return cache_dir / f"argo-rollouts-{ARGO_ROLLOUTS}-install.yaml"


def fetch_manifest(cache_dir: Path, manifest_url: str = MANIFEST_URL, provenance_url: str = PROVENANCE_URL) -> Path:
    """The pinned install.yaml, downloaded once and kept only if its sha256 is the provenance's."""
    target = manifest_path(cache_dir)
    if target.exists():
        return target
    expected = provenance_digest(_get(provenance_url).decode(), "manifests/install.yaml")
    return downloads.keep_verified(_get(manifest_url), expected, target,
                                   f"Argo Rollouts {ARGO_ROLLOUTS} install.yaml (sha256 from the release's provenance)")


def provenance_digest(jsonl: str, subject: str) -> str:
    """The sha256 an in-toto provenance gives for `subject`, a path as the release workflow hashed
    it (`./manifests/install.yaml`). One document a line: a Sigstore bundle, its DSSE envelope under
    `dsseEnvelope` (slsa-github-generator v2.1.0, which the v1.9.1 release used: CHANGELOG
    "Sigstore Bundles for Generic Generator", signing/sigstore/bundle.go), or a bare envelope
    (earlier generators)."""
    for line in filter(str.strip, jsonl.splitlines()):
        try:
            document = json.loads(line)
            envelope = document.get("dsseEnvelope", document)
            statement = json.loads(base64.b64decode(envelope["payload"]))
            subjects = statement["subject"]
        except (ValueError, KeyError, TypeError):
            continue
        for entry in subjects:
            name = str(entry.get("name", "")).removeprefix("./")
            if name == subject and "sha256" in (entry.get("digest") or {}):
                return entry["digest"]["sha256"]
    raise LabError(f"Argo Rollouts {ARGO_ROLLOUTS}: the release's provenance names no sha256 for {subject}",
                   "check ARGO_ROLLOUTS in lab/backends/cluster/versions.py")


def _get(url: str) -> bytes:
    return downloads.get(url, f"Argo Rollouts {ARGO_ROLLOUTS}",
                         "check ARGO_ROLLOUTS in lab/backends/cluster/versions.py")


def install_argv(manifest: Path, kubeconfig: Path) -> list[list[str]]:
    """docs/installation.md: `kubectl create namespace argo-rollouts`, then apply install.yaml into it.
    Server-side, as its docs apply the CRDs: the Rollout CRD is too big for kubectl's
    last-applied annotation (262144 bytes)."""
    config = ["--kubeconfig", str(kubeconfig)]
    return [["kubectl", "create", "namespace", NAMESPACE, *config],
            ["kubectl", "apply", "--server-side", "--namespace", NAMESPACE, "-f", str(manifest), *config],
            ["kubectl", "rollout", "status", f"deployment/{CONTROLLER}", "--namespace", NAMESPACE,
             "--timeout=300s", *config]]


def install(runner: Runner, manifest: Path, kubeconfig: Path) -> None:
    create, *rest = install_argv(manifest, kubeconfig)
    created = runner.run(create, timeout=60, check=False)
    if created.returncode != 0 and "AlreadyExists" not in created.stderr:
        raise tool_failed(create, created)      # kubectl's own words
    for argv in rest:
        runner.run(argv, timeout=400)


def uninstall_argv(manifest: Path, kubeconfig: Path) -> list[list[str]]:
    """What install made, deleted by the same manifest (CRDs, and the Rollouts with them), then the namespace."""
    config = ["--kubeconfig", str(kubeconfig)]
    return [["kubectl", "delete", "--namespace", NAMESPACE, "-f", str(manifest), "--ignore-not-found", "--wait",
             *config],
            ["kubectl", "delete", "namespace", NAMESPACE, "--ignore-not-found", *config]]


@dataclass(frozen=True)
class RolloutStatus:
    """A Rollout as `kubectl argo rollouts get` summarises it (pkg/apis/rollouts/v1alpha1/types.go:
    RolloutStatus.Phase and Message; CanaryStatus.Weights, the weights the controller set)."""
    phase: str               # Healthy, Progressing, Paused or Degraded (RolloutPhase)
    message: str
    canary_weight: int | None
    stable_weight: int | None
    aborted: bool

    def line(self) -> str:
        weights = (f", weights stable {self.stable_weight}% / canary {self.canary_weight}%"
                   if self.canary_weight is not None else "")
        return f"{self.phase or 'no phase yet'}{weights}" + (f" ({self.message})" if self.message else "")


def rollout_status(rollout: dict) -> RolloutStatus:
    """Until the controller has observed the Rollout's spec (status.observedGeneration, a string in
    Argo's status, = metadata.generation), its phase is the old spec's: Progressing, as argo-rollouts
    utils/rollout/rolloututil.go GetRolloutPhase says. Healthy also needs the stable ReplicaSet to
    be the current pod template's (status.stableRS = status.currentPodHash)."""
    status = rollout.get("status") or {}
    weights = ((status.get("canary") or {}).get("weights")) or {}
    phase = status.get("phase", "")
    generation = str((rollout.get("metadata") or {}).get("generation", ""))
    if phase and str(status.get("observedGeneration", "")) != generation:
        phase = "Progressing"
    elif phase == "Healthy" and status.get("stableRS") != status.get("currentPodHash"):
        phase = "Progressing"
    return RolloutStatus(phase=phase, message=status.get("message", ""),
                         canary_weight=(weights.get("canary") or {}).get("weight"),
                         stable_weight=(weights.get("stable") or {}).get("weight"),
                         aborted=bool(status.get("abort")))
