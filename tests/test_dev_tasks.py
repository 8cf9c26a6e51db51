"""The authors' tasks: `invoke dev.check` passes the shipped catalogue and refuses a broken file in one
line naming it, with exit 1; `invoke dev.new-exercise NAME` makes an exercise that check accepts at once,
and refuses a bad or taken name in one line, making nothing."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.config import EXERCISES_DIR, PROJECT_DIR
from lab.dev.catalogue_check import check_exercise
from lab.dev.scaffold import new_exercise
from lab.errors import LabError
from lab.exercises.catalogue import exercise_names, load_exercise


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=120, env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                                            "COLUMNS": "200", "TERM": "dumb"})


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """A copy of the shipped catalogue to break or add to."""
    return Path(shutil.copytree(EXERCISES_DIR, tmp_path / "exercises"))


def problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip().startswith("problem:")]


def test_the_shipped_catalogue_passes_with_a_line_per_exercise():
    result = invoke("dev.check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in exercise_names():
        assert any(line.startswith(f"{name}: ok (") for line in lines), name
    assert lines[-1] == f"{len(exercise_names())} exercise(s), 0 problem(s)"


def test_a_broken_file_is_one_line_naming_it_and_exit_1(catalogue: Path):
    vs = catalogue / "canary" / "solutions" / "virtualservice-80-20.yaml"
    vs.write_text(vs.read_text().replace("number: 8888", "number: 0"))
    result = invoke("dev.check", "--exercises", str(catalogue))
    assert result.returncode == 1
    assert "canary: 1 problem(s)" in result.stdout.splitlines()
    [line] = problem_lines(result.stdout)
    assert line.startswith("  problem: canary: step shift-20: solutions/virtualservice-80-20.yaml: ") and "port" in line
    assert "testers-first: ok (" in result.stdout and result.stdout.splitlines()[-1].endswith(", 1 problem(s)")


@pytest.mark.parametrize("exercise, file, old, new, complaint", [
    # a check that adds up to 99.5: refused at load, not when the learner reaches the step
    ("canary", "exercise.yaml", "{httpbin: 80, tornado: 20}", "{httpbin: 80, tornado: 19.5}",
     "expected shares add up to 99.5, not 100"),
    # a step's text that is not there
    ("canary", "exercise.yaml", "text: steps/03-baseline.md", "text: steps/03-base.md",
     "step baseline: steps/03-base.md does not exist"),
    # a manifest with a field only a cluster serves: the local lab would refuse it at the step
    ("canary", "manifests/virtualservice.yaml", "    - name: main                 # everything else\n",
     "    - name: main\n      fault: {abort: {httpStatus: 500, percentage: {value: 10}}}\n",
     "step deploy: manifests/virtualservice.yaml: VirtualService canary-lab/canary: field spec.http[1].fault "
     "is not supported by the local lab"),
    # a JSON patch solution whose path is not a JSON pointer
    ("progressive", "solutions/patch-canary-50.yaml", "path: /spec", "path: spec",
     "step canary-50: solutions/patch-canary-50.yaml: operation 1 (replace): path 'spec"),
    # a JSON patch that parses but does not apply to the object it patches
    ("progressive", "solutions/patch-canary-50.yaml", "path: /spec/http/0", "path: /spec/http/7",
     "the patch does not apply to VirtualService app-example/app-example"),
])
def test_each_kind_of_broken_file_is_one_problem_naming_it(catalogue: Path, exercise: str, file: str, old: str,
                                                          new: str, complaint: str):
    path = catalogue / exercise / file
    assert old in path.read_text(), (file, old)
    path.write_text(path.read_text().replace(old, new, 1))
    report = check_exercise(exercise, catalogue)
    assert len(report.problems) == 1 and complaint in report.problems[0], report.problems
    assert "\n" not in report.problems[0]
    assert not check_exercise("testers-first", catalogue).problems   # the rest of the catalogue is untouched


def test_an_exercise_folder_the_catalogue_does_not_list_is_a_problem(catalogue: Path):
    shutil.copytree(catalogue / "canary", catalogue / "canary-copy")
    result = invoke("dev.check", "--exercises", str(catalogue))
    assert result.returncode == 1
    assert problem_lines(result.stdout) == ["  problem: catalogue.yaml: catalogue.yaml does not list canary-copy "
                                            "(add each to exercises:, or its base to gateway_api:)"]


def test_a_new_exercise_is_listed_and_passes_the_check_at_once(catalogue: Path):
    made = invoke("dev.new-exercise", "header-canary", "--exercises", str(catalogue))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "header-canary" in exercise_names(catalogue)
    exercise = load_exercise("header-canary", catalogue)
    assert [s.kind for s in exercise.steps] == ["explain", "apply", "task", "explain"]
    assert exercise.steps[2].solution and exercise.steps[2].hints and exercise.steps[2].check
    checked = invoke("dev.check", "--exercises", str(catalogue))
    assert checked.returncode == 0, checked.stdout
    assert "header-canary: ok (4 steps)" in checked.stdout.splitlines()
    again = invoke("dev.new-exercise", "header-canary", "--exercises", str(catalogue))
    assert again.returncode == 1 and again.stderr.strip() == \
        "error: exercises/header-canary already exists — choose another name, e.g. invoke dev.new-exercise " \
        "header-canary"


@pytest.mark.parametrize("name", ["Canary2", "-canary", "canary-", "new_one", "../escape", "a/b", "x" * 64, "",
                                  "canary", "header-gateway-api"])
def test_a_bad_or_taken_name_is_refused_making_nothing(catalogue: Path, name: str):
    before = sorted(p.relative_to(catalogue) for p in catalogue.rglob("*"))
    listed = (catalogue / "catalogue.yaml").read_text()
    with pytest.raises(LabError) as refused:
        new_exercise(name, catalogue)
    assert "\n" not in str(refused.value)
    assert sorted(p.relative_to(catalogue) for p in catalogue.rglob("*")) == before
    assert (catalogue / "catalogue.yaml").read_text() == listed


def test_a_bad_name_on_the_command_line_is_one_line_and_exit_1(catalogue: Path):
    result = invoke("dev.new-exercise", "Bad_Name", "--exercises", str(catalogue))
    assert result.returncode == 1 and not (catalogue / "Bad_Name").exists()
    assert result.stderr.strip().splitlines() == [
        "error: 'Bad_Name' is not a valid exercise name: lower-case letters, digits and '-', starting and ending "
        "with a letter or digit, at most 63 — choose another name, e.g. invoke dev.new-exercise header-canary"]


@pytest.mark.parametrize("task", ["dev.new-exercise", "dev.mutate"])
def test_help_after_a_positional_task_shows_the_help_and_makes_nothing(task: str):
    result = invoke(task, "--help")
    assert result.returncode == 0 and f"dev.{task.split('.')[1]} [--options]" in result.stdout, result.stderr
    assert not (EXERCISES_DIR / "--help").exists()


def test_dev_mutate_lists_the_mutants_of_the_modules_named_or_of_the_lines_changed():
    listed = invoke("dev.mutate", "lab/patches.py,lab/state.py", "--list")
    assert listed.returncode == 0, listed.stderr
    modules = {line.split(":")[0] for line in listed.stdout.splitlines()}
    assert modules == {"lab/patches.py", "lab/state.py"}
    unchanged = invoke("dev.mutate", "lab/patches.py", "--changed", "--base", "HEAD", "--list")
    assert unchanged.returncode == 0 and unchanged.stdout == ""   # no line differs from HEAD: no mutant
    unknown = invoke("dev.mutate", "lab/nope.py", "--list")
    assert unknown.returncode == 1 and unknown.stderr.startswith("not a target in tests/mutation.yaml: lab/nope.py")
