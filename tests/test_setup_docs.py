"""The README's set-up commands are the ones CI runs: `.ci/run` is the Quick start's test
command and nothing more, so a green CI means a learner's copy-paste works."""

import re

from lab.config import PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text()
CI_RUN = (PROJECT_DIR / ".ci" / "run").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [line for block in re.findall(r"```\n(.*?)```", section, re.S) for line in block.splitlines()]


def test_ci_runs_the_readmes_pip_test_command_exactly_and_installs_nothing_before_it():
    test_command = next(c for c in quick_start_commands() if c.startswith("python3 -m venv") and "pytest" in c)
    ci_lines = [line for line in CI_RUN.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert ci_lines[-1] == test_command
    before = "\n".join(ci_lines[:-1])
    assert "pip install" not in before and "helm" not in before


def test_both_routes_make_a_venv_first():
    commands = quick_start_commands()
    assert "uv run invoke up" in commands and "uv run --extra test pytest" in commands
    assert all(c.startswith(("uv run", "python3 -m venv .venv && ")) or c.startswith("invoke ")
               for c in commands), commands


def test_a_learner_without_uv_reads_the_fix_right_under_the_uv_commands():
    """`uv run invoke up` without uv is the shell's `uv: command not found`: the very next line of the
    Quick start says what to do, in one line."""
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    after_uv = section.split("uv run invoke down\n```\n", 1)[1].strip().splitlines()[0]
    assert "command not found" in after_uv and "`pip install uv`" in after_uv and "without uv" in after_uv.lower()


def test_the_quick_start_gives_set_up_times_for_both_routes():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    timings = " ".join(section.split())
    assert re.search(r"with uv, \d+ s with uv's cache empty and \d+ s with it warm", timings), timings
    assert re.search(r"with pip, \d+ s with pip's cache empty .* and \d+ s with it warm", timings), timings
