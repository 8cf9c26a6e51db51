"""What the lab remembers between commands.

- state.json: which provider is up and its settings (gone after `down`).
- progress.json: the learner's progress, by exercise and step name (kept by `down`).
- lock: held by the one command that changes the lab (up, down, apply, patch) or its progress,
  so what is stored is always what is served and no write is lost.
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field

from lab.config import PROVIDERS, Paths
from lab.errors import LabError
from lab.files import DamagedFile, read_model, write_json

LOCK_FILE = "lock"
LOCK_WAIT_SECONDS = 30.0   # an apply that starts pods takes a few seconds; ten in a row still fit


@contextlib.contextmanager
def lab_lock(paths: Paths) -> Iterator[None]:
    """Hold the lab's lock (reentrant within a process); wait briefly for another command, then say so."""
    paths.home.mkdir(parents=True, exist_ok=True)
    wait = float(os.environ.get("CANARY_LAB_LOCK_WAIT", LOCK_WAIT_SECONDS))
    lock = FileLock(paths.home / LOCK_FILE, timeout=wait, is_singleton=True, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise LabError(f"another lab command is still running (it has held {paths.home / LOCK_FILE} "
                       f"for over {wait:.0f}s)", "wait for it to finish, then run this again") from None
    try:
        yield
    finally:
        lock.release()


def wait_for_other_commands(paths: Paths) -> None:
    """Let a command that is changing the lab (an apply in another terminal) finish first: a check
    in between would see the new routes before the new objects are saved, and blame the learner."""
    with lab_lock(paths):
        pass


@dataclass
class LabState:
    provider: str
    gateway_port: int
    settings: dict = field(default_factory=dict)


class StoredState(BaseModel):
    """state.json as `save_state` writes it."""
    provider: str
    gateway_port: int = Field(ge=1, le=65535)
    settings: dict[str, Any] = Field(default_factory=dict)


STATE_FIX = "repair or delete that file (`invoke down` stops a local lab even so)"


def load_state(paths: Paths) -> LabState | None:
    try:
        stored = read_model(paths.state_file, StoredState, STATE_FIX)
    except DamagedFile as e:
        raise DamagedState(e.message, e.fix) from None
    if stored is None:
        return None
    if stored.provider not in PROVIDERS:
        raise DamagedState(f"{paths.state_file} is damaged (unknown provider {stored.provider!r})",
                           f"set provider to one of {', '.join(PROVIDERS)}, or delete the file "
                           "(`invoke down` stops a local lab even so)")
    return LabState(stored.provider, stored.gateway_port, stored.settings)


class DamagedState(DamagedFile):
    """state.json cannot say which lab is up."""


def save_state(paths: Paths, state: LabState) -> None:
    write_json(paths.state_file, {
        "provider": state.provider, "gateway_port": state.gateway_port, "settings": state.settings,
    })


def clear_state(paths: Paths) -> None:
    paths.state_file.unlink(missing_ok=True)


class StepsDone(BaseModel):
    """One exercise's progress: step names done and skipped (other keys are kept as they are)."""
    model_config = ConfigDict(extra="allow")
    done: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)


class StoredProgress(BaseModel):
    """progress.json: steps by exercise, the current exercise, the track each was last played in."""
    model_config = ConfigDict(extra="allow")
    exercises: dict[str, StepsDone]
    current: str = ""
    tracks: dict[str, str] = Field(default_factory=dict)


PROGRESS_FIX = "repair or delete that file (deleting it forgets your progress)"


class Progress:
    """Completed steps per exercise, saved by step name so reordering is safe."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.file = paths.progress_file
        self.data = self._read()

    def _read(self) -> dict:
        stored = read_model(self.file, StoredProgress, PROGRESS_FIX)
        return stored.model_dump(exclude_defaults=True) if stored else {"exercises": {}}

    def done(self, exercise: str) -> list[str]:
        return list(self.data["exercises"].get(exercise, {}).get("done", []))

    def skipped(self, exercise: str) -> list[str]:
        return list(self.data["exercises"].get(exercise, {}).get("skipped", []))

    def current(self) -> str:
        """The exercise the learner last played or checked ("" before the first)."""
        return str(self.data.get("current", ""))

    def track(self, exercise: str) -> str:
        """The API track (istio, gateway) the learner last played this exercise in ("" before)."""
        return str((self.data.get("tracks") or {}).get(exercise, ""))

    def mark_track(self, exercise: str, track: str) -> None:
        if self.track(exercise) != track:
            with self._changing():
                self.data.setdefault("tracks", {})[exercise] = track

    def mark_current(self, exercise: str) -> None:
        if self.data.get("current") != exercise:
            self.data["current"] = exercise
            write_json(self.file, self.data)

    def mark_done(self, exercise: str, step: str) -> None:
        self._mark(exercise, step, "done", "skipped")

    def mark_skipped(self, exercise: str, step: str) -> None:
        self._mark(exercise, step, "skipped", "done")

    def _mark(self, exercise: str, step: str, into: str, out_of: str) -> None:
        with self._changing():
            entry = self.data["exercises"].setdefault(exercise, {})
            entry[out_of] = [s for s in entry.get(out_of, []) if s != step]
            if step not in entry.setdefault(into, []):
                entry[into].append(step)

    def reset(self, exercise: str, step: str | None = None) -> None:
        with self._changing():
            entry = self.data["exercises"].get(exercise)
            if not entry:
                return
            if step is None:
                del self.data["exercises"][exercise]
            else:
                for key in ("done", "skipped"):
                    entry[key] = [s for s in entry.get(key, []) if s != step]

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Read-modify-write under the lab's lock, from the file as it is now (another command
        may have saved progress since this one read it)."""
        with lab_lock(self.paths):
            self.data = self._read()
            yield
            write_json(self.file, self.data)
