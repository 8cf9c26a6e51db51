"""The lab's files: atomic writes, damaged files reported and never overwritten."""

import pytest

from lab.config import lab_paths
from lab.errors import LabError
from lab.state import LabState, Progress, load_state, save_state


def test_progress_is_saved_by_step_name_and_survives_a_reload(lab_root):
    paths = lab_paths()
    Progress(paths).mark_done("canary", "intro")
    Progress(paths).mark_skipped("canary", "deploy")
    progress = Progress(paths)
    assert progress.done("canary") == ["intro"]
    assert progress.skipped("canary") == ["deploy"]
    progress.mark_done("canary", "deploy")
    assert Progress(paths).skipped("canary") == [] and Progress(paths).done("canary") == ["intro", "deploy"]


def test_reset_of_one_step_keeps_the_others(lab_root):
    paths = lab_paths()
    progress = Progress(paths)
    for step in ("a", "b", "c"):
        progress.mark_done("canary", step)
    progress.reset("canary", "b")
    assert Progress(paths).done("canary") == ["a", "c"]
    progress.reset("canary")
    assert Progress(paths).done("canary") == []


def test_a_step_marked_elsewhere_meanwhile_is_kept(lab_root):
    walkthrough = Progress(lab_paths())          # the walkthrough, waiting at its menu
    Progress(lab_paths()).mark_done("canary", "baseline")   # `invoke check` in another terminal
    walkthrough.mark_done("canary", "shift-20")
    assert Progress(lab_paths()).done("canary") == ["baseline", "shift-20"]


def test_the_current_exercise_is_remembered(lab_root):
    assert Progress(lab_paths()).current() == ""
    Progress(lab_paths()).mark_current("promote")
    assert Progress(lab_paths()).current() == "promote"


def test_damaged_progress_is_one_clear_error_and_the_file_is_kept(lab_root):
    paths = lab_paths()
    paths.home.mkdir()
    paths.progress_file.write_text('{"exercises": {"canary": ')
    with pytest.raises(LabError, match=r"progress.json is damaged \(Invalid JSON: .* line 1"):
        Progress(paths)
    assert paths.progress_file.read_text() == '{"exercises": {"canary": '


def test_damaged_state_is_reported(lab_root):
    paths = lab_paths()
    save_state(paths, LabState("local", 8080, {"admin_port": 1}))
    assert load_state(paths).gateway_port == 8080
    paths.state_file.write_text('{"provider": "local"}')
    with pytest.raises(LabError, match="state.json is damaged"):
        load_state(paths)
