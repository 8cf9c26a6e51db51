"""The mutation runner (lab/dev/mutate.py) on a small project of the test's own: it must count a
mutant the tests notice as killed, one they miss as a survivor, a hang as killed, and leave
equivalents out of the score — else the score recorded in bench/README.md means nothing."""

import subprocess
from pathlib import Path

from lab.dev.mutants import mutants_of
from lab.dev.mutate import Targets, changed_lines, run, select, summary

MODULE = '''\
"""A module docstring is never mutated."""


def within(value, low, high):
    """Neither is a function's."""
    if value < low or value > high:
        raise ValueError(f"{value} is not between {low} and {high}")
    return True


def count_up(n):
    i = 0
    while i < n:
        i += 1
    return i


def label(flag):
    return "on" if not flag else "off"
'''

# within() and count_up() are tested; label() is not, so its mutants survive.
TESTS = '''\
import pytest
from mod import count_up, within


def test_within():
    assert within(1, 1, 3) and within(3, 1, 3)
    for outside in (0, 4):
        with pytest.raises(ValueError):
            within(outside, 1, 3)


def test_count_up():
    assert count_up(3) == 3
'''


def project(root: Path, equivalents: dict[str, str] | None = None) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "mod.py").write_text(MODULE)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_mod.py").write_text(TESTS)
    (root / "tests" / "mutation.yaml").write_text(
        "targets:\n  mod.py: [tests/test_mod.py]\n"
        + ("equivalents:\n" + "".join(f"  {k!r}: {v!r}\n" for k, v in equivalents.items()) if equivalents else ""))
    return root


def changes(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for mutant in mutants_of(root / "mod.py", root):
        found.setdefault(mutant.scope, []).append(mutant.change)
    return found


def test_the_one_line_bugs_a_review_looks_for_are_made_and_strings_are_left_alone(tmp_path):
    found = changes(project(tmp_path))
    assert set(found) == {"within", "count_up", "label"}
    assert {"`<` → `<=`", "`>` → `>=`", "`or` → `and`", "dropped clause 1 of `or`", "dropped clause 2 of `or`",
            "`True` → `False`"} <= set(found["within"])
    assert any(change.startswith("removed `raise ValueError") for change in found["within"])
    assert {"`0` → `1`", "`1` → `2`", "removed `i += 1`"} <= set(found["count_up"])
    assert found["label"] == ["dropped `not`"]   # the strings "on"/"off" are not mutated
    kept = [m.source for m in mutants_of(tmp_path / "mod.py", tmp_path) if not m.change.startswith("removed `raise")]
    assert all("A module docstring" in s and "Neither is" in s and "is not between" in s for s in kept)


def test_a_mutant_keeps_its_key_when_lines_move(tmp_path):
    project(tmp_path)
    before = {m.key: m.line for m in mutants_of(tmp_path / "mod.py", tmp_path)}
    (tmp_path / "mod.py").write_text("import os\n\n\n" + MODULE)
    after = {m.key: m.line for m in mutants_of(tmp_path / "mod.py", tmp_path)}
    assert set(before) == set(after) and all(after[k] == before[k] + 3 for k in before)


def test_the_score_counts_what_the_tests_notice_and_leaves_equivalents_out(tmp_path):
    root = project(tmp_path / "p")
    targets = Targets.load(root)
    outcomes = run(root, select(root, targets, [], None, 0, 0), targets, jobs=2, factor=3, grace=5)
    by_scope: dict[str, list[bool]] = {}
    for outcome in outcomes:
        by_scope.setdefault(outcome.mutant.scope, []).append(outcome.killed)
    assert by_scope["label"] == [False]                 # untested: survives
    hang = next(o for o in outcomes if o.mutant.change == "removed `i += 1`")
    assert hang.killed and hang.by == "timeout"          # an endless loop counts as noticed
    raise_removed = next(o for o in outcomes if o.mutant.change.startswith("removed `raise"))
    assert raise_removed.killed and raise_removed.by.endswith("test_within")
    score, lines = summary(outcomes, targets)
    killed = sum(o.killed for o in outcomes)
    assert score == killed / len(outcomes) < 1 and "mod.py" in "\n".join(lines)

    survivor = next(o.mutant.key for o in outcomes if not o.killed)
    score_without, lines_without = summary(outcomes, Targets(targets.tests, {survivor: "cannot be told apart"}))
    assert score_without == killed / (len(outcomes) - 1)
    assert survivor not in "\n".join(lines_without) and "1 equivalent" in lines_without[0]


def test_changed_mode_takes_only_the_lines_a_branch_changed(tmp_path):
    root = project(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=root, check=True)
    (root / "mod.py").write_text(MODULE.replace("return True", "return value >= low"))
    lines = changed_lines(root, "mod.py", "main")
    assert lines == {MODULE.splitlines().index("    return True") + 1}
    chosen = select(root, Targets.load(root), ["mod.py"], "main", 0, 0)
    assert chosen and {m.scope for m in chosen} == {"within"} and all(m.line in lines for m in chosen)


def test_a_target_list_names_modules_that_exist_and_tests_that_exist():
    targets = Targets.load(Path(__file__).resolve().parent.parent)
    root = Path(__file__).resolve().parent.parent
    for module, tests in targets.tests.items():
        assert (root / module).is_file(), module
        for test in tests:
            assert (root / test.split("::")[0]).exists(), test
