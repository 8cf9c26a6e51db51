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
from lab.backends.cluster.versions import KUBERNETES_MINOR, TOOLS
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


# The platforms the README claims, as (os, arch) in Go's names.
PLATFORMS = (("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64"))


def platform_names() -> tuple[str, str]:
    system = platform.system().lower()
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    return system, machine


def releases(os_name: str | None = None, arch: str | None = None) -> dict[str, Release]:
    """Each tool's official release asset and checksum file for one OS/arch (this one by default),
    named as the tool's own install script or release build names them."""
    if os_name is None or arch is None:
        os_name, arch = platform_names()
    v = TOOLS
    gh = "https://github.com"
    k3d = f"{gh}/k3d-io/k3d/releases/download/v{v['k3d']}"
    kind = f"{gh}/kubernetes-sigs/kind/releases/download/v{v['kind']}"
    minikube = f"{gh}/kubernetes/minikube/releases/download/v{v['minikube']}"
    kubectl = f"https://dl.k8s.io/release/v{v['kubectl']}/bin/{os_name}/{arch}/kubectl"
    helm = f"https://get.helm.sh/helm-v{v['helm']}-{os_name}-{arch}.tar.gz"
    # istioctl names macOS "osx" and its amd64 build has no arch suffix: release/downloadIstioCtl.sh
    # (OSEXT="osx" on Darwin; ARCH_URL ...-${OSEXT}-${ISTIO_ARCH}.tar.gz, without_arch for osx amd64).
    istio_platform = {"darwin": {"amd64": "osx", "arm64": "osx-arm64"}}.get(os_name, {}).get(arch, f"{os_name}-{arch}")
    istioctl = (f"{gh}/istio/istio/releases/download/{v['istioctl']}/"
                f"istioctl-{v['istioctl']}-{istio_platform}.tar.gz")
    return {
        # k3d install.sh: K3D_DIST="k3d-$OS-$ARCH"; Makefile gen-checksum: sha256sum _dist/* > checksums.txt
        "k3d": Release("k3d", v["k3d"], f"{k3d}/k3d-{os_name}-{arch}", f"{k3d}/checksums.txt",
                       version_argv=("version",)),
        # kind hack/release/build/cross.sh: kind-${GOOS}-${GOARCH}, `shasum -a 256 f > f.sha256sum`
        "kind": Release("kind", v["kind"], f"{kind}/kind-{os_name}-{arch}", f"{kind}/kind-{os_name}-{arch}.sha256sum",
                        version_argv=("version",)),
        # minikube Makefile `checksum`: out/minikube-OS-ARCH and a bare-hash OUT.sha256 beside it
        "minikube": Release("minikube", v["minikube"], f"{minikube}/minikube-{os_name}-{arch}",
                            f"{minikube}/minikube-{os_name}-{arch}.sha256", version_argv=("version", "--short")),
        # kubernetes.io/docs/tasks/tools/install-kubectl-{linux,macos}/: bin/OS/ARCH/kubectl + kubectl.sha256
        "kubectl": Release("kubectl", v["kubectl"], kubectl, f"{kubectl}.sha256",
                           version_argv=("version", "--client")),
        # helm scripts/get-helm-4: HELM_DIST="helm-$TAG-$OS-$ARCH.tar.gz", CHECKSUM_URL="$DOWNLOAD_URL.sha256",
        # the binary at $OS-$ARCH/helm inside
        "helm": Release("helm", v["helm"], helm, f"{helm}.sha256", member=f"{os_name}-{arch}/helm",
                        version_argv=("version", "--short")),
        # Istio's release pages publish ARCHIVE.sha256 beside each archive; istioctl is at the top of it
        "istioctl": Release("istioctl", v["istioctl"], istioctl, f"{istioctl}.sha256", member="istioctl",
                            version_argv=("version", "--remote=false")),
    }


def version_tuple(text: str) -> tuple[int, ...] | None:
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in found.groups()) if found else None


