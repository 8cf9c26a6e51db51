"""The walkthrough driven through its real prompts (prompt_toolkit pipe input), on a real lab."""

import shlex
import threading
from contextlib import ExitStack

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from lab import commands, ui
from lab.config import lab_paths
from lab.edge import EXIT_INTERRUPTED, Failed, guarded
from lab.errors import LabError
from lab.exercises import walkthrough
from lab.exercises.catalogue import exercise_names, load_exercise
from lab.exercises.checks import CheckResult
from lab.state import Progress
from tests.helm_setup import cut_off_helm
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

DOWN, ENTER = "\x1b[B", "\r"
# The learner's menu: check, hint, show solution, apply solution for me, skip, quit.
CHECK, HINT, SHOW, SOLVE, SKIP, QUIT = (DOWN * n + ENTER for n in range(6))
# Two-choice menus: continue or quit (after a step, and an explain step's own), whole file or back.
CONTINUE, STOP = ENTER, DOWN + ENTER
WHOLE_FILE = ENTER
CTRL_C = "\x03"


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
    queue: list = []
    with ExitStack() as stack:
        def next_prompt():
            if not queue:
                raise AssertionError("the walkthrough asked more questions than the test answered")
            pipe = stack.enter_context(create_pipe_input())
            keys = queue.pop(0)
            if callable(keys):   # something to do while this prompt waits, with no key pressed
                keys(pipe)
            else:
                pipe.send_text(keys)
            return {"input": pipe, "output": DummyOutput()}

        ui.set_prompt_io(next_prompt)
        yield queue
        ui.set_prompt_io(None)
    assert not queue, f"unused answers: {queue}"


def test_it_waits_for_the_learner_after_each_step(lab, answers, capsys):
    answers += [CONTINUE, STOP]          # read the intro; after the deploy step, stop
    commands.exercise("canary")
    out = capsys.readouterr().out
    assert "canary-gateway created" in out or "created" in out   # deploy ran and showed what it did
    assert "checking what the gateway serves" not in out               # the baseline check did not run on
    assert Progress(lab_paths()).done("canary") == ["intro", "deploy"]


def test_hint_solution_quit_then_resume_and_finish(lab, answers, capsys):
    # intro, the pauses after deploy and baseline, then the learner's menu at shift-20.
    answers += [CONTINUE, CONTINUE, CONTINUE, HINT, SHOW, WHOLE_FILE, QUIT]
    commands.exercise("canary")
    out = capsys.readouterr().out
    assert "hint 1/" in out
    # The solution comes as a diff from the working copy first, then as the whole file.
    assert "-          weight: 100" in out and "+          weight: 80" in out
    assert "# Solution: 80% of the main route" in out
    assert "Progress saved" in out
    assert Progress(lab_paths()).done("canary") == ["intro", "deploy", "baseline"]
    work = lab.root / "work" / "canary" / "virtualservice.yaml"
    assert work.exists()

    # Resume: the learner edits the working copy but forgets to apply it; the check fails,
    # says why and spots the slip; then the lab applies the solution.
    work.write_text(work.read_text().replace("weight: 100", "weight: 50\n        - destination: {host: tornado}\n"
                                                             "          weight: 50"))
    # check (fails), apply the solution; continue after shift-20, predict-affinity, websocket, https, split-over-https;
    # at rollback apply the solution, continue, then the recap's own continue.
    # (the question after shift-20 answered right, then its pause).
    answers += [CHECK, SOLVE, CONTINUE, DOWN + ENTER, CONTINUE, CONTINUE, CONTINUE, CONTINUE, SOLVE, CONTINUE, CONTINUE]
    commands.exercise("canary")
    out = capsys.readouterr().out
    assert "Resuming at step 4" in out
    assert "not yet" in out and "serves httpbin 100 / tornado 0" in " ".join(out.split())
    assert "Did you run `invoke apply" in out
    assert "passed" in out and "complete" in out
    assert "weight: 20" in work.read_text() or "weight: 100" in work.read_text()
    assert Progress(lab_paths()).done("canary") == [s.name for s in load_exercise("canary").steps]


