"""Helm charts, rendered with the real helm (`helm template`) into objects the lab applies
like any other: the same on the local lab and on a cluster."""

import shutil
import subprocess
from pathlib import Path

from lab.config import lab_paths
from lab.errors import LabError
from lab.manifests import parse_manifests


def helm_binary() -> str:
    """helm from PATH, else the lab's own copy (downloaded once, checksum-verified)."""
    found = shutil.which("helm")
    if found:
        return found
    from lab.backends.cluster.tools import ensure_tool, releases

    return str(ensure_tool(releases()["helm"], lab_paths().home / "bin"))


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
