"""Where the learner stands: each exercise's steps seen ("3/9 steps", "complete"), and which
exercise and step to play next (for `up` and `status`)."""

from dataclasses import dataclass

from lab.exercises.catalogue import (
    Exercise,
    base_exercise_names,
    exercise_names,
    load_exercise,
)
from lab.exercises.tracks import ISTIO, in_track
from lab.state import Progress


@dataclass(frozen=True)
class Standing:
    exercise: Exercise
    seen: int          # steps done or skipped
    next_step: int     # index of the first step not seen (len(steps) when complete)

    @property
    def total(self) -> int:
        return len(self.exercise.steps)

    @property
    def complete(self) -> bool:
        return self.next_step >= self.total

    def shown(self) -> str:
        return "complete" if self.complete else f"{self.seen}/{self.total} steps"


def standing(exercise: Exercise, progress: Progress) -> Standing:
    seen = set(progress.done(exercise.name)) | set(progress.skipped(exercise.name))
    names = [step.name for step in exercise.steps]
    next_step = next((i for i, name in enumerate(names) if name not in seen), len(names))
    return Standing(exercise, len(seen & set(names)), next_step)


def all_standings(progress: Progress) -> list[Standing]:
    return [standing(load_exercise(name), progress) for name in exercise_names()]


def suggestion(progress: Progress, provider: str) -> str:
    """The command to run next: the first exercise (in catalogue order) started and not finished,
    else the first not started, among those this provider can play, each in the track (Istio's API
    or the Gateway API) the learner last played it in."""
    chosen = [in_track(base, progress.track(base) or ISTIO) for base in base_exercise_names()]
    playable = [standing(load_exercise(name), progress) for name in chosen]
    playable = [s for s in playable if s.exercise.runs_on(provider)]
    started = [s for s in playable if s.seen and not s.complete]
    fresh = [s for s in playable if not s.seen]
    if started:
        s = started[0]
        step = s.exercise.steps[s.next_step]
        return f"invoke exercise {s.exercise.name}  (resumes at step {s.next_step + 1}/{s.total}: {step.name})"
    if fresh:
        return f"invoke exercise {fresh[0].exercise.name}"
    return "every exercise is complete; `invoke exercise NAME --reset` plays one again"