def test_resuming_keeps_what_the_learner_applied_before_quitting(lab, answers, capsys):
    answers += [CONTINUE, CONTINUE, CONTINUE, QUIT]
    commands.exercise("canary")
    work = lab.root / "work" / "canary" / "virtualservice.yaml"
    work.write_text((load_exercise("canary").folder / "solutions" / "virtualservice-80-20.yaml").read_text())
    lab.invoke("apply", str(work))         # the learner did the step, then quit before choosing check
    answers += [CHECK, STOP]               # check passes; stop before the next step
    commands.exercise("canary")
    out = capsys.readouterr().out
    assert "Resuming at step 4" in out and "restoring the lab" not in out
    assert "consistent with an 80/20" in " ".join(out.split())   # checked as applied: nothing was put back under it


def test_reset_gives_a_fresh_working_copy_and_keeps_the_old_one(lab, answers, capsys):
    answers += [CONTINUE, CONTINUE, CONTINUE, SOLVE, STOP]
    commands.exercise("canary")
    work = lab.root / "work" / "canary" / "virtualservice.yaml"
    edited = work.read_text()
    answers += [CONTINUE, CONTINUE, CONTINUE, QUIT]
    commands.exercise("canary", reset=True)
    [kept] = (lab.root / "work" / "canary").glob("before-reset-*")
    assert (kept / "virtualservice.yaml").read_text() == edited
    assert f"Your working copies are kept in work/canary/{kept.name}/" in " ".join(capsys.readouterr().out.split())
    assert Progress(lab_paths()).done("canary") == ["intro", "deploy", "baseline"]


def test_without_a_terminal_and_without_yes_it_says_so(lab):
    for args in (["exercise", "canary"], ["exercise"]):    # with no name it would ask which
        result = lab.invoke(*args, check=False)
        assert result.returncode == 1
        assert "--yes" in result.stderr and "Traceback" not in result.stderr


def test_unknown_exercise_suggests_the_closest_name(lab):
    result = lab.invoke("exercise", "canry", "--yes", check=False)
    assert result.returncode == 1
    assert "did you mean 'canary'" in result.stderr
    with pytest.raises(LabError, match="no step"):
        commands.exercise("canary", yes=True, step="nope")


class AnotherTerminal:
    """The learner applying a file in a second terminal while the walkthrough's menu waits: a real
    `invoke apply` process, started once the menu is up. Should the menu never react, this quits
    it after 30 s, so the test fails instead of hanging."""

    def __init__(self, lab, file):
        self.lab, self.file = lab, file
        self.finished, self.exit_codes, self.threads = threading.Event(), [], []

    def __call__(self, menu):
        self.threads.append(threading.Thread(target=self._apply, args=(menu,)))
        self.threads[-1].start()

    def _apply(self, menu):
        self.exit_codes.append(self.lab.invoke("apply", str(self.file), check=False).returncode)
        if not self.finished.wait(30):
            menu.send_text(QUIT)

    def done(self):
        self.finished.set()
        for thread in self.threads:
            thread.join()
        assert self.exit_codes == [0]


def test_an_apply_from_another_terminal_is_checked_while_the_menu_waits(lab, answers, capsys):
    learner = AnotherTerminal(lab, load_exercise("canary").folder / "solutions" / "virtualservice-80-20.yaml")
    answers += [learner, STOP]    # no key at the menu; then stop after the step
    try:
        commands.exercise("canary", step="shift-20")
    finally:
        learner.done()
    out = capsys.readouterr().out
    assert "The gateway serves something new: checking it" in out
    assert out.count("✓ checking what the gateway serves") == 1  # once, for the change; never while nothing changed
    flat = " ".join(out.split())
    assert "passed" in flat and "consistent with an 80/20" in flat
    assert "shift-20" in Progress(lab_paths()).done("canary")


