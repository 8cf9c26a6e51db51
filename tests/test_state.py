"""The lab's files: atomic writes, damaged files reported and never overwritten."""

import pytest

from lab.config import lab_paths
from lab.errors import LabError
from lab.state import DamagedState, LabState, Progress, lab_lock, load_state, save_state


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


def test_resetting_a_skipped_step_makes_it_neither_done_nor_skipped(lab_root):
    paths = lab_paths()
    progress = Progress(paths)
    progress.mark_skipped("canary", "argo")
    progress.mark_done("canary", "intro")
    progress.reset("canary", "argo")
    assert Progress(paths).skipped("canary") == [] and Progress(paths).done("canary") == ["intro"]


@pytest.mark.parametrize("text, problem", [
    ('{"provider": "kubeadm", "gateway_port": 8080}', "unknown provider 'kubeadm'"),
    ('{"provider": "local", "gateway_port": "abc"}', "gateway_port"),
    ('{"provider": "local", "gateway_port": 0}', "gateway_port"),
    ('{"provider": "local", "gateway_port": 8080, "settings": []}', "settings"),
    ("[]", "is damaged"),
    ("null", "is damaged"),
    ('{"provider": "local"', "is damaged"),
], ids=["unknown-provider", "port-a-word", "port-0", "settings-a-list", "a-list", "null", "cut-short"])
def test_a_damaged_state_file_is_named_with_how_to_recover_and_kept(lab_root, text, problem):
    paths = lab_paths()
    paths.home.mkdir()
    paths.state_file.write_text(text)
    with pytest.raises(DamagedState) as damaged:
        load_state(paths)
    assert problem in str(damaged.value) and "state.json" in str(damaged.value)
    assert "`invoke down` stops a local lab even so" in str(damaged.value)
    assert paths.state_file.read_text() == text


@pytest.mark.parametrize("text", [
    '{"exercises": []}', '{"exercises": {"canary": {"done": 5}}}', '{"exercises": {"canary": {"done": [1]}}}',
    '{"exercises": {}, "tracks": []}', '{"exercises": {}, "current": 3}', "[]", "null", b"\xff\xfe{}",
], ids=["exercises-a-list", "done-a-number", "done-not-names", "tracks-a-list", "current-a-number", "a-list",
        "null", "not-utf-8"])
def test_damaged_progress_of_every_shape_is_named_and_never_written_over(lab_root, text):
    paths = lab_paths()
    paths.home.mkdir()
    data = text if isinstance(text, bytes) else text.encode()
    paths.progress_file.write_bytes(data)
    with pytest.raises(LabError, match="progress.json is damaged"):
        Progress(paths).mark_done("canary", "intro")
    assert paths.progress_file.read_bytes() == data


def test_progress_keeps_what_it_does_not_know(lab_root):
    """A newer lab's keys survive an older lab's write (extra keys are the learner's, not damage)."""
    paths = lab_paths()
    paths.home.mkdir()
    paths.progress_file.write_text('{"exercises": {"canary": {"done": ["a"], "notes": "x"}}, "theme": "dark"}')
    Progress(paths).mark_done("canary", "b")
    assert '"theme": "dark"' in paths.progress_file.read_text() and '"notes": "x"' in paths.progress_file.read_text()


def test_the_lock_is_reentrant_within_one_command(lab_root, monkeypatch):
    """up takes the lab's lock and, inside it, steps that take it again: they must not wait for
    their own command (filelock before 3.15 re-initialised the singleton lock and timed out here)."""
    monkeypatch.setenv("CANARY_LAB_LOCK_WAIT", "1")
    paths = lab_paths()
    with lab_lock(paths):
        with lab_lock(paths):
            save_state(paths, LabState("local", 8080))
    assert load_state(paths) == LabState("local", 8080)