def version_of(executable: str | Path, release: Release) -> tuple[int, ...] | None:
    """What version an executable says it is, or None when it does not run or say."""
    try:
        done = subprocess.run([str(executable), *release.version_argv], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return version_tuple(done.stdout + done.stderr)


def path_version(release: Release) -> tuple[int, ...] | None:
    """The version of the tool on PATH, or None when absent or it does not say."""
    found = shutil.which(release.tool)
    return version_of(found, release) if found else None


def acceptable(release: Release, found: tuple[int, ...]) -> tuple[bool, str]:
    """Whether a copy at version `found` installs what the pinned one would; and why (or why not)."""
    shown, pinned = ".".join(map(str, found)), version_tuple(release.version)
    if pinned is None:   # the lab's own pins are x.y.z (versions.py): another shape is the lab's bug
        raise LabError(f"the pinned {release.tool} version {release.version!r} is not x.y.z",
                       "fix it in lab/backends/cluster/versions.py")
    if release.tool == "istioctl":
        # istioctl installs its own version of Istio: another minor is another Istio.
        if found[:2] == pinned[:2]:
            return True, f"same minor as the pinned Istio {release.version}"
        return False, f"{shown} would install Istio {found[0]}.{found[1]}, not the lab's {release.version}"
    if release.tool == "kubectl":
        # kubernetes.io/releases/version-skew-policy/#kubectl: within one minor of the API server
        major, minor = KUBERNETES_MINOR
        if found[0] == major and abs(found[1] - minor) <= 1:
            return True, f"within one minor of Kubernetes {major}.{minor}"
        return False, f"{shown} is more than one minor from Kubernetes {major}.{minor} (kubectl's skew policy)"
    if release.tool == "kind":
        # kind's release notes: node images are built for one kind release, used by digest.
        if found[:3] == pinned[:3]:
            return True, f"the kind release the pinned node image is built for ({release.version})"
        return False, f"{shown} is not the kind release the pinned node image is built for ({release.version})"
    # k3d, minikube, helm: the lab passes the versions to install (k3s image, --kubernetes-version,
    # chart --version), so any release of the same major at least as new installs the same.
    if found[0] == pinned[0] and found >= pinned:
        return True, f"at least {release.version}; the lab names what it installs"
    return False, f"{shown} is not {pinned[0]}.x at least {release.version}"


@dataclass(frozen=True)
class ToolChoice:
    path: Path
    source: str     # "PATH", "lab" (downloaded before) or "downloaded"
    why: str

    def line(self, release: Release) -> str:
        where = {"PATH": f"{self.path} from PATH", "lab": "the lab's own copy",
                 "downloaded": "downloaded now"}[self.source]
        return f"{release.tool}: {where} ({self.why})"


def choose_tool(release: Release, bin_dir: Path) -> ToolChoice:
    """The tool to run: PATH when its version installs what the pinned one would, else the lab's
    copy of the pinned version (downloaded once, checked again if the pin changed)."""
    found = path_version(release)
    why_not = f"none on PATH; pinned {release.version}"
    on_path = shutil.which(release.tool)
    if found is not None and on_path:
        ok, why = acceptable(release, found)
        if ok:
            return ToolChoice(Path(on_path), "PATH", why)
        why_not = f"PATH has {why}; pinned {release.version}"
    installed = bin_dir / release.tool
    if installed.exists() and version_of(installed, release) == version_tuple(release.version):
        return ToolChoice(installed, "lab", why_not)
    return ToolChoice(download(release, bin_dir), "downloaded", why_not)


def ensure_tool(release: Release, bin_dir: Path) -> Path:
    return choose_tool(release, bin_dir).path


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
            _extract(tmp, release, release.member)
        tmp.chmod(0o755)
        target = bin_dir / release.tool
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def _extract(archive: Path, release: Release, path: str) -> None:
    """Replace the archive in `archive` by the one binary it holds at `path`."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile(path)
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