def test_a_destination_rule_fixed_from_another_terminal_is_checked_while_the_menu_waits(lab, answers, capsys,
                                                                                        tmp_path):
    # debug's fix-subset promises "just apply it: the lab checks by itself"; its fix changes no route,
    # only which pods subset v2 picks.
    solution = load_exercise("debug").folder / "solutions" / "fixed-subset.yaml"
    rule = tmp_path / "destination-rule.yaml"
    rule.write_text("---".join(d for d in solution.read_text().split("---") if "kind: DestinationRule" in d))
    learner = AnotherTerminal(lab, rule)
    answers += [learner, STOP]
    try:
        commands.exercise("debug", step="fix-subset")
    finally:
        learner.done()
    out = capsys.readouterr().out
    assert "The gateway serves something new: checking it" in out
    assert "fix-subset" in Progress(lab_paths()).done("debug")


REORDERED_50 = {  # the learner's canary-50: the canary's destination moved first, both at 50
    "progressive": "- {op: replace, path: /spec/http/0/route, value: [{destination: {host: app-example, "
                   "subset: canary}, weight: 50}, {destination: {host: app-example, subset: stable}, weight: 50}]}\n",
    "progressive-gateway-api": "- {op: replace, path: /spec/rules/0/backendRefs, value: [{name: app-canary, port: 80, "
                               "weight: 50}, {name: app-stable, port: 80, weight: 50}]}\n"}


@pytest.mark.parametrize("name", sorted(REORDERED_50))
def test_apply_the_solution_for_me_passes_whatever_order_the_learner_left_the_routes_in(lab, answers, capsys, name):
    exercise = load_exercise(name)
    progress = Progress(lab_paths())
    for step in exercise.steps[:exercise.steps.index(exercise.step("canary-100"))]:
        progress.mark_done(name, step.name)
    work = lab_paths().work_dir / name / "patch-canary-50.yaml"
    work.parent.mkdir(parents=True, exist_ok=True)
    work.write_text(REORDERED_50[name])        # replayed by restore: the learner's own, solved copy
    answers += [SOLVE, STOP]
    commands.exercise(name, step="canary-100")
    out = " ".join(capsys.readouterr().out.split())
    assert "✓ passed" in out and "swapped" not in out
    assert "canary-100" in Progress(lab_paths()).done(name)


def test_after_a_wrong_apply_from_another_terminal_the_menu_is_back(lab, answers, capsys, tmp_path):
    solution = load_exercise("canary").folder / "solutions" / "virtualservice-80-20.yaml"
    half = tmp_path / "half.yaml"
    half.write_text(solution.read_text().replace("weight: 80", "weight: 50").replace("weight: 20", "weight: 50"))
    learner = AnotherTerminal(lab, half)
    answers += [learner, HINT, QUIT]      # the check fails by itself; the menu still takes hint and quit
    try:
        commands.exercise("canary", step="shift-20")
    finally:
        learner.done()
    out = capsys.readouterr().out
    assert "The gateway serves something new: checking it" in out and "not yet" in out
    assert "hint 1/" in out and "Progress saved" in out
    assert "shift-20" not in Progress(lab_paths()).done("canary")


def test_after_a_known_failure_the_first_hint_is_about_it(lab, answers, capsys, monkeypatch):
    failure = CheckResult(False, "httpbin got 21%, tornado 79%", diagnosis="weights-swapped",
                          hint="The weights look swapped: the first destination gets the first weight.")
    monkeypatch.setattr(walkthrough, "run_check", lambda exercise, step, backend, skipped=(): failure)
    answers += [CHECK, HINT, HINT, QUIT]
    commands.exercise("canary", step="shift-20")
    out = " ".join(capsys.readouterr().out.split())
    step_hints = load_exercise("canary").step("shift-20").hints
    assert f"hint 1/{len(step_hints) + 1} (about what the check saw: weights-swapped):" in out
    assert out.index(failure.hint) < out.index(step_hints[0])    # then the step's own hints
    assert out.count(failure.hint) == 1                          # not shown before it was asked for


