"""`invoke up --provider auto`: k3d where a Docker daemon answers, else minikube when it is
installed, else the local lab, always with the reason. The tools are stand-in executables on a
PATH of the test's own, answering as the real ones do (`docker info` exits 1 without a daemon)."""

import pytest

from lab.backends.select import choose_provider
from lab.errors import LabError


@pytest.fixture
def path(tmp_path, monkeypatch):
    """An empty PATH of the test's own; `tool(name, exit_code)` puts an executable on it."""
    monkeypatch.setenv("PATH", str(tmp_path))

    def tool(name: str, exit_code: int = 0) -> None:
        executable = tmp_path / name
        executable.write_text(f"#!/bin/sh\nexit {exit_code}\n")
        executable.chmod(0o755)

    return tool


def test_docker_answering_picks_k3d(path):
    path("docker", exit_code=0)
    path("minikube")
    provider, why = choose_provider("auto")
    assert provider == "k3d" and "Docker answers" in why


def test_docker_installed_but_not_answering_falls_to_minikube_when_installed(path):
    path("docker", exit_code=1)       # the client is there, the daemon is not
    path("minikube")
    provider, why = choose_provider("auto")
    assert provider == "minikube" and "no Docker daemon answers" in why and "minikube is installed" in why


def test_neither_picks_the_local_lab_and_says_why(path):
    path("docker", exit_code=1)
    provider, why = choose_provider("auto")
    assert provider == "local" and "minikube is not installed" in why


def test_an_explicit_provider_is_taken_as_asked_and_an_unknown_one_is_refused(path):
    path("docker", exit_code=0)
    assert choose_provider("local") == ("local", "asked for with --provider")
    assert choose_provider("kind") == ("kind", "asked for with --provider")
    with pytest.raises(LabError, match="unknown provider 'kubeadm'"):
        choose_provider("kubeadm")
