"""What `invoke dashboard` shows, as one JSON-able dict, taken again about twice a second:

- per host, the routes the gateway serves (Envoy's /config_dump, in the order Envoy tries them)
  with their matches, destinations and weights;
- per destination, its share of the last window's requests, its error rate and p95, from the
  gateway's own counters (the same Window as `invoke watch`, read as `invoke metrics` reads them);
- the pods and their state; the exercise being played, its next step and the last check's result;
- or, when there is no lab (never up, `invoke down`, its gateway gone), why: `up` is false.

Both backends answer through the Backend verbs alone (status, read_gateways), so on a cluster the
counters come through the port-forward to the gateway's Envoy admin, as for `watch`.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

from lab.backends.base import Backend, LiveRoute
from lab.backends.select import lab_state, make_backend
from lab.config import Paths
from lab.errors import LabError
from lab.exercises.catalogue import load_exercise
from lab.exercises.last_check import last_check
from lab.exercises.standing import standing
from lab.state import LabState, Progress
from lab.watch import Window, gateway_counters

Snapshot = dict[str, Any]


def routes_by_host(routes: list[LiveRoute]) -> list[dict[str, Any]]:
    """The live routes grouped by host and listener, each host's in Envoy's order."""
    hosts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for route in routes:
        served = hosts.setdefault((route.host, route.scheme), [])
        served.append({"index": len(served), "name": route.name, "match": route.match, "status": route.status,
                       "destinations": [{"name": f"{d.service}" + (f" ({d.subset})" if d.subset else ""),
                                         "weight": d.weight} for d in route.destinations]})
    return [{"host": host, "scheme": scheme, "routes": served} for (host, scheme), served in hosts.items()]


def exercise_standing(paths: Paths) -> dict[str, Any] | None:
    """The exercise last played or checked, its next step, and the last check's result (None when
    there is none, or progress.json is damaged: `status` says so, the page just leaves it out)."""
    try:
        progress = Progress(paths)
    except LabError:
        return None
    name = progress.current()
    checked = last_check(paths)
    if not name and checked:
        name = str(checked.get("exercise", ""))
    if not name:
        return None
    try:
        exercise = load_exercise(name)
    except LabError:
        return None
    where = standing(exercise, progress)
    step = exercise.steps[where.next_step].name if not where.complete else ""
    return {"name": exercise.name, "title": exercise.title, "step": step, "number": where.next_step + 1,
            "total": where.total, "complete": where.complete,
            "last_check": checked if checked and checked.get("exercise") == exercise.name else None}


class Live:
    """Takes a snapshot every `interval` seconds on a thread of its own; `latest()` is the newest.
    One window for every browser tab, and the lab is read once per interval however many look."""

    def __init__(self, paths: Paths, interval: float = 0.5, window: float = 10.0,
                 backend_for: Callable[[Paths, LabState], Backend] | None = None):
        self.paths = paths
        # The lab that is up, as every command finds it (tests give a cluster backend of fakes).
        self.backend_for = backend_for or (lambda paths, state: make_backend(paths, state.provider, state.gateway_port))
        self.interval = interval
        self.window = Window(window)
        self._latest: Snapshot = {"up": False, "reason": "starting", "taken": time.time()}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-snapshots", daemon=True)

    def start(self) -> "Live":
        self._take()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def latest(self) -> Snapshot:
        with self._lock:
            return self._latest

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def _take(self) -> None:
        try:
            taken = self.snapshot()
        except LabError as e:
            taken = down(str(e))
        except OSError as e:   # the gateway went away between two reads: say so, look again next time
            taken = down(f"the gateway's Envoy does not answer ({e}): `invoke status` says why, `invoke up` "
                         "restarts it")
        except Exception as e:  # noqa: BLE001 - a reading that fails must not end the page's updates
            taken = down(f"the dashboard could not read the lab ({type(e).__name__}: {e})")
        if not taken["up"]:
            self.window.clear()
        with self._lock:
            self._latest = taken

    def snapshot(self) -> Snapshot:
        state = lab_state(self.paths)
        if state is None:
            return down("no lab is up: `invoke up` starts one")
        backend = self.backend_for(self.paths, state)
        status = backend.status()
        if not status.up:
            return down("; ".join(status.notes) or f"the {state.provider} lab is not running: `invoke up`")
        self.window.add(gateway_counters(backend))
        return {
            "up": True, "taken": time.time(), "provider": status.provider, "gateway": status.gateway_url,
            "window": self.window.seconds,
            "hosts": routes_by_host(status.routes),
            "traffic": [{"destination": s.destination, "requests": s.requests, "share": round(s.share, 1),
                         "error_rate": round(s.error_rate, 1), "p95": None if s.p95 is None else round(s.p95, 1)}
                        for s in self.window.shares()],
            "pods": [{"name": p.name, "state": p.state, "detail": p.detail} for p in status.processes],
            "notes": status.notes,
            "exercise": exercise_standing(self.paths),
        }


def down(reason: str) -> Snapshot:
    return {"up": False, "reason": reason, "taken": time.time()}