def test_ctrl_c_says_progress_is_saved_and_how_to_resume(lab, answers, capsys):
    answers += [CONTINUE, CONTINUE, CONTINUE, CTRL_C]
    with pytest.raises(Failed) as exit_:
        guarded(commands.exercise)("canary")
    assert exit_.value.code == EXIT_INTERRUPTED
    out = " ".join(capsys.readouterr().out.split())
    assert "Progress saved (3 of 10 steps behind you)" in out
    assert "`invoke exercise canary` resumes at step 4: shift-20" in out


def test_step_starts_from_the_lab_its_earlier_steps_leave_so_rollback_has_a_canary_to_roll_back(
        lab, answers, capsys):
    answers += [CHECK, QUIT]          # check at once, without rolling anything back: it must fail
    commands.exercise("canary", step="rollback")
    out = " ".join(capsys.readouterr().out.split())
    assert "Starting at step 9" in out and "step shift-20: its solution" in out
    assert "not yet" in out and "tornado" in out
    assert "rollback" not in Progress(lab_paths()).done("canary")


def test_step_says_what_it_will_apply_before_it_does(lab, answers, capsys):
    answers += [QUIT]
    commands.exercise("canary", step="shift-20")
    out = " ".join(capsys.readouterr().out.split())
    said = out.index("the lab first applies again what the steps before it made")
    assert "manifests/gateway.yaml" in out[said:]
    assert said < out.index("restoring the lab")


QUESTIONS = [(name, step.name) for name in exercise_names() for step in load_exercise(name).steps if step.question]


def choice_keys(question, choice: str) -> str:
    return DOWN * question.choices.index(choice) + ENTER


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name, step_name", QUESTIONS)
def test_a_question_explains_after_a_right_and_a_wrong_answer(lab, answers, capsys, name, step_name):
    question = load_exercise(name).step(step_name).question
    right = question.answer[0]
    wrong = next(c for c in question.choices if c not in question.answer)
    if question.decision:     # a wrong decision is not acted on: it is asked again until it is right
        answers += [choice_keys(question, wrong), choice_keys(question, right), STOP]
        commands.exercise(name, step=step_name)
        out = flat(capsys.readouterr().out)
        assert f"✗ not this: {wrong}" in out and "choose" in out
        assert out.index(f"✗ not this: {wrong}") < out.index(f"✓ right: {right}")
        assert out.count(flat(question.explain.replace("`", ""))[:60]) == 1     # explained once it is right, not before
    else:                     # a prediction goes on after any answer, a wrong one with why
        answers += [choice_keys(question, wrong), STOP]
        commands.exercise(name, step=step_name)
        out = flat(capsys.readouterr().out)
        assert f"✗ not quite: {wrong}" in out
        if wrong in question.why_not:   # as Markdown: `code` is shown as code, its backticks not printed
            assert flat(question.why_not[wrong].replace("`", "")) in out
            assert "`" not in question.why_not[wrong] or flat(question.why_not[wrong]) not in out
        assert flat(question.explain.replace("`", ""))[:60] in out
        assert step_name in Progress(lab_paths()).done(name)
        answers += [choice_keys(question, right), STOP]
        commands.exercise(name, step=step_name)
        out = flat(capsys.readouterr().out)
        assert f"✓ right: {right}" in out and flat(question.explain.replace("`", ""))[:60] in out and "✗" not in out
    assert step_name in Progress(lab_paths()).done(name)


def test_yes_answers_a_question_with_the_right_choice_and_prints_it(lab, capsys):
    question = load_exercise("promote").step("predict-share").question
    commands.exercise("promote", yes=True)
    out = flat(capsys.readouterr().out)
    assert f"{question.prompt} answer: {question.answer[0]}" in out and f"✓ right: {question.answer[0]}" in out


