"""The `dev` collection of Invoke tasks, for the lab's authors and developers (tasks.py adds it).

`invoke dev.check` tests the exercise catalogue, `invoke dev.new-exercise NAME` scaffolds an
exercise it accepts, `invoke dev.mutate` runs the mutation runner (lab/dev/mutate.py).
"""

from collections.abc import Callable
from pathlib import Path

from invoke import Collection, Context, Exit, task

from lab import ui
from lab.config import EXERCISES_DIR
from lab.dev import catalogue_check, mutate, scaffold
from lab.edge import Failed, guarded
from lab.optional_positionals import help_asked, optional

EXERCISES_HELP = "the folder of exercises (default: the project's exercises/)"


def _exit_with(function: Callable[[], int]) -> None:
    """A LabError is one red line and exit 1 (lab.edge); a non-zero result is the exit status."""
    try:
        code = guarded(function)()
    except Failed as e:
        raise Exit(code=e.code if isinstance(e.code, int) else 1) from None
    if code:
        raise Exit(code=code)


def _folder(exercises: str) -> Path:
    return Path(exercises) if exercises else EXERCISES_DIR


@task(help={"exercises": EXERCISES_HELP})
def check(c: Context, exercises: str = "") -> None:
    """Test the exercise catalogue without a lab: every exercise loads, its files are ones the lab accepts."""
    _exit_with(lambda: catalogue_check.run(_folder(exercises)))


@task(name="new-exercise", positional=["name"],
      help={"name": "the new exercise's name (a folder and host name: lower-case letters, digits, '-')",
            "exercises": EXERCISES_HELP})
def new_exercise(c: Context, name: str, exercises: str = "") -> None:
    """Scaffold exercises/NAME/ (exercise.yaml, steps, manifests, a solution) that `invoke dev.check` accepts."""
    if help_asked("dev.new-exercise", name):
        return

    def make() -> int:
        folder = scaffold.new_exercise(name, _folder(exercises))
        ui.plain(f"made {folder.name}/ and listed it in {scaffold.CATALOGUE_FILE}; "
                 "edit its files, then run `invoke dev.check`")
        return 0
    _exit_with(make)


# --changed is a plain switch and the base a flag of its own: Invoke takes no optional flag value while
# a positional argument (MODULES) is still unfilled (its parser's check_ambiguity).
@task(positional=["modules"],
      help={"modules": "target modules, separated by commas (default: every one in tests/mutation.yaml)",
            "changed": "only the lines the branch changed against --base",
            "base": "the branch --changed compares with (default main)",
            "sample": "try a random sample of this many mutants (0: all)", "seed": "the sample's seed",
            "jobs": "copies tried at once (default: the number of cores)",
            "list": "list the mutants, run nothing"})
def mutate_(c: Context, modules: str | None = None, changed: bool = False, base: str = "main", sample: int = 0,
            seed: int = 0, jobs: int = 0, list: bool = False) -> None:
    """Mutation testing: does the suite notice a one-line bug in the lab's core? Prints the score and survivors."""
    if help_asked("dev.mutate", modules):
        return
    argv = [m for m in (modules or "").replace(",", " ").split() if m]
    if changed:
        argv += ["--changed", base]
    argv += ["--sample", str(sample), "--seed", str(seed)] + (["--jobs", str(jobs)] if jobs else [])
    argv += ["--list"] if list else []
    _exit_with(lambda: mutate.main(argv))


optional("dev.mutate", "modules")   # left out: every target
dev = Collection("dev")
dev.add_task(check)
dev.add_task(new_exercise)
dev.add_task(mutate_, name="mutate")
