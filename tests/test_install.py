"""`pip install .` (not editable) gives a working lab: the wheel carries the exercises, sample apps
and cluster manifests, and the installed package finds them with no checkout beside it.

The wheel is built without build isolation (the test extra has the build backend), so nothing is
downloaded; it is installed with --no-deps into a venv of its own that sees this environment's
dependencies through a .pth line, and run from a folder that holds only tasks.py."""

import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from lab.config import PROJECT_DIR
from lab.exercises.catalogue import exercise_names

# What a learner's commands read from the content: every exercise parsed (catalogue, steps,
# manifests), the apps the local lab runs, the cluster's manifests and the vendored CRDs.
LOAD_ALL = """
from pathlib import Path
import lab.config as config
from lab.backends.local.runners import load_runners
from lab.exercises.catalogue import exercise_names, load_exercise
assert config.INSTALLED, "the lab reads a checkout, not the installed package"
names = exercise_names()
for name in names:
    load_exercise(name)
print(len(names), config.EXERCISES_DIR, len(load_runners()),
      len(list((config.CLUSTER_DIR / "gateway-api").rglob("*.yaml"))), (config.CLUSTER_DIR / "kind.yaml").is_file())
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv that has the lab installed from its wheel."""
    try:
        backend = version("setuptools")
    except PackageNotFoundError:
        pytest.skip("setuptools (the build backend, in the test extra) is not installed")
    if tuple(map(int, backend.split(".")[:2])) < (70, 1):
        pytest.skip(f"setuptools {backend} has no bdist_wheel of its own (70.1+, as the test extra asks)")
    temp = tmp_path_factory.mktemp("install")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "--wheel-dir", str(temp / "dist"), str(PROJECT_DIR)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    [wheel] = (temp / "dist").glob("canary_lab-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(temp / "venv")], check=True, timeout=60)
    python = temp / "venv" / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # This environment's packages, after the venv's own: the installed lab comes first. (A .pth line
    # is only a path: the editable install's own .pth, in the directory it names, is not run.)
    site.joinpath("outer.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True, timeout=120, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    return python


def run_in(folder: Path, python: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *argv], cwd=folder, capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(folder), "COLUMNS": "250",
                               "CANARY_LAB_ROOT": str(folder / "root")})


def test_the_installed_package_loads_every_exercise_and_its_content(installed: Path, tmp_path: Path) -> None:
    found = run_in(tmp_path, installed, "-c", LOAD_ALL)
    assert found.returncode == 0, found.stderr
    count, exercises_dir, runners, crds, kind_config = found.stdout.split()
    assert int(count) == len(exercise_names()) > 0
    assert Path(exercises_dir).is_relative_to(installed.parent.parent)   # the venv's copy, not the checkout
    assert int(runners) == len(list((PROJECT_DIR / "apps").glob("*/local.yaml")))
    assert int(crds) == len(list((PROJECT_DIR / "cluster" / "gateway-api").rglob("*.yaml"))) > 0
    assert kind_config == "True"


def test_invoke_runs_the_tasks_on_the_installed_package(installed: Path, tmp_path: Path) -> None:
    """A folder with the tasks and no lab/ beside them: Invoke imports the installed package."""
    shutil.copy(PROJECT_DIR / "tasks.py", tmp_path / "tasks.py")
    listed = run_in(tmp_path, installed, "-m", "invoke", "--list")
    assert listed.returncode == 0, listed.stderr
    assert {"up", "down", "exercise"} <= {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()}
    exercises = run_in(tmp_path, installed, "-m", "invoke", "exercise", "--list")
    assert exercises.returncode == 0, exercises.stderr
    assert all(name in exercises.stdout for name in exercise_names())
    assert not (tmp_path / "lab").exists()
