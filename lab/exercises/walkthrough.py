"""The walkthrough: read a step, do it, and let the lab check it.

Interactive by default (questionary menus); with `yes` it never asks: it
applies every solution, runs every check and reports. Progress is saved by
step name after each step, so quitting and coming back resumes.
"""

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from lab import ui
from lab.backends.base import Backend
from lab.config import Paths, runs_on
from lab.errors import LabError
from lab.exercises.catalogue import Exercise, Step
from lab.exercises.checks import CheckResult, run_check
from lab.manifests import load_manifest_file, ref_of
from lab.patches import load_patch
from lab.state import Progress

CHECK, HINT, SHOW, SOLVE, SKIP, QUIT, CONTINUE, AGAIN = (
    "check", "hint", "show solution", "apply solution for me", "skip", "quit", "continue", "check again")


class Quit(Exception):
    """The learner chose quit: progress is saved, the walkthrough ends."""


class Walkthrough:
    def __init__(self, exercise: Exercise, backend: Backend, paths: Paths, yes: bool = False):
        self.exercise = exercise
        self.backend = backend
        self.paths = paths
        self.yes = yes
        self.progress = Progress(paths)
        self.failed: list[str] = []
        self.hints_shown: dict[str, int] = {}

    def fill_in(self, text: str) -> str:
        """Step texts name this lab's own gateway and files, so a command in them can be pasted as is:
        {{gateway_url}} (http://127.0.0.1:PORT), {{https_port}}, {{ca_file}}."""
        values = {
            "gateway_url": self.backend.gateway_url,
            "https_port": lambda: urlsplit(self.backend.gateway_tls_url()).port,
            "ca_file": lambda: _shown_path(self.paths.ca_file),
        }
        for name, value in values.items():
            token = "{{" + name + "}}"
            if token in text:
                text = text.replace(token, str(value()))
        return text

    # -- where to start ---------------------------------------------------------------

    def work_file(self, step: Step) -> Path:
        return self.paths.work_dir / self.exercise.name / step.workfile.name

    def reset(self, step_name: str | None = None) -> None:
        """Forget progress (of the exercise or one step) and give fresh working copies; old ones kept as .bak."""
        steps = [self.exercise.step(step_name)] if step_name else self.exercise.steps
        self.progress.reset(self.exercise.name, step_name)
        for step in steps:
            if step.workfile and self.work_file(step).exists():
                target = self.work_file(step)
                shutil.copyfile(target, target.with_name(target.name + ".bak"))
                target.unlink()

    def first_step(self, step_name: str | None) -> int:
        if step_name:
            return self.exercise.steps.index(self.exercise.step(step_name))
        seen = set(self.progress.done(self.exercise.name)) | set(self.progress.skipped(self.exercise.name))
        for index, step in enumerate(self.exercise.steps):
            if step.name not in seen:
                return index
        return len(self.exercise.steps)

    def restore(self, before: int, force: bool = True) -> None:
        """Bring the lab to where step `before` expects it: replay earlier apply steps and solved tasks.
        Unless forced, a lab that still holds every object those steps made is left as it is: it may
        hold what the learner applied for the current step before quitting."""
        objects = []
        for step in self.exercise.steps[:before]:
            if not self._runs_here(step):
                continue
            if step.kind == "apply":
                for manifest in step.manifests:
                    objects += load_manifest_file(manifest)
            elif step.kind == "helm":
                objects += self.rendered(step, step.values)
            elif step.kind == "task" and step.name in self.progress.done(self.exercise.name):
                work = self.work_file(step) if step.workfile else None
                source = work if work and work.exists() else step.solution
                if step.patch:
                    objects.append((step.patch, load_patch(source)))
                elif step.helm:
                    objects += self.rendered(step, [source])
                else:
                    objects += load_manifest_file(source)
        if not force and all(self.backend.get(ref_of(o)) is not None for o in objects if isinstance(o, dict)):
            return
        if objects:
            with ui.step("restoring the lab to where you left off"):
                batch: list[dict] = []
                for item in objects + [None]:  # in step order: a patch needs what was applied before it
                    if isinstance(item, dict):
                        batch.append(item)
                        continue
                    if batch:
                        self.backend.apply(batch)
                        batch = []
                    if item is not None:
                        self.backend.patch(*item)

    # -- running ----------------------------------------------------------------------

    def run(self, step_name: str | None = None) -> bool:
        start = self.first_step(step_name)
        total = len(self.exercise.steps)
        ui.console.rule(f"[bold]{self.exercise.title}[/]  ({self.exercise.name}, on {self.backend.name})")
        if start == total:
            ui.info(f"You have finished {self.exercise.name}. `invoke exercise {self.exercise.name} --reset` "
                    "starts it again.")
            return True
        if start > 0:
            ui.info(f"Resuming at step {start + 1} of {total}: {self.exercise.steps[start].name}")
            self.restore(start, force=step_name is not None)   # --step: set the lab up for that step
        try:
            for index in range(start, total):
                step = self.exercise.steps[index]
                ui.console.rule(f"Step {index + 1}/{total}: {step.name}", style="cyan")
                self.run_step(step)
        except Quit:
            ui.info(f"Progress saved. `invoke exercise {self.exercise.name}` resumes where you left off.")
            return True
        if self.failed:
            ui.info(f"[red]{len(self.failed)} check(s) failed:[/] {', '.join(self.failed)}")
            return False
        ui.info(f"[green]Exercise {self.exercise.name} complete.[/]")
        return True

    def _runs_here(self, step: Step) -> bool:
        return not step.backends or runs_on(self.backend.name, step.backends)

    def run_step(self, step: Step) -> None:
        if step.text:   # a step this lab cannot do is still worth reading: it says what a cluster does
            ui.markdown(self.fill_in(step.text))
        if not self._runs_here(step):
            why = " (it has no pods, sidecars or autoscalers)" if self.backend.name == "local" else ""
            ui.info(f"[yellow]skipped:[/] this step needs {' or '.join(step.backends)}; "
                    f"the {self.backend.name} lab cannot do it{why}.")
            self.progress.mark_skipped(self.exercise.name, step.name)
            return
        handler = {"explain": self.explain, "apply": self.apply, "helm": self.apply_chart, "check": self.check,
                   "task": self.task}[step.kind]
        handler(step)

    def explain(self, step: Step) -> None:
        if not self.yes and self.ask(step, [CONTINUE, QUIT]) == QUIT:
            raise Quit
        self.progress.mark_done(self.exercise.name, step.name)

    def apply(self, step: Step) -> None:
        for manifest in step.manifests:
            ui.yaml_block(manifest.read_text(), title=manifest.relative_to(self.exercise.folder).as_posix())
        objects = [obj for manifest in step.manifests for obj in load_manifest_file(manifest)]
        with ui.step("applying"):
            lines = self.backend.apply(objects)
        for line in lines:
            ui.info(f"  {line}")
        self.progress.mark_done(self.exercise.name, step.name)

    def rendered(self, step: Step, values: list[Path] | tuple[Path, ...]) -> list[dict]:
        from lab.helm import render

        return render(step.helm.chart, step.helm.release, step.helm.namespace, list(values))

    def apply_chart(self, step: Step) -> None:
        for values in step.values:
            ui.yaml_block(values.read_text(), title=values.relative_to(self.exercise.folder).as_posix())
        with ui.step(f"helm: rendering {step.helm.chart.name} and applying it"):
            lines = self.backend.apply(self.rendered(step, step.values))
        for line in lines:
            ui.info(f"  {line}")
        self.progress.mark_done(self.exercise.name, step.name)

    def check(self, step: Step) -> None:
        while True:
            if self.report(step, self.verify(step)):
                return
            if self.yes:
                self.failed.append(step.name)
                return
            choice = self.ask(step, [AGAIN, SKIP, QUIT])
            if choice == SKIP:
                self.progress.mark_skipped(self.exercise.name, step.name)
                return
            if choice == QUIT:
                raise Quit

    def task(self, step: Step) -> None:
        work = self.prepare_work_file(step) if step.workfile else None
        if work:
            ui.info(f"Your working copy: [bold]{_shown_path(work)}[/]\nEdit it, run `{self.apply_command(step, work)}`, "
                    f"then choose [bold]check[/].")
        if self.yes:
            self.solve(step, work)
            if not self.report(step, self.verify(step)):
                self.failed.append(step.name)
            return
        while True:
            choice = self.ask(step, [CHECK, HINT, SHOW, SOLVE, SKIP, QUIT])
            if choice == CHECK:
                if self.report(step, self.verify(step)):
                    return
                self.warn_if_not_applied(step, work)
            if choice == HINT:
                self.hint(step)
            elif choice == SHOW:
                ui.yaml_block(step.solution.read_text(), title="solution")
            elif choice == SOLVE:
                self.solve(step, work)
                if self.report(step, self.verify(step)):
                    return
            elif choice == SKIP:
                self.progress.mark_skipped(self.exercise.name, step.name)
                return
            elif choice == QUIT:
                raise Quit

    # -- pieces -------------------------------------------------------------------------

    def apply_command(self, step: Step, work: Path) -> str:
        if step.patch:
            ref = step.patch
            return f"invoke patch {ref.kind} {ref.name} --namespace {ref.namespace} --patch-file {_shown_path(work)}"
        if step.helm:
            return (f"invoke helm {_shown_path(step.helm.chart)} --release {step.helm.release} "
                    f"--namespace {step.helm.namespace} --values {_shown_path(work)}")
        return f"invoke apply {_shown_path(work)}"

    def ask(self, step: Step, choices: list[str]) -> str:
        return ui.choose(f"{step.name}:", choices)

    def prepare_work_file(self, step: Step) -> Path:
        work = self.work_file(step)
        if not work.exists():
            work.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(step.workfile, work)
        return work

    def solve(self, step: Step, work: Path | None) -> None:
        """Apply the solution, and put it in the working copy (the learner's version kept as .bak)."""
        if work is not None:
            if work.exists() and work.read_text() != step.solution.read_text():
                shutil.copyfile(work, work.with_name(work.name + ".bak"))
            shutil.copyfile(step.solution, work)
        with ui.step("applying the solution"):
            if step.patch:
                lines = [self.backend.patch(step.patch, load_patch(step.solution))]
            elif step.helm:
                lines = self.backend.apply(self.rendered(step, [step.solution]))
            else:
                lines = self.backend.apply(load_manifest_file(step.solution))
        for line in lines:
            ui.info(f"  {line}")

    def warn_if_not_applied(self, step: Step, work: Path | None) -> None:
        """A common slip: the working copy was edited but never applied."""
        if work is None or step.patch or step.helm:
            return
        try:
            edited = load_manifest_file(work)
        except LabError as e:
            ui.info(f"[yellow]Your working copy does not load:[/] {e}")
            return
        for obj in edited:
            live = self.backend.get(ref_of(obj))
            if live is None or _spec(live) != _spec(obj):
                ui.info(f"[yellow]Your working copy differs from what the lab runs.[/] "
                        f"Did you run `{self.apply_command(step, work)}`?")
                return

    def hint(self, step: Step) -> None:
        if not step.hints:
            ui.info("No hint for this step; `show solution` shows the answer.")
            return
        shown = self.hints_shown.get(step.name, 0)
        ui.info(f"[yellow]hint {shown % len(step.hints) + 1}/{len(step.hints)}:[/] {step.hints[shown % len(step.hints)]}")
        self.hints_shown[step.name] = shown + 1

    def verify(self, step: Step) -> CheckResult:
        with ui.step("checking from live traffic"):
            return run_check(self.exercise, step, self.backend)

    def report(self, step: Step, result: CheckResult) -> bool:
        for detail in result.details:
            ui.console.print(detail)
        if result.passed:
            ui.info(f"[green]✓ passed:[/] {result.message}")
            self.progress.mark_done(self.exercise.name, step.name)
        else:
            ui.info(f"[red]✗ not yet:[/] {result.message}")
        return result.passed


def _spec(obj: dict):
    return obj.get("spec")


def _shown_path(path: Path) -> str:
    """The path as the learner would type it from where they run invoke."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def require_terminal_or_yes(yes: bool) -> None:
    if not yes and not ui.interactive():
        raise LabError("the walkthrough asks questions, but there is no terminal here",
                       "run it in a terminal, or add --yes to apply every solution and run every check")
