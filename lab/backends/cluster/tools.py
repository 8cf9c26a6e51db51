"""The command-line tools the cluster lab needs: taken from PATH at a usable version,
otherwise downloaded once at a pinned version into the lab's own bin folder and
checked against the checksum the release publishes.

Nothing half-written is ever left: a download goes to a temporary file that
is renamed into place only after its checksum matched.
"""

import hashlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab import ui
from lab.backends.cluster.versions import TOOLS
from lab.errors import LabError

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Release:
    """Where one pinned tool version is published."""
    tool: str
    version: str
    url: str                    # the binary, or a .tar.gz holding it
    checksum_url: str           # a sha256 file: the bare hash, or "HASH  FILENAME" lines
    member: str | None = None   # the binary's path inside the archive
    version_argv: tuple[str, ...] = ()


def platform_names() -> tuple[str, str]:
    system = platform.system().lower()
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(),
                                                                            platform.machine().lower())
    return system, machine


def releases() -> dict[str, Release]:
    """The official release locations for this OS/arch (each tool's install docs)."""
    os_name, arch = platform_names()
    v = TOOLS
    gh = "https://github.com"
    return {
        # https://k3d.io/stable/#install-specific-release (assets k3d-OS-ARCH, checksums.txt)
        "k3d": Release("k3d", v["k3d"], f"{gh}/k3d-io/k3d/releases/download/v{v['k3d']}/k3d-{os_name}-{arch}",
                       f"{gh}/k3d-io/k3d/releases/download/v{v['k3d']}/checksums.txt",
                       version_argv=("k3d", "version")),
        # https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/ (binary + .sha256)
        "kubectl": Release("kubectl", v["kubectl"],
                           f"https://dl.k8s.io/release/v{v['kubectl']}/bin/{os_name}/{arch}/kubectl",
                           f"https://dl.k8s.io/release/v{v['kubectl']}/bin/{os_name}/{arch}/kubectl.sha256",
                           version_argv=("kubectl", "version", "--client")),
        # https://helm.sh/docs/intro/install/ (helm-vX-OS-ARCH.tar.gz + .sha256sum)
        "helm": Release("helm", v["helm"], f"https://get.helm.sh/helm-v{v['helm']}-{os_name}-{arch}.tar.gz",
                        f"https://get.helm.sh/helm-v{v['helm']}-{os_name}-{arch}.tar.gz.sha256sum",
                        member=f"{os_name}-{arch}/helm", version_argv=("helm", "version", "--short")),
        # https://istio.io/latest/docs/setup/additional-setup/download-istio-release/
        "istioctl": Release("istioctl", v["istioctl"],
                            f"{gh}/istio/istio/releases/download/{v['istioctl']}/"
                            f"istioctl-{v['istioctl']}-{os_name}-{arch}.tar.gz",
                            f"{gh}/istio/istio/releases/download/{v['istioctl']}/"
                            f"istioctl-{v['istioctl']}-{os_name}-{arch}.tar.gz.sha256",
                            member="istioctl", version_argv=("istioctl", "version", "--remote=false")),
        # https://minikube.sigs.k8s.io/docs/start/ (minikube-OS-ARCH + .sha256)
        "minikube": Release("minikube", v["minikube"],
                            f"{gh}/kubernetes/minikube/releases/download/v{v['minikube']}/minikube-{os_name}-{arch}",
                            f"{gh}/kubernetes/minikube/releases/download/v{v['minikube']}/"
                            f"minikube-{os_name}-{arch}.sha256",
                            version_argv=("minikube", "version", "--short")),
    }


def version_tuple(text: str) -> tuple[int, ...] | None:
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in found.groups()) if found else None


def path_version(release: Release) -> tuple[int, ...] | None:
    """The version of the tool on PATH, or None when absent or it does not say."""
    if not shutil.which(release.tool):
        return None
    try:
        done = subprocess.run(list(release.version_argv), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return version_tuple(done.stdout + done.stderr)


def usable_on_path(release: Release) -> bool:
    found = path_version(release)
    return found is not None and found >= version_tuple(release.version)


def ensure_tool(release: Release, bin_dir: Path) -> Path:
    """The tool to run: PATH when usable, else the lab's copy, downloaded once."""
    if usable_on_path(release):
        return Path(shutil.which(release.tool))
    installed = bin_dir / release.tool
    if installed.exists():
        return installed
    return download(release, bin_dir)


def download(release: Release, bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    file_name = release.url.rsplit("/", 1)[-1]
    expected = _expected_hash(_fetch(release.checksum_url, release).decode(), file_name, release)
    fd, tmp_name = tempfile.mkstemp(dir=bin_dir, prefix=f".{release.tool}.")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in _stream(release):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise LabError(f"{release.tool} {release.version}: the download's checksum does not match the "
                           "published one; nothing was installed",
                           "try again later; if it persists, install it yourself onto PATH")
        if release.member:
            _extract(tmp, release)
        tmp.chmod(0o755)
        target = bin_dir / release.tool
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def _extract(archive: Path, release: Release) -> None:
    """Replace the archive in `archive` by the one binary it holds."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile(release.member)
            data = member.read() if member else None
    except (tarfile.TarError, KeyError):
        data = None
    if data is None:
        raise LabError(f"{release.tool}: {release.member} is not in the downloaded archive",
                       "install it yourself onto PATH")
    archive.write_bytes(data)


def _expected_hash(text: str, file_name: str, release: Release) -> str:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 1 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            return parts[0]
        if len(parts) >= 2 and parts[-1].lstrip("*").endswith(file_name) and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            return parts[0]
    raise LabError(f"{release.tool}: the checksum file names no hash for {file_name}",
                   "install it yourself onto PATH")


def _fetch(url: str, release: Release) -> bytes:
    return b"".join(_stream(release, url, progress=False))


def _stream(release: Release, url: str | None = None, progress: bool = True):
    url = url or release.url
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0)
            with ui.download_progress(f"{release.tool} {release.version}", total, enabled=progress) as advance:
                while chunk := response.read(CHUNK):
                    advance(len(chunk))
                    yield chunk
    except urllib.error.HTTPError as e:
        raise LabError(f"cannot download {release.tool} {release.version}: HTTP {e.code} from {url}",
                       "check the pinned version in lab/backends/cluster/versions.py") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise LabError(f"cannot download {release.tool} {release.version}: {reason} (offline?)",
                       f"connect to the internet once, or install {release.tool} yourself onto PATH") from None

