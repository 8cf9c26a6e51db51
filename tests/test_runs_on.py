"""Whether an exercise, step or check runs on the lab that is up is asked one way: the models'
`runs_on` (naming one cluster provider names them all), with backends a closed set checked at load."""

import shutil

import pytest

from lab import commands
from lab.config import EXERCISES_DIR, lab_paths
from lab.errors import LabError
from lab.exercises import check_now
from lab.exercises.catalogue import exercise_names, load_exercise
from lab.exercises.check_now import chosen_step
from lab.exercises.standing import suggestion
from lab.state import LabState, Progress, save_state


@pytest.mark.parametrize("provider", ["kind", "existing"])
def test_a_learner_who_started_nothing_on_a_kind_or_existing_lab_is_told_the_first_exercise(lab_root, provider):
    assert suggestion(Progress(lab_paths()), provider) == f"invoke exercise {exercise_names()[0]}"   # learning order


@pytest.mark.parametrize("provider", ["kind", "existing"])
def test_invoke_check_on_a_kind_or_existing_lab_checks_the_exercise(lab_root, monkeypatch, provider):
    save_state(lab_paths(), LabState(provider, 8080, {}))
    checked = []
    monkeypatch.setattr(check_now, "check_step", lambda exercise, step, backend, paths: checked.append(
        (exercise.name, step.name, backend.name)))
    commands.check("canary")
    assert checked == [("canary", "baseline", provider)]


def test_a_step_for_k3d_and_minikube_is_the_next_to_check_on_kind_too(lab_root):
    autoscale = load_exercise("autoscale")
    progress = Progress(lab_paths())
    for done in ("split-90-10",):
        progress.mark_done("autoscale", done)
    assert chosen_step(autoscale, progress, "", "kind").name == "v1-scales"
    assert chosen_step(autoscale, progress, "", "local").name == "all-to-v2"   # the local lab has no autoscaler
    assert autoscale.step("v1-scales").runs_on("existing") and not autoscale.step("v1-scales").runs_on("local")


def test_check_still_refuses_an_exercise_the_lab_cannot_play(lab_root, tmp_path, monkeypatch):
    save_state(lab_paths(), LabState("local", 8080, {}))
    monkeypatch.setattr(check_now, "load_exercise", lambda name: load_exercise("canary").model_copy(
        update={"backends": ("k3d",)}))
    with pytest.raises(LabError, match="exercise canary needs k3d; the lab that is up is local"):
        commands.check("canary")


@pytest.mark.parametrize("old, new, field", [
    ("backends: [local, k3d, minikube]", "backends: [local, k3s]", "backends[1]: Input should be 'local', 'k3d'"),
    ("backends: [local, k3d, minikube]", "backends: []", "backends: List should have at least 1 item"),
])
def test_a_backend_that_is_none_of_the_labs_fails_at_load(tmp_path, old, new, field):
    shutil.copytree(EXERCISES_DIR / "canary", tmp_path / "canary")
    shutil.copyfile(EXERCISES_DIR / "catalogue.yaml", tmp_path / "catalogue.yaml")
    spec = tmp_path / "canary" / "exercise.yaml"
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new, 1))
    with pytest.raises(LabError) as raised:
        load_exercise("canary", tmp_path)
    assert "canary/exercise.yaml: " in raised.value.message and field in raised.value.message, raised.value.message


def test_a_step_naming_an_unknown_backend_fails_at_load(tmp_path):
    shutil.copytree(EXERCISES_DIR / "autoscale", tmp_path / "autoscale")
    shutil.copyfile(EXERCISES_DIR / "catalogue.yaml", tmp_path / "catalogue.yaml")
    spec = tmp_path / "autoscale" / "exercise.yaml"
    spec.write_text(spec.read_text().replace("backends: [k3d, minikube]", "backends: [k3d, minikub]", 1))
    with pytest.raises(LabError, match=r"steps\[3\] \(autoscalers\)\.backends\[1\]: Input should be"):
        load_exercise("autoscale", tmp_path)
