"""The walkthrough: read a step, do it, and let the lab check it.

Interactive by default (questionary menus); with `yes` it never asks: it
applies every solution, runs every check and reports. Progress is saved by
step name after each step, so quitting (or Ctrl-C) and coming back resumes.

It paces itself: after each step's text and what the step did, it waits for
"continue". At a learner's step the menu watches the gateway: when what it
serves changes (the learner applied something in another terminal), the
check runs by itself and the menu comes back.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rich.markup import escape

from lab import ui
from lab.backends.base import NOTE, Backend
from lab.config import Paths
from lab.errors import LabError
from lab.exercises.catalogue import Exercise, Step
from lab.exercises.check_result import CheckResult
from lab.exercises.checks import run_check
from lab.exercises.cleanup import delete_commands, leftovers
from lab.exercises.hints import Hints
from lab.exercises.propagation import what_checks_read
from lab.exercises.results import show_result
from lab.exercises.tracks import GATEWAY, base_and_track
from lab.exercises.working_copy import (
    apply_command,
    left_behind,
    not_applied,
    shown_path as _shown_path,
    solution_diff,
    solution_objects,
    work_file,
)
from lab.helm import helm_source, render, upgrade as helm_upgrade
from lab.manifests import Ref, load_manifest_file, ref_of
from lab.patches import load_patch
from lab.state import Progress, wait_for_other_commands

CHECK, HINT, SHOW, SOLVE, SKIP, QUIT, CONTINUE, AGAIN = (
    "check", "hint", "show solution", "apply solution for me", "skip", "quit", "continue", "check again")
WHOLE_FILE, BACK = "show the whole solution file", "back"
DELETE, KEEP = "delete it", "keep it"
WATCH_EVERY = 1.0   # seconds between looks at what the gateway serves, while a menu waits
SERVES_NEW = "[cyan]The gateway serves something new: checking it.[/]"
TRY_AGAIN = "try again"


class Quit(Exception):
    """The learner chose quit: progress is saved, the walkthrough ends."""


@dataclass
class _Upgrade:
    """A helm step replayed by restore: upgraded as a release, not applied as loose objects."""
    step: Step
    values: list[Path]
    objects: list[dict]


class Walkthrough:
    def __init__(self, exercise: Exercise, backend: Backend, paths: Paths, yes: bool = False):
        self.exercise = exercise
        self.backend = backend
        self.paths = paths
        self.yes = yes
        self.progress = Progress(paths)
        self.failed: list[str] = []
        self.hints = Hints()
        self.served_at_last_check: tuple | None = None   # what the check read when last checked

    def fill_in(self, text: str) -> str:
        """Step texts name this lab's own gateway and files, so a command in them can be pasted as is:
        {{gateway_url}} (http://127.0.0.1:PORT), {{https_port}}, {{ca_file}}, and {{helm_source}}
        (where helm comes from, for an exercise that renders a chart)."""
        gateway_api = uses_gateway_api(self.exercise)   # a cluster has another entry point for that track
        values = {
            # the gateway that takes the exercise's host: a Gateway API Gateway's own, on that track
            "gateway_url": lambda: self.backend.entry_url("http", gateway_api, self.exercise.request.host),
            "https_port": lambda: urlsplit(self.backend.entry_url("https", gateway_api,
                                                                  self.exercise.request.host)).port,
            "ca_file": lambda: _shown_path(self.paths.ca_file),
            "helm_source": lambda: helm_source()[1],
        }
        for name, value in values.items():
            token = "{{" + name + "}}"
            if token in text:
                text = text.replace(token, str(value()))
        return text

    # -- where to start ---------------------------------------------------------------

    def work_file(self, step: Step) -> Path:
        return work_file(self.paths, self.exercise, step)

    def reset(self, step_name: str | None = None) -> Path | None:
        """Forget progress (of the exercise or one step) and give fresh working copies. The learner's
        copies are moved, not lost, into work/<exercise>/before-reset-<time>/; returns that folder."""
        import time

        steps = [self.exercise.step(step_name)] if step_name else self.exercise.steps
        self.progress.reset(self.exercise.name, step_name)
        works = sorted({self.work_file(step) for step in steps if step.workfile and self.work_file(step).exists()})
        if not works:
            return None
        kept = self.paths.work_dir / self.exercise.name / time.strftime("before-reset-%Y%m%d-%H%M%S")
        kept.mkdir(parents=True, exist_ok=True)
        for work in works:
            shutil.move(work, kept / work.name)
        return kept

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
        Forced (`--step`), tasks not solved yet are replayed from their solutions: a step starts from
        the lab its earlier steps leave (rollback needs the canary to roll back). Unless forced, a lab
        that still holds every object those steps made is left as it is: it may hold what the learner
        applied for the current step before quitting."""
        # In step order: whole objects, helm upgrades, and JSON patches of one object.
        objects: list[dict | _Upgrade | tuple[Ref, list[dict]]] = []
        skipped = set(self.progress.skipped(self.exercise.name))
        for step in self.exercise.steps[:before]:
            if not self._runs_here(step) or (step.name in skipped and not force):
                continue   # a skipped step made nothing (helm out of reach, say): nothing to miss
            if step.kind == "apply":
                self.install(step)    # idempotent: each says so when it is there already
                for manifest in step.manifests:
                    objects += load_manifest_file(manifest)
            elif step.kind == "helm":
                objects.append(_Upgrade(step, list(step.values), self.rendered(step, step.values)))
            elif step.kind == "task" and (force or step.name in self.progress.done(self.exercise.name)):
                solved = step.name in self.progress.done(self.exercise.name)
                work = self.work_file(step) if step.workfile and solved else None
                source = work if work and work.exists() else step.required_solution
                if step.patch:
                    objects.append((step.patch, load_patch(source)))
                elif step.helm:
                    objects.append(_Upgrade(step, [source], self.rendered(step, [source])))
                else:
                    objects += load_manifest_file(source)
        made = [o for item in objects for o in (item.objects if isinstance(item, _Upgrade) else [item])]
        if not force and all(self.backend.get(ref_of(o)) is not None for o in made if isinstance(o, dict)):
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
                    if isinstance(item, _Upgrade):   # as a release: a cluster's helm must own what it made
                        self.upgrade(item.step, item.values)
                    elif item is not None:
                        self.backend.patch(*item)

    def say_what_restore_changes(self, before: int) -> None:
        """What restore(before) will apply, as the learner would name it, before it does."""
        changes = []
        for step in self.exercise.steps[:before]:
            if not self._runs_here(step):
                continue
            solved = step.name in self.progress.done(self.exercise.name)
            if step.kind == "apply":
                changes += [manifest.relative_to(self.exercise.folder).as_posix() for manifest in step.manifests]
            elif step.kind == "helm":
                changes.append(f"helm release {step.required_helm.release} ({step.required_helm.chart.name})")
            elif step.kind == "task":   # --step replays every earlier task: the learner's, or its solution
                work = self.work_file(step) if step.workfile and solved else None
                source = _shown_path(work) if work and work.exists() else "its solution"
                changes.append(f"step {step.name}: {source}")
        if changes:
            ui.info(f"To start at step {before + 1}, the lab first applies again what the steps before it "
                    f"made, replacing what it holds of those objects: {'; '.join(changes)}")

    # -- running ----------------------------------------------------------------------

    def run(self, step_name: str | None = None) -> bool:
        start = self.first_step(step_name)
        total = len(self.exercise.steps)
        ui.console.rule(f"[bold]{self.exercise.title}[/]  ({self.exercise.name}, on {self.backend.name})")
        if start == total:
            ui.info(f"You have finished {self.exercise.name}. `invoke exercise {self.exercise.name} --reset` "
                    "starts it again.")
            return True
        self.progress.mark_current(self.exercise.name)
        if start > 0:
            ui.info(f"{'Starting' if step_name else 'Resuming'} at step {start + 1} of {total}: "
                    f"{self.exercise.steps[start].name}")
            if step_name:   # --step sets the lab up for that step: say what that changes first
                self.say_what_restore_changes(start)
            self.restore(start, force=step_name is not None)
        try:
            for index in range(start, total):
                step = self.exercise.steps[index]
                ui.console.rule(f"Step {index + 1}/{total}: {step.name}", style="cyan")
                wait = self.run_step(step)
                if wait and not self.yes and index + 1 < total:
                    self.pause(index + 1)
        except Quit:
            ui.info(f"Progress saved. `invoke exercise {self.exercise.name}` resumes where you left off.")
            return True
        except KeyboardInterrupt:
            ui.info(f"\n{self.saved_note()}")
            raise
        if self.failed:
            ui.info(f"[red]{len(self.failed)} check(s) failed:[/] {', '.join(self.failed)}")
            return False
        ui.info(f"[green]Exercise {self.exercise.name} complete.[/]")
        self.offer_cleanup()
        return True

    def offer_cleanup(self) -> None:
        """On a cluster a finished exercise's pods (each with a sidecar) and deployed gateways keep
        running: offer to delete what it made (lab/exercises/cleanup.py). --yes keeps them (CI reads
        them after) and says how."""
        refs = leftovers(self.exercise)
        if self.backend.name == "local" or not refs:
            return   # the local lab's pods are processes `down` ends
        shown = ", ".join(str(ref) for ref in refs)
        if self.yes or ui.choose(f"Delete what {self.exercise.name} made on the cluster ({shown})? Its pods and "
                                 "gateways keep running otherwise.", [DELETE, KEEP]) == KEEP:
            ui.info("Kept. To remove it later:")
            for line in delete_commands(refs):
                ui.command(line)
            return
        with ui.step(f"deleting what {self.exercise.name} made"):
            self.backend.delete(refs)

    def saved_note(self) -> str:
        """Where Ctrl-C left the learner: what is saved and how to come back."""
        index = self.first_step(None)
        finished = set(self.progress.done(self.exercise.name)) | set(self.progress.skipped(self.exercise.name))
        behind = len(finished & {s.name for s in self.exercise.steps})
        where = (f"resumes at step {index + 1}: {self.exercise.steps[index].name}"
                 if index < len(self.exercise.steps) else "shows it finished")
        return (f"Progress saved ({behind} of {len(self.exercise.steps)} steps behind you). "
                f"`invoke exercise {self.exercise.name}` {where}.")

    def pause(self, next_index: int) -> None:
        """Wait for the learner before the next step, so what this one showed is read, not scrolled away."""
        upcoming = self.exercise.steps[next_index]
        prompt = f"next: step {next_index + 1}/{len(self.exercise.steps)}, {upcoming.name}"
        if ui.choose(prompt, [CONTINUE, QUIT]) == QUIT:
            raise Quit

    def _runs_here(self, step: Step) -> bool:
        return step.runs_on(self.backend.name)

    def run_step(self, step: Step) -> bool:
        """Run one step; True when the walkthrough should wait for the learner before the next
        (not after an explain step's own "continue", nor after the learner chose skip)."""
        if step.text:   # a step this lab cannot do is still worth reading: it says what a cluster does
            ui.markdown(self.fill_in(step.text))
        if not self._runs_here(step):
            why = " (it has no pods, sidecars or autoscalers)" if self.backend.name == "local" else ""
            ui.info(f"[yellow]skipped:[/] this step needs {' or '.join(step.backends)}; "
                    f"the {self.backend.name} lab cannot do it{why}.")
            self.progress.mark_skipped(self.exercise.name, step.name)
            return True
        handler = {"explain": self.explain, "apply": self.apply, "helm": self.apply_chart, "check": self.check,
                   "task": self.task, "question": self.question}[step.kind]
        return self.stay_on_failure(step, handler)

    def stay_on_failure(self, step: Step, handler) -> bool:
        """A step the lab cannot do (helm out of reach, say) shows why and the fix, then offers to try
        again, skip or quit, instead of dropping the learner to the shell. --yes fails as before."""
        while True:
            try:
                return handler(step)
            except LabError as e:
                if self.yes:
                    raise
                ui.info(f"[red]✗ {step.name} could not be done:[/] {e.message}")
                if e.fix:
                    ui.info(f"  fix: {e.fix}")
                choice = self.ask(step, [TRY_AGAIN, SKIP, QUIT])
                if choice == SKIP:
                    self.progress.mark_skipped(self.exercise.name, step.name)
                    return False
                if choice == QUIT:
                    raise Quit from None

    def explain(self, step: Step) -> bool:
        if not self.yes and self.ask(step, [CONTINUE, QUIT]) == QUIT:
            raise Quit
        self.progress.mark_done(self.exercise.name, step.name)
        return False

    def question(self, step: Step) -> bool:
        """Ask, then explain. A prediction goes on after any answer (a wrong one says why); a decision
        goes on only once it is right (--yes gives the right answer and prints it)."""
        asked = step.required_question
        while True:
            if self.yes:
                choice = asked.answer[0]
                ui.info(escape(f"{asked.prompt}\n  answer: {choice}"))
            else:
                choice = ui.choose(asked.prompt, [*asked.choices, QUIT])
                if choice == QUIT:
                    raise Quit
            right = choice in asked.answer
            if right:
                ui.info(f"[green]✓ right:[/] {escape(choice)}")
            else:
                ui.info(f"[red]✗ not {'this' if asked.decision else 'quite'}:[/] " + escape(choice))   # not markup
                if choice in asked.why_not:   # Markdown, as explain is: `code` shows as code, not backticks
                    ui.markdown(self.fill_in(asked.why_not[choice]))
            if right or not asked.decision:
                ui.markdown(self.fill_in(asked.explain))
                self.progress.mark_done(self.exercise.name, step.name)
                return True
            ui.info("A decision is yours to get right before you act on it: read the numbers again and choose.")

    def install(self, step: Step) -> None:
        """What an apply step needs in the cluster before its manifests (Argo Rollouts' CRDs, Prometheus)."""
        for name in step.install:
            if name == "argo-rollouts":
                for line in self.backend.install_argo_rollouts():
                    ui.info(f"  {line}")
            else:
                self.backend.install_addons([name])

    def apply(self, step: Step) -> bool:
        self.install(step)
        for manifest in step.manifests:
            shown = manifest.relative_to(self.exercise.folder).as_posix()
            if manifest in step.unshown:
                ui.info(f"[dim]{shown}: applied, not shown here — what it holds is for you to find from what "
                        "it does (read it once you have)[/]")
                continue
            ui.yaml_block(manifest.read_text(), title=shown)
        objects = [obj for manifest in step.manifests for obj in load_manifest_file(manifest)]
        with ui.step("applying"):
            lines = self.backend.apply(objects)
        if step.unshown:   # only what a cluster's apply prints: the lab's own notes would name the cause
            held_back = [line for line in lines if line.startswith(NOTE)]
            lines = [line for line in lines if line not in held_back]
            if held_back:
                ui.info(f"[dim]  ({len(held_back)} note(s) of the lab held back: a cluster's apply prints no more "
                        "than this)[/]")
        for line in lines:
            ui.info(f"  {line}")
        self.progress.mark_done(self.exercise.name, step.name)
        return True

    def rendered(self, step: Step, values: list[Path] | tuple[Path, ...]) -> list[dict]:
        release = step.required_helm
        return render(release.chart, release.release, release.namespace, list(values))

    def upgrade(self, step: Step, values: list[Path] | tuple[Path, ...]) -> list[str]:
        """The step's release upgraded with these values, as `invoke helm` does it."""
        release = step.required_helm
        return helm_upgrade(self.backend, release.chart, release.release, release.namespace, list(values))

    def apply_chart(self, step: Step) -> bool:
        for values in step.values:
            ui.yaml_block(values.read_text(), title=values.relative_to(self.exercise.folder).as_posix())
        release = step.required_helm
        with ui.step(f"helm: upgrading release {release.release} with {release.chart.name}"):
            lines = self.upgrade(step, step.values)
        for line in lines:
            ui.info(f"  {line}")
        self.progress.mark_done(self.exercise.name, step.name)
        return True

    def check(self, step: Step) -> bool:
        while True:
            if self.report(step, self.verify(step), hint_now=True):
                return True
            if self.yes:
                self.failed.append(step.name)
                return True
            choice = self.ask(step, [AGAIN, SKIP, QUIT], watch=True)
            if choice == ui.CHANGED:
                ui.info(SERVES_NEW)
            if choice == SKIP:
                self.progress.mark_skipped(self.exercise.name, step.name)
                return False
            if choice == QUIT:
                raise Quit

    def task(self, step: Step) -> bool:
        work = self.prepare_work_file(step) if step.workfile else None
        if work:
            ui.info(f"Your working copy: [bold]{_shown_path(work)}[/]\nEdit it, run this, then choose [bold]check[/] "
                    "(or just apply it: the lab checks by itself when the gateway changes):")
            ui.command(self.apply_command(step, work))
        if step.rollout:
            ui.info("Run this in another terminal, watch each decision, and once it has ended choose [bold]check[/]:")
            ui.command(step.rollout.command())
        if self.yes:
            self.solve(step, work)
            if not self.report(step, self.verify(step)):
                self.failed.append(step.name)
            return True
        self.served_at_last_check = self.served()
        while True:
            # A rollout changes the gateway at every step: checking each change would judge it half-way.
            choice = self.ask(step, [CHECK, HINT, SHOW, SOLVE, SKIP, QUIT], watch=step.rollout is None)
            if choice == ui.CHANGED:
                ui.info(SERVES_NEW)
                choice = CHECK
            if choice == CHECK:
                if self.report(step, self.verify(step)):
                    return True
                slip = not_applied(step, work, self.backend)
                if slip:
                    ui.info(slip)
            elif choice == HINT:
                ui.info(self.hints.next(step))
            elif choice == SHOW:
                self.show_solution(step, work)
            elif choice == SOLVE:
                self.solve(step, work)
                if self.report(step, self.verify(step)):
                    return True
            elif choice == SKIP:
                self.progress.mark_skipped(self.exercise.name, step.name)
                return False
            elif choice == QUIT:
                raise Quit

    # -- pieces -------------------------------------------------------------------------

    def apply_command(self, step: Step, work: Path) -> str:
        return apply_command(step, work)

    def ask(self, step: Step, choices: list[str], watch: bool = False) -> str:
        """A menu; with `watch`, it closes by itself (ui.CHANGED) once anything the check reads differs
        from the last check: the gateway's routes, the objects behind them, or ready endpoints."""
        return ui.choose(f"{step.name}:", choices, changed=self.gateway_changed if watch else None,
                         every=WATCH_EVERY)

    def gateway_changed(self) -> bool:
        now = self.served()
        return now is not None and now != self.served_at_last_check

    def served(self) -> tuple | None:
        """What the step's check reads now: the gateway's live routes, the objects behind them (a
        DestinationRule, a Service, a Deployment, a ReferenceGrant) and ready endpoints; None if it cannot
        be read just now."""
        try:
            return what_checks_read(self.backend)
        except Exception:  # noqa: BLE001 - a lab that hiccups while the menu waits is not the learner's error
            return None

    def prepare_work_file(self, step: Step) -> Path:
        work = self.work_file(step)
        if not work.exists():
            work.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(step.required_workfile, work)
        return work

    def solve(self, step: Step, work: Path | None) -> None:
        """Apply the solution, and put it in the working copy (the learner's version kept as .bak).
        A rollout step's solution is its command, run here."""
        if step.rollout:
            step.rollout.run(self.backend, quick=self.yes)
            return
        stale = [ref for ref in left_behind(step, work) if self.backend.get(ref) is not None]
        if work is not None:
            if work.exists() and work.read_text() != step.required_solution.read_text():
                shutil.copyfile(work, work.with_name(work.name + ".bak"))
            shutil.copyfile(step.required_solution, work)
        with ui.step("applying the solution"):
            if step.helm:
                lines = self.upgrade(step, [step.required_solution])
            else:   # whole objects, whatever shape the learner left them in (a patch's too)
                lines = self.backend.apply(solution_objects(self.exercise, step))
            if stale:   # what only the learner's copy made goes with it (a second route object for the host)
                self.backend.delete(stale)
                lines += [f"{ref} deleted: your working copy made it, the solution does not" for ref in stale]
        for line in lines:
            ui.info(f"  {line}")

    def show_solution(self, step: Step, work: Path | None) -> None:
        """What stands between the working copy and the solution, as a diff; then the whole file if asked."""
        if step.rollout:
            ui.info("The answer is a command: run it, and read each decision it prints.")
            ui.command(step.rollout.command())
            return
        diff = solution_diff(step, work) if work is not None else ""
        if work is not None and not diff:
            ui.info(f"Your working copy already is the solution; `{self.apply_command(step, work)}` applies it.")
            return
        if diff:
            ui.info("[bold]From your working copy to the solution[/] ([red]-[/] yours, [green]+[/] the solution):")
            ui.diff_block(diff)
            if self.ask(step, [WHOLE_FILE, BACK]) != WHOLE_FILE:
                return
        ui.yaml_block(step.required_solution.read_text(), title="solution")

    def verify(self, step: Step) -> CheckResult:
        wait_for_other_commands(self.paths)
        with ui.step("checking what the gateway serves, then live traffic"):
            result = run_check(self.exercise, step, self.backend, tuple(self.progress.skipped(self.exercise.name)))
        self.served_at_last_check = self.served()
        return result

    def report(self, step: Step, result: CheckResult, hint_now: bool = False) -> bool:
        """Show the result; a pass marks the step done. A failure's hint waits for `hint`
        unless `hint_now` (a check step has no hint menu)."""
        show_result(result, with_hint=hint_now or self.yes)
        if result.passed:
            self.progress.mark_done(self.exercise.name, step.name)
            return True
        self.hints.failed(step, result)
        if result.hint:
            if not (hint_now or self.yes):
                ui.info("[dim]`hint` knows what went wrong here.[/]")
        return False


def require_terminal_or_yes(yes: bool) -> None:
    if not yes and not ui.interactive():
        raise LabError("the walkthrough asks questions, but there is no terminal here",
                       "run it in a terminal, or add --yes to apply every solution and run every check")


def uses_gateway_api(exercise: Exercise) -> bool:
    """An exercise of the Gateway API track (its folder is NAME-gateway-api: a chart may make its
    Gateway), or whose manifests make a Gateway API Gateway, plays the Gateway API track."""
    return base_and_track(exercise.name)[1] == GATEWAY or any(
        str(obj.get("apiVersion", "")).startswith("gateway.networking.k8s.io/") and obj.get("kind") == "Gateway"
               for step in exercise.steps for path in step.manifests for obj in load_manifest_file(path))