def test_choose_shows_where_the_learner_stands_in_each_exercise(lab, monkeypatch, capsys):
    from lab.state import Progress as SavedProgress

    steps = [s.name for s in load_exercise("canary").steps]
    for name in steps[:3]:
        SavedProgress(lab_paths()).mark_done("canary", name)
    offered = []

    def choose(message, choices, **_):
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
    answers += [CONTINUE, CONTINUE, DOWN * 2 + ENTER]   # the intro, after deploy; the chart step fails: quit
    commands.exercise("cross-namespace")
    out = " ".join(capsys.readouterr().out.split())
    assert "This exercise needs helm" in out and "not on PATH: the lab downloads helm" in out
    assert "install-chart could not be done: helm is not on PATH" in out
    assert "fix: install helm onto PATH (https://helm.sh/docs/intro/install/)" in out
    assert "Progress saved" in out                # quit from the menu, not dropped to the shell
    assert Progress(lab_paths()).done("cross-namespace") == ["intro", "deploy"]
    assert not (lab.root / ".lab" / "bin").exists()


def test_after_the_chart_step_is_skipped_for_want_of_helm_the_next_check_blames_no_object_it_never_made(
        lab, answers, capsys, monkeypatch):
    cut_off_helm(monkeypatch, pypi_too=True)
    # the intro, after deploy; the chart step fails: skip it; the next check fails: quit.
    answers += [CONTINUE, CONTINUE, DOWN + ENTER, DOWN * 2 + ENTER]
    commands.exercise("cross-namespace")
    out = " ".join(capsys.readouterr().out.split())
    assert "the lab holds none of the routes this exercise makes for search.lab.local: step install-chart makes " \
           "them, and it was skipped" in out
    assert "your VirtualService" not in out and "(routes-not-made)" in out
    assert Progress(lab_paths()).skipped("cross-namespace") == ["install-chart"]


class LearnerRollsOut:
    """The learner running the step's `invoke rollout` in a second terminal (1 s windows), then
    choosing check once it has ended; the menu must not judge the rollout half-way."""

    def __init__(self, lab, command: str):
        words = shlex.split(command)[1:]
        words[words.index("--interval") + 1] = "1"
        self.lab, self.words, self.results, self.threads = lab, words, [], []

    def __call__(self, menu):
        self.threads.append(threading.Thread(target=self._run, args=(menu,)))
        self.threads[-1].start()

    def _run(self, menu):
        self.results.append(self.lab.invoke(*self.words, check=False))
        menu.send_text(CHECK)

    def done(self):
        for thread in self.threads:
            thread.join()


def test_a_rollout_step_is_checked_once_the_learners_rollout_has_ended(lab, answers, capsys):
    step = load_exercise("auto-rollout").step("promote-v2")
    learner = LearnerRollsOut(lab, step.rollout.command())
    answers += [learner, STOP]
    try:
        commands.exercise("auto-rollout", step="promote-v2")
    finally:
        learner.done()
    out = capsys.readouterr().out
    assert learner.results[0].returncode == 0, learner.results[0].stdout + learner.results[0].stderr
    assert "promoted:" in learner.results[0].stdout
    assert step.rollout.command() in " ".join(out.split())     # the command, shown whole for the learner
    assert "The gateway serves something new" not in out        # each step of the rollout changed it
    assert out.count("✓ checking what the gateway serves") == 1
    assert "v2 promoted at 100%" in " ".join(out.split())
    assert "promote-v2" in Progress(lab_paths()).done("auto-rollout")


def test_a_release_applied_unshown_prints_what_a_clusters_apply_prints_and_holds_the_labs_notes_back(
        lab, answers, capsys):
    # debug's broken host: a cluster's apply says only "configured" (IST0132 is istioctl analyze's), so the
    # lab's note naming the bad host would give away what the learner is to find from its symptoms.
    answers += [STOP]
    commands.exercise("debug", step="release-host")
    out = flat(capsys.readouterr().out)
    assert any(f"virtualservice.networking.istio.io/shop {verb}" in out for verb in ("configured", "created"))
    assert "debug.lab.locl" not in out and "note(s) of the lab held back" in out
    # debug's broken order: Istio's webhook warns on a cluster's apply, so that warning is printed
    answers += [STOP]
    commands.exercise("debug", step="release-order")
    out = flat(capsys.readouterr().out)
    assert 'Warning: VirtualService shop-debug/shop: virtualService rule "testers" not used' in out
