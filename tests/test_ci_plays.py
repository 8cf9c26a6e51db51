"""The workflow's exercise list comes from the catalogue: each exercise once per track it has."""

import subprocess
import sys

import pytest

from lab.config import PROJECT_DIR
from lab.exercises.catalogue import base_exercise_names, gateway_api_names


def plays(backend: str) -> list[str]:
    done = subprocess.run([sys.executable, str(PROJECT_DIR / ".ci" / "plays.py"), backend], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(PROJECT_DIR), "PATH": ""})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("backend", ["local", "k3d", "minikube", "kind", "existing"])
def test_every_exercise_plays_once_in_each_track_it_has(backend):
    found = plays(backend)
    assert len(found) == len(set(found))
    assert not any(name.endswith("-gateway-api") for name in found)   # a variant plays as NAME --api gateway
    assert found == base_exercise_names() + [f"{name} --api gateway" for name in gateway_api_names()]
