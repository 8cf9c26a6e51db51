"""`invoke check [EXERCISE [STEP]]` through the real Invoke entry point, on a real local lab."""

import pytest

from lab import commands
from lab.errors import LabError
from lab.exercises import check_now
from lab.exercises.catalogue import load_exercise
from lab.exercises.checks import CheckResult
from lab.state import Progress
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

CANARY = load_exercise("canary")


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("check"))
    lab.invoke("up", "--provider", "local")
    yield lab
    lab.cleanup()


def done(lab) -> list[str]:
    return Progress(lab.paths).done("canary")


def test_help_in_every_place_invoke_puts_it(lab):
    for args in (["check", "--help"], ["check", "canary", "--help"], ["--help", "check"]):
        result = lab.invoke(*args)
        assert "`invoke check canary shift-20`" in result.stdout, args
        assert "exercise" in result.stdout and "step" in result.stdout


def test_check_passes_fails_and_defaults_from_progress(lab):
    # Nothing played yet: no exercise to default to.
    result = lab.invoke("check", check=False)
    assert result.returncode == 1
    assert "invoke check canary" in result.stderr and "Traceback" not in result.stderr

    deploy = CANARY.step("deploy")
    for manifest in deploy.manifests:
        lab.invoke("apply", str(manifest))

    # A named step that the lab does not do yet: exit 1 with why, progress untouched.
    result = lab.invoke("check", "canary", "shift-20", check=False)
    assert result.returncode == 1, result.stdout
    assert "not yet" in result.stdout and "serves httpbin 100" in one_line(result.stdout)
    assert "shift-20 of canary does not pass yet" in result.stderr
    assert "shift-20" not in done(lab)

    # The exercise alone: its first step with a check that is not done (baseline), which passes.
    result = lab.invoke("check", "canary")
    assert "canary: baseline" in result.stdout and "passed" in result.stdout
    assert done(lab) == ["baseline"]

    # The working copy edited but not applied: the check says so.
    work = lab.root / "work" / "canary" / "virtualservice.yaml"
    work.parent.mkdir(parents=True, exist_ok=True)
    solution = CANARY.step("shift-20").solution
    work.write_text(solution.read_text())
    result = lab.invoke("check", check=False)
    assert result.returncode == 1
    assert "canary: shift-20" in result.stdout          # nothing named: the exercise and step from progress
    assert "Your working copy differs from what the lab runs" in one_line(result.stdout)

    # Applied: the same bare `invoke check` passes and marks the step done.
    lab.invoke("apply", str(work))
    result = lab.invoke("check")
    assert "passed" in result.stdout and "consistent with an 80/20" in one_line(result.stdout)
    assert done(lab) == ["baseline", "shift-20"]


def test_a_step_without_a_check_or_that_does_not_exist_is_one_line(lab):
    result = lab.invoke("check", "canary", "intro", check=False)
    assert result.returncode == 1 and "nothing to check" in result.stderr
    result = lab.invoke("check", "canary", "shift20", check=False)
    assert result.returncode == 1 and "did you mean 'shift-20'" in result.stderr
    result = lab.invoke("check", "canary", "shift-20", "extra", check=False)
    assert result.returncode == 1           # Invoke's own word for a third argument
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name, step_name", [("progressive", "canary-50"), ("cross-namespace", "canary-10")])
def test_a_patch_or_values_file_edited_but_not_applied_is_spotted(lab, name, step_name):
    exercise = load_exercise(name)
    for step in exercise.steps[:exercise.steps.index(exercise.step(step_name))]:
        for manifest in step.manifests:
            lab.invoke("apply", str(manifest))
        if step.kind == "helm":
            lab.invoke("helm", str(step.helm.chart), "--release", step.helm.release, "--namespace",
                       step.helm.namespace)
    step = exercise.step(step_name)
    work = lab.root / "work" / name / step.workfile.name
    work.parent.mkdir(parents=True, exist_ok=True)
    work.write_text(step.solution.read_text())          # the right edit, not applied yet

    result = lab.invoke("check", name, step_name, check=False)
    assert result.returncode == 1
    shown = one_line(result.stdout)
    command = "invoke patch" if step.patch else "invoke helm"
    assert "Your working copy differs from what the lab runs" in shown and f"Did you run `{command}" in shown

    if step.patch:
        lab.invoke("patch", step.patch.kind, step.patch.name, "--namespace", step.patch.namespace,
                   "--patch-file", str(work))
    else:
        lab.invoke("helm", str(step.helm.chart), "--release", step.helm.release, "--namespace",
                   step.helm.namespace, "--values", str(work))
    result = lab.invoke("check", name, step_name)
    assert "passed" in result.stdout and "differs" not in result.stdout


def test_a_step_this_lab_cannot_run_is_refused_or_passed_over(lab):
    result = lab.invoke("check", "autoscale", "v1-scales", check=False)
    assert result.returncode == 1 and "needs k3d or minikube" in result.stderr
    Progress(lab.paths).mark_done("autoscale", "split-90-10")
    result = lab.invoke("check", "autoscale", check=False)     # the next step it can run here
    assert "autoscale: all-to-v2" in result.stdout


def test_a_failure_with_a_known_cause_shows_its_hint(lab, monkeypatch, capsys):
    failure = CheckResult(False, "httpbin got 21%, tornado 79%", diagnosis="weights-swapped",
                          hint="The weights look swapped: the first destination gets the first weight.")
    monkeypatch.setattr(check_now, "run_check", lambda exercise, step, backend, skipped=(): failure)
    monkeypatch.setenv("CANARY_LAB_ROOT", str(lab.root))
    with pytest.raises(LabError, match="rollback of canary does not pass yet"):
        commands.check("canary", "rollback")
    out = one_line(capsys.readouterr().out)
    assert f"✗ not yet: {failure.message}" in out
    assert f"hint (weights-swapped): {failure.hint}" in out
    assert "rollback" not in done(lab)

    failure.hint = ""       # a cause without a hint of its own still names the cause
    with pytest.raises(LabError):
        commands.check("canary", "rollback")
    assert "diagnosis: weights-swapped" in one_line(capsys.readouterr().out)


def test_after_down_and_up_check_restores_the_lab_as_exercise_does(lab):
    # Last in this file: it takes the module's lab down and up again.
    progress = Progress(lab.paths)
    for step in ("intro", "deploy", "baseline"):
        progress.mark_done("canary", step)
    work = lab.paths.work_dir / "canary" / "virtualservice.yaml"
    work.parent.mkdir(parents=True, exist_ok=True)
    work.write_text((CANARY.folder / "solutions" / "virtualservice-80-20.yaml").read_text())
    lab.invoke("down")
    lab.invoke("up", "--provider", "local")
    result = lab.invoke("check", "canary", "shift-20", check=False)
    assert "restoring the lab to where you left off" in result.stdout   # as `invoke exercise canary` does
    assert result.returncode == 1 and "Did you run `invoke apply" in one_line(result.stdout)
    lab.invoke("apply", str(work))        # what the check told the learner to run now works
    assert "passed" in lab.invoke("check", "canary", "shift-20").stdout
