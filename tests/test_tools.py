"""Tool downloads against a fake release served from 127.0.0.1: checksum verified,
nothing half-written left behind, a clear line when offline."""

import functools
import hashlib
import http.server
import io
import tarfile

import pytest

from lab.backends.cluster.tools import PLATFORMS, Release, choose_tool, download, ensure_tool, releases, version_tuple
from lab.backends.cluster.versions import ISTIO, TOOLS
from lab.errors import LabError
from lab.ports import free_port
from tests.loopback_http import serving

BINARY = b"#!/bin/sh\necho 'fake-tool version v9.9.9'\n"


@pytest.fixture
def release_server(tmp_path):
    """Serves tmp_path/release over HTTP on 127.0.0.1, like a release page."""
    root = tmp_path / "release"
    root.mkdir()
    class Files(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    with serving(functools.partial(Files, directory=str(root))) as url:
        yield root, url


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_good_binary_is_installed_executable(release_server, tmp_path):
    root, url = release_server
    (root / "fake-tool-linux-amd64").write_bytes(BINARY)
    (root / "checksums.txt").write_text(f"{'0' * 64}  other-file\n{sha(BINARY)}  fake-tool-linux-amd64\n")
    release = Release("fake-tool", "9.9.9", f"{url}/fake-tool-linux-amd64", f"{url}/checksums.txt")
    installed = download(release, tmp_path / "bin")
    assert installed == tmp_path / "bin" / "fake-tool"
    assert installed.read_bytes() == BINARY and installed.stat().st_mode & 0o111
    assert ensure_tool(release, tmp_path / "bin") == installed   # the second time: no download


def test_a_binary_inside_an_archive_is_extracted(release_server, tmp_path):
    root, url = release_server
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("linux-amd64/fake-tool")
        info.size = len(BINARY)
        tar.addfile(info, io.BytesIO(BINARY))
    (root / "fake.tar.gz").write_bytes(archive.getvalue())
    (root / "fake.tar.gz.sha256").write_text(sha(archive.getvalue()) + "\n")
    release = Release("fake-tool", "9.9.9", f"{url}/fake.tar.gz", f"{url}/fake.tar.gz.sha256",
                      member="linux-amd64/fake-tool")
    assert download(release, tmp_path / "bin").read_bytes() == BINARY


def test_a_bad_checksum_is_rejected_and_nothing_is_left(release_server, tmp_path):
    root, url = release_server
    (root / "fake-tool").write_bytes(BINARY)
    (root / "fake-tool.sha256").write_text(sha(b"something else") + "  fake-tool\n")
    release = Release("fake-tool", "9.9.9", f"{url}/fake-tool", f"{url}/fake-tool.sha256")
    with pytest.raises(LabError, match="checksum does not match.*nothing was installed"):
        download(release, tmp_path / "bin")
    assert list((tmp_path / "bin").iterdir()) == []


def test_offline_is_one_clear_line(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    release = Release("fake-tool", "9.9.9", f"{closed}/fake-tool", f"{closed}/fake-tool.sha256")
    with pytest.raises(LabError, match="cannot download fake-tool 9.9.9: .*offline") as caught:
        download(release, tmp_path / "bin")
    assert "install fake-tool yourself onto PATH" in str(caught.value)
    assert list((tmp_path / "bin").iterdir()) == []


def test_a_missing_release_names_the_pinned_version(release_server, tmp_path):
    _, url = release_server
    release = Release("fake-tool", "9.9.9", f"{url}/nope", f"{url}/nope.sha256")
    with pytest.raises(LabError, match="HTTP 404"):
        download(release, tmp_path / "bin")


def test_official_release_locations_are_pinned_and_versions_parse():
    found = releases()
    assert set(found) == {"k3d", "kind", "kubectl", "helm", "istioctl", "minikube"}
    for release in found.values():
        assert release.version in release.url and release.url.startswith("https://")
        assert release.checksum_url.startswith("https://")
    assert version_tuple("Client Version: v1.31.0\nKustomize Version: v5.4.2") == (1, 31, 0)
    assert version_tuple("v3.16.4+g7877b45") == (3, 16, 4)


# Each tool's asset and checksum file per platform, written out from the tool's own naming:
# k3d install.sh (k3d-$OS-$ARCH) and Makefile gen-checksum (checksums.txt); kind
# hack/release/build/cross.sh (kind-$GOOS-$GOARCH + .sha256sum); minikube Makefile `checksum`
# (minikube-OS-ARCH + .sha256); kubectl's install pages (bin/OS/ARCH/kubectl + .sha256); helm
# scripts/get-helm-4 (helm-$TAG-$OS-$ARCH.tar.gz + .sha256); istio release/downloadIstioCtl.sh
# (osx for Darwin, no arch suffix for osx amd64).
def expected_assets(os_name, arch):
    v = TOOLS
    istio_platform = {("darwin", "amd64"): "osx", ("darwin", "arm64"): "osx-arm64"}.get((os_name, arch),
                                                                                      f"linux-{arch}")
    istioctl = f"https://github.com/istio/istio/releases/download/{ISTIO}/istioctl-{ISTIO}-{istio_platform}.tar.gz"
    kind = f"https://github.com/kubernetes-sigs/kind/releases/download/v{v['kind']}/kind-{os_name}-{arch}"
    minikube = f"https://github.com/kubernetes/minikube/releases/download/v{v['minikube']}/minikube-{os_name}-{arch}"
    kubectl = f"https://dl.k8s.io/release/v{v['kubectl']}/bin/{os_name}/{arch}/kubectl"
    helm = f"https://get.helm.sh/helm-v{v['helm']}-{os_name}-{arch}.tar.gz"
    return {
        "k3d": (f"https://github.com/k3d-io/k3d/releases/download/v{v['k3d']}/k3d-{os_name}-{arch}",
                f"https://github.com/k3d-io/k3d/releases/download/v{v['k3d']}/checksums.txt", None),
        "kind": (kind, kind + ".sha256sum", None),
        "minikube": (minikube, minikube + ".sha256", None),
        "kubectl": (kubectl, kubectl + ".sha256", None),
        "helm": (helm, helm + ".sha256", f"{os_name}-{arch}/helm"),
        "istioctl": (istioctl, istioctl + ".sha256", "istioctl"),
    }


@pytest.mark.parametrize("os_name,arch", PLATFORMS, ids=[f"{o}-{a}" for o, a in PLATFORMS])
def test_every_tool_has_its_published_asset_name_on_every_claimed_platform(os_name, arch):
    found = {name: (r.url, r.checksum_url, r.member) for name, r in releases(os_name, arch).items()}
    assert found == expected_assets(os_name, arch)


def test_istioctl_on_macos_is_named_osx_never_darwin():
    assert releases("darwin", "arm64")["istioctl"].url.endswith(f"istioctl-{ISTIO}-osx-arm64.tar.gz")
    assert releases("darwin", "amd64")["istioctl"].url.endswith(f"istioctl-{ISTIO}-osx.tar.gz")
    assert not any("darwin" in releases("darwin", a)["istioctl"].url for a in ("amd64", "arm64"))


def fake_executable(folder, name, says):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{says}'\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("tool,on_path,used", [
    ("istioctl", f"{ISTIO.rsplit('.', 1)[0]}.99", True),   # same minor as the pinned Istio
    ("istioctl", "1.32.0", False),                          # a newer istioctl installs a newer Istio
    ("istioctl", "1.30.5", False),
    ("kubectl", "Client Version: v1.36.2", True),           # within one minor of Kubernetes 1.35
    ("kubectl", "Client Version: v1.34.0", True),
    ("kubectl", "Client Version: v1.37.0", False),          # two minors away: outside the skew policy
    ("kubectl", "Client Version: v1.31.0", False),
    ("helm", "v4.9.0+gabc", True),
    ("helm", "v3.19.0+gabc", False),                        # Helm 3 is another major
    ("kind", f"kind v{TOOLS['kind']} go1.25 linux/amd64", True),
    ("kind", "kind v0.32.0 go1.25 linux/amd64", False),     # node images are built per kind release
    # another patch of it: another release
    ("kind", f"kind v{TOOLS['kind'].rsplit('.', 1)[0]}.99 go1.25 linux/amd64", False),
    ("k3d", "k3d version v5.10.0\nk3s version v1.33.1-k3s1 (default)", True),
    ("k3d", "k3d version v5.7.5", False),
])
def test_a_tool_on_path_is_used_only_when_it_installs_what_the_pin_would(tmp_path, monkeypatch, tool, on_path, used):
    path_dir, bin_dir = tmp_path / "path", tmp_path / "lab-bin"
    fake_executable(path_dir, tool, on_path)
    pinned = TOOLS[tool]
    fake_executable(bin_dir, tool, f"v{pinned}")       # the lab's copy of the pinned version
    monkeypatch.setenv("PATH", f"{path_dir}:/usr/bin:/bin")
    choice = choose_tool(releases()[tool], bin_dir)
    assert choice.source == ("PATH" if used else "lab")
    assert choice.path == (path_dir / tool if used else bin_dir / tool)
    line = choice.line(releases()[tool])
    assert line.startswith(f"{tool}: ") and (f"pinned {pinned}" in line) != used   # says which and why


def test_a_lab_copy_of_an_older_pin_is_replaced_by_the_pinned_download(release_server, tmp_path, monkeypatch):
    root, url = release_server
    (root / "fake-tool").write_bytes(BINARY)              # says v9.9.9
    (root / "fake-tool.sha256").write_text(sha(BINARY) + "\n")
    bin_dir = tmp_path / "bin"
    fake_executable(bin_dir, "fake-tool", "fake-tool version v9.8.0")   # downloaded under an older pin
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    release = Release("fake-tool", "9.9.9", f"{url}/fake-tool", f"{url}/fake-tool.sha256", version_argv=("--version",))
    choice = choose_tool(release, bin_dir)
    assert choice.source == "downloaded" and (bin_dir / "fake-tool").read_bytes() == BINARY
    assert choose_tool(release, bin_dir).source == "lab"
