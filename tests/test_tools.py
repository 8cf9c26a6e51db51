"""Tool downloads against a fake release served from 127.0.0.1: checksum verified,
nothing half-written left behind, a clear line when offline."""

import functools
import hashlib
import http.server
import io
import tarfile

import pytest

from lab.backends.cluster.tools import Release, download, ensure_tool, releases, version_tuple
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
    assert set(found) == {"k3d", "kubectl", "helm", "istioctl", "minikube"}
    for release in found.values():
        assert release.version in release.url and release.url.startswith("https://")
        assert release.checksum_url.startswith("https://")
    assert version_tuple("Client Version: v1.31.0\nKustomize Version: v5.4.2") == (1, 31, 0)
    assert version_tuple("v3.16.4+g7877b45") == (3, 16, 4)
