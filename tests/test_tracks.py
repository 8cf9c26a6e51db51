"""Choosing an exercise's API track: `--api istio` (the default) or `--api gateway` plays
exercises/NAME-gateway-api/, the choice is remembered per exercise, and `invoke check`, the
list and the walkthrough follow it."""

import pytest

from lab.config import lab_paths
from lab.errors import LabError
from lab.exercises.catalogue import EXERCISES_DIR, base_exercise_names, exercise_names, gateway_api_names
from lab.exercises.tracks import chosen_track_exercise
from lab.state import Progress
from tests.lab_process import running_lab

VARIANTS = ["canary", "progressive", "promote", "rollback"]


@pytest.fixture
def progress(tmp_path, monkeypatch):
    monkeypatch.setenv("CANARY_LAB_ROOT", str(tmp_path))
    return Progress(lab_paths())


def test_every_listed_variant_has_its_folder_and_every_variant_folder_is_listed():
    assert set(VARIANTS) <= set(gateway_api_names())
    folders = {p.parent.name for p in EXERCISES_DIR.glob("*-gateway-api/exercise.yaml")}
    assert folders == {f"{name}-gateway-api" for name in gateway_api_names()}
    assert exercise_names() == base_exercise_names() + sorted(folders, key=lambda f: gateway_api_names().index(
        f.removesuffix("-gateway-api")))


def test_the_track_is_istio_until_another_is_chosen_and_then_it_is_remembered(progress):
    assert chosen_track_exercise("progressive", "", progress) == "progressive"
    assert chosen_track_exercise("progressive", "gateway", progress) == "progressive-gateway-api"
    progress.mark_track("progressive", "gateway")
    assert chosen_track_exercise("progressive", "", Progress(lab_paths())) == "progressive-gateway-api"
    assert chosen_track_exercise("progressive", "istio", progress) == "progressive"
    assert chosen_track_exercise("canary", "", progress) == "canary"          # per exercise
    assert chosen_track_exercise("canary-gateway-api", "", progress) == "canary-gateway-api"   # by its own name


@pytest.mark.parametrize("name, api, says", [
    ("canary", "gatway", "no API called 'gatway': the tracks are istio, gateway"),
    ("debug", "gateway", "exercise debug has no Kubernetes Gateway API variant"),
    ("canary-gateway-api", "istio", "canary-gateway-api is the Gateway API track of canary"),
])
def test_an_unknown_api_or_a_missing_variant_is_one_line_naming_what_exists(progress, name, api, says):
    with pytest.raises(LabError) as raised:
        chosen_track_exercise(name, api, progress)
    told = f"{raised.value.message} {raised.value.fix}"
    assert says in told
    if "no API" in says or "has no" in says:
        assert ("canary, progressive" in told) if "has no" in says else ("--api gateway" in told)


def test_api_gateway_through_invoke_plays_the_variant_and_later_commands_stay_in_its_track(tmp_path):
    with running_lab(tmp_path) as lab:
        played = lab.invoke("exercise", "progressive", "--api", "gateway", "--yes")
        assert "Exercise progressive-gateway-api complete" in played.stdout
        # No --api: `invoke check progressive` checks the Gateway API track, which the lab serves now.
        checked = lab.invoke("check", "progressive", "stable-again")
        assert "progressive-gateway-api: stable-again" in checked.stdout and "passed" in checked.stdout
        listed = " ".join(lab.invoke("exercise", "--list").stdout.split())
        assert "progressive-gateway-api │ gateway • │" in listed and "progressive │ istio │" in listed
        assert "canary │ istio • │" in listed            # never played: Istio's API
        again = lab.invoke("exercise", "progressive", "--yes")   # no --api: the track last played
        assert "You have finished progressive-gateway-api" in again.stdout
        wrong = lab.invoke("exercise", "debug", "--api", "gateway", "--yes", check=False)
        assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
        assert wrong.stderr.count("\n") == 1 and "those with one: testers-first, canary, progressive" in wrong.stderr
