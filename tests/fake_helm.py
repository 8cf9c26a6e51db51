"""`helm upgrade --install` of a local chart, played into the Kubernetes API emulator: the chart is
rendered by the real helm (`helm template`), the objects are applied with helm's ownership
metadata, the ones the new manifest drops are deleted, and `helm get manifest` returns what the
release holds — each as helm's own source does it (cited beside each rule)."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from lab.backends.cluster.kube import Kube
from lab.backends.cluster.runner import Result
from lab.manifests import parse_manifests, ref_of

# helm pkg/action/validate.go: the label and annotations that make an object the release's
MANAGED_BY = "app.kubernetes.io/managed-by"
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


class HelmReleases:
    def __init__(self, kube: Kube | None):
        self.kube = kube
        self.config: dict[tuple[str, str], dict] = {}     # (release, namespace) → the values the user supplied
        self.manifests: dict[tuple[str, str], str] = {}  # (release, namespace) → the rendered manifest
        self.revisions: dict[tuple[str, str], int] = {}

    def manifest(self, release: str, namespace: str) -> str:
        return self.manifests.get((release, namespace), "")

    def upgrade(self, argv: list[str]) -> Result:
        """`helm upgrade --install RELEASE CHART --namespace NS [--reuse-values] [--values F]… [--set K=V]…`."""
        assert self.kube is not None, "a release needs the emulator"
        release, chart = argv[3], Path(argv[4])
        namespace = argv[argv.index("--namespace") + 1]
        key = (release, namespace)
        flags = [arg for i, arg in enumerate(argv) if i > 4 and (arg in ("--values", "--set") or
                                                                  argv[i - 1] in ("--values", "--set"))]
        supplied = self._merged(chart, flags)
        old = self.config.get(key, {})
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "old-config.yaml"
            base.write_text(yaml.safe_dump(old))
            # helm pkg/action/upgrade.go reuseValues: with --reuse-values the new values are coalesced
            # over the old release's config; with no values at all, the old config is taken as it is
            if "--reuse-values" in argv or (not flags and old):
                flags = ["--values", str(base), *flags]
                supplied = self._merged(chart, flags)
            done = _helm(["template", release, str(chart), "--namespace", namespace, *flags])
        if done.returncode:
            return Result(1, "", done.stderr)
        objects = parse_manifests(done.stdout, f"{chart.name} (rendered)") if done.stdout.strip() else []
        conflict = self._not_ours(objects, release, namespace)
        if conflict:
            return Result(1, "", conflict)
        for obj in objects:
            labels = obj.setdefault("metadata", {}).setdefault("labels", {})
            labels[MANAGED_BY] = "Helm"
            obj["metadata"].setdefault("annotations", {}).update({RELEASE_NAME: release, RELEASE_NAMESPACE: namespace})
            obj["metadata"].setdefault("namespace", namespace)
            self.kube.apply(obj)
        kept = {ref_of(o) for o in objects}
        before = parse_manifests(self.manifests[key], "old") if self.manifests.get(key, "").strip() else []
        for gone in [ref_of(o) for o in before if ref_of(o) not in kept]:   # helm deletes what the chart dropped
            self.kube.delete(gone)
        self.config[key], self.manifests[key] = supplied, done.stdout
        self.revisions[key] = self.revisions.get(key, 0) + 1
        return Result(0, f'Release "{release}" has been upgraded. Happy Helming!\n', "")

    def _not_ours(self, objects: list[dict], release: str, namespace: str) -> str:
        """helm pkg/action/validate.go existingResourceConflict/checkOwnership: an object that exists
        without the release's label and annotations is refused, not adopted."""
        assert self.kube is not None
        for obj in objects:
            ref = ref_of({**obj, "metadata": {"namespace": namespace, **obj["metadata"]}})
            found = self.kube.get(ref)
            if found is None:
                continue
            meta = found.get("metadata") or {}
            if (meta.get("labels") or {}).get(MANAGED_BY) != "Helm" or \
                    (meta.get("annotations") or {}).get(RELEASE_NAME) != release or \
                    (meta.get("annotations") or {}).get(RELEASE_NAMESPACE) != namespace:
                return (f'Error: UPGRADE FAILED: Unable to continue with update: {ref.kind} "{ref.name}" in namespace '
                        f'"{ref.namespace}" exists and cannot be imported into the current release: invalid '
                        f'ownership metadata; label validation error: missing key "{MANAGED_BY}": '
                        'must be set to "Helm"')
        return ""

    @staticmethod
    def _merged(chart: Path, flags: list[str]) -> dict:
        """The values supplied (files, then --set), as helm merges them: a chart with no defaults
        whose one template prints .Values."""
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "probe"
            (probe / "templates").mkdir(parents=True)
            shutil.copyfile(chart / "Chart.yaml", probe / "Chart.yaml")
            (probe / "templates" / "values.yaml").write_text("{{ toYaml .Values }}\n")
            done = _helm(["template", "values", str(probe), *flags])
        return (yaml.safe_load(done.stdout) or {}) if done.returncode == 0 else {}


def _helm(args: list[str]) -> subprocess.CompletedProcess:
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("needs helm to render a chart as `helm upgrade` would")
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=60, check=False)
