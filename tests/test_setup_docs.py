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
