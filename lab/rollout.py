"""`invoke rollout`: a canary stepped up on a schedule, each step gated on the gateway's metrics.

At each step the stepper sets the route's weights (a JSON patch of the VirtualService), waits
an interval while traffic flows, reads the canary's error rate and p95 latency over that
window from the gateway's own Envoy stats, and decides: promote to the next step, wait longer
(too few requests to judge: never a silent pass), or roll back (100% to stable, exit 1).
It works through the Backend verbs only (get, patch, gateway_admin), so on every backend.
"""

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab import ui
from lab.backends.base import Backend
from lab.errors import LabError
from lab.gate_rates import gate_in_words, percent, window_rollback
from lab.manifests import Ref
from lab.rollout_record import PROMOTED, ROLLED_BACK, RolloutRecord, record_patch
from lab.traffic import metrics
from lab.traffic.metrics import Destination, WindowStats
from lab.traffic.steady import SteadyTraffic

if TYPE_CHECKING:
    from lab.envoy_admin import EnvoyAdmin


@dataclass(frozen=True)
class Plan:
    ref: Ref                      # the VirtualService
    route: str                    # its http route: by name, or by index; "" for its only route
    stable: str                   # a destination: its host, its subset, or host/subset
    canary: str
    steps: tuple[int, ...]        # canary weights, rising, ending at 100
    interval: float               # seconds per window
    max_error_rate: float         # percent of requests answered 5xx
    max_p95_ms: float
    min_requests: int = 20        # a window with fewer canary requests cannot judge
    max_waits: int = 3            # extra windows to wait for enough traffic, then roll back
    scale_down: str = ""          # the old version's Deployment: once promoted, its destination leaves
                                  # the route and the Deployment is scaled to 0


def number(flag: str, text) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise LabError(f"{flag} {text!r} is not a number", f"e.g. {flag} 10") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise LabError(f"{flag} {text!r} is not a number", f"e.g. {flag} 10")
    return value


def parse_steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        steps = ()
    if not steps or any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)) \
            or steps[-1] != 100:
        raise LabError(f"--steps {text!r} is not a rising list of canary weights ending at 100",
                       "e.g. --steps 10,25,50,100 (whole percents from 1 to 100)")
    return steps


def check_plan(plan: Plan) -> None:
    if not 0.1 <= plan.interval <= 3600:
        raise LabError(f"--interval {plan.interval:g} is out of range", "give seconds from 0.1 to 3600")
    if not 0 <= plan.max_error_rate < 100:
        raise LabError(f"--max-error-rate {plan.max_error_rate:g} is out of range",
                       "a percent of requests from 0 to just under 100, e.g. --max-error-rate 1")
    if not plan.max_p95_ms > 0:
        raise LabError(f"--max-p95-ms {plan.max_p95_ms:g} is out of range", "milliseconds above 0, e.g. 500")
    if not 1 <= plan.min_requests <= 100_000:
        raise LabError(f"--min-requests {plan.min_requests} is out of range", "from 1 to 100000")
    if not plan.stable or not plan.canary or plan.stable == plan.canary:
        raise LabError(f"--stable {plan.stable!r} and --canary {plan.canary!r} must name two destinations",
                       "e.g. --stable v1 --canary v2 (a subset), or --stable httpbin --canary tornado (a host)")


@dataclass
class RouteSlots:
    """Where the stable and canary destinations sit in the VirtualService."""
    route_index: int
    stable_index: int
    canary_index: int
    stable: Destination
    canary: Destination
    add_canary: dict | None       # the canary's destination, to add when the route lacks it

    def weights_patch(self, canary_weight: int) -> list[dict]:
        base = f"/spec/http/{self.route_index}/route"
        operations = []
        if self.add_canary is not None:
            operations.append({"op": "add", "path": f"{base}/-", "value": {"destination": self.add_canary}})
        return operations + [
            {"op": "add", "path": f"{base}/{self.stable_index}/weight", "value": 100 - canary_weight},
            {"op": "add", "path": f"{base}/{self.canary_index}/weight", "value": canary_weight}]


def _service(host: str, namespace: str) -> str:
    """A VirtualService host as the gateway's cluster names it: `shop` in ns shop → `shop.shop`."""
    labels = host.split(".")
    return ".".join(labels[:2]) if len(labels) > 1 else f"{host}.{namespace}"


def _matches(name: str, destination: dict) -> bool:
    host, subset = destination.get("host", ""), destination.get("subset", "")
    return name in (host, subset, f"{host}/{subset}") and bool(name)


def locate(plan: Plan, virtual_service: dict) -> RouteSlots:
    """Find the route and its two destinations; the canary is added (at weight 0) if absent."""
    ref = plan.ref
    routes = (virtual_service.get("spec") or {}).get("http") or []
    names = [r.get("name", "") for r in routes]
    if plan.route:
        if plan.route in names:
            index = names.index(plan.route)
        elif plan.route.isdigit() and int(plan.route) < len(routes):
            index = int(plan.route)
        else:
            raise LabError(f"{ref} has no http route {plan.route!r} (its routes: "
                           f"{', '.join(n or str(i) for i, n in enumerate(names)) or 'none'})",
                           "give --route a route's name, or its index from 0")
    elif len(routes) == 1:
        index = 0
    else:
        raise LabError(f"{ref} has {len(routes)} http routes", "say which with --route NAME (or its index from 0)")
    destinations = [d.get("destination") or {} for d in routes[index].get("route") or []]
    stable = [i for i, d in enumerate(destinations) if _matches(plan.stable, d)]
    canary = [i for i, d in enumerate(destinations) if _matches(plan.canary, d)]
    for flag, found in (("--stable", stable), ("--canary", canary)):
        if len(found) > 1:
            raise LabError(f"{flag} matches {len(found)} destinations of route {index}",
                           "name it as host/subset")
    if not stable:
        raise LabError(f"route {index} of {ref} has no destination {plan.stable!r} (--stable)",
                       "name the destination that serves now: its host, subset or host/subset")
    weights = [d.get("weight") for d in routes[index].get("route") or []]
    # Others at weight 0 (an old version a promotion left behind) stay at 0; any other weight would
    # change the split under the rollout's feet.
    others = {i for i in set(range(len(destinations))) - set(stable) - set(canary) if weights[i] != 0}
    if others:
        raise LabError(f"route {index} of {ref} has destinations besides stable and canary: "
                       + ", ".join(_label(destinations[i]) for i in sorted(others)),
                       "a rollout moves weight between two destinations: remove the others first")
    namespace = ref.namespace
    stable_dest = destinations[stable[0]]
    add = None
    if canary:
        canary_dest = destinations[canary[0]]
    else:   # not in the route yet: host/subset, or a subset of the stable's host, or a host
        host, _, subset = plan.canary.partition("/")
        if not subset and stable_dest.get("subset") and "." not in host:
            host, subset = stable_dest["host"], host
        canary_dest = {"host": host, **({"subset": subset} if subset else {})}
        add = canary_dest
    return RouteSlots(route_index=index, stable_index=stable[0],
                      canary_index=canary[0] if canary else len(destinations),
                      stable=Destination(_service(stable_dest["host"], namespace), stable_dest.get("subset", "")),
                      canary=Destination(_service(canary_dest["host"], namespace), canary_dest.get("subset", "")),
                      add_canary=add)


def _label(destination: dict) -> str:
    return destination.get("host", "?") + (f"/{destination['subset']}" if destination.get("subset") else "")


@dataclass(frozen=True)
class Decision:
    verdict: str      # "promote", "wait", "rollback", or "unreadable" (no stats to judge)
    reason: str


FIXES = {"rollback": "fix the canary, then run the rollout again",
         "wait": "send traffic while it runs (--traffic), or raise --interval",
         "unreadable": "`invoke status` shows whether the gateway runs; then run the rollout again"}


def decide(plan: Plan, canary: WindowStats, seconds: float) -> Decision:
    """The gate for one window of the canary's traffic."""
    p95 = canary.percentile(95)
    if canary.requests < plan.min_requests:
        return Decision("wait", f"{canary.requests} canary requests in {seconds:.{1 if seconds < 10 else 0}f} s, "
                                f"fewer than the {plan.min_requests} needed to judge")
    if canary.latency_samples < plan.min_requests or p95 is None:
        return Decision("wait", f"latency of only {canary.latency_samples} requests reached the gateway's "
                                f"stats yet, fewer than {plan.min_requests}")
    errors_ok = canary.error_rate <= plan.max_error_rate
    latency_ok = p95 <= plan.max_p95_ms
    reason = (f"errors {canary.error_rate:.1f}% of {canary.requests} {'≤' if errors_ok else '>'} "
              f"{plan.max_error_rate:g}%, "
              f"p95 {p95:.0f} ms {'≤' if latency_ok else '>'} {plan.max_p95_ms:g} ms")
    return Decision("promote" if errors_ok and latency_ok else "rollback", reason)


STATS_READS = 3          # a read that times out once (a busy gateway) is tried again: a slow read is no bad window
STATS_RETRY_AFTER = 0.5


def read_stats(admin: "EnvoyAdmin") -> metrics.Reading:
    """The gateway's counters now; OSError only when every one of STATS_READS reads failed."""
    for attempt in range(1, STATS_READS + 1):
        try:
            return metrics.read(admin)
        except OSError:
            if attempt == STATS_READS:
                raise
            time.sleep(STATS_RETRY_AFTER)
    raise AssertionError("unreachable")


def _compare(stable: WindowStats) -> str:
    if not stable.requests:
        return "stable: no requests"
    p95 = stable.percentile(95)
    return f"stable: errors {stable.error_rate:.1f}%, p95 " + (f"{p95:.0f} ms" if p95 is not None else "-")


class Stepper:
    def __init__(self, backend: Backend, plan: Plan):
        self.backend = backend
        self.plan = plan

    def run(self) -> None:
        plan = self.plan
        virtual_service = self.backend.get(plan.ref)
        if virtual_service is None:
            raise LabError(f"{plan.ref} is not applied in the lab", "check the name and --namespace")
        slots = locate(plan, virtual_service)
        try:
            for number, weight in enumerate(plan.steps, 1):
                self._set(slots, weight)
                title = f"step {number}/{len(plan.steps)}: canary {weight}%"
                try:
                    decision = self._judge(slots, title)
                except OSError as e:      # the admin API did not answer (a stopped gateway or port-forward)
                    decision = Decision("unreadable", f"could not be judged: the gateway's stats did not answer ({e})")
                    ui.console.print(f"{title} — {decision.reason}: [red]roll back[/]", soft_wrap=True)
                if decision.verdict != "promote":
                    self._set(slots, 0)
                    self._record(ROLLED_BACK, weight, decision.reason)
                    raise LabError(f"rolled back to 100% {plan.stable}: at {weight}% to the canary {plan.canary}, "
                                   f"{decision.reason}", FIXES[decision.verdict])
        except KeyboardInterrupt:
            ui.info(f"[yellow]interrupted:[/] {self._live_line(slots)}; nothing was rolled back")
            raise
        self._record(PROMOTED, 100, decision.reason)
        self._finish(slots)

    def _record(self, outcome: str, weight: int, reason: str) -> None:
        """The outcome, kept on the VirtualService (lab/rollout_record.py) for checks and `invoke get`."""
        record = RolloutRecord(stable=self.plan.stable, canary=self.plan.canary, outcome=outcome, weight=weight,
                               reason=reason)
        self.backend.patch(self.plan.ref, record_patch(self.backend.get(self.plan.ref) or {}, record))

    def _set(self, slots: RouteSlots, canary_weight: int) -> None:
        self.backend.patch(self.plan.ref, slots.weights_patch(canary_weight))
        slots.add_canary = None       # it is in the route now
        if canary_weight == 0:
            ui.info(f"[red]rollback:[/] weights set to {self.plan.stable} 100%, {self.plan.canary} 0%")

    def _judge(self, slots: RouteSlots, title: str) -> Decision:
        """Wait the interval (and up to max_waits more while too few requests came), then decide."""
        plan = self.plan
        admin = self.backend.gateway_admin()
        start = read_stats(admin)
        for waited in range(plan.max_waits + 1):
            time.sleep(plan.interval)
            now = read_stats(admin)
            seconds = now.taken_at - start.taken_at
            canary = metrics.window(start, now, slots.canary)
            stable = metrics.window(start, now, slots.stable)
            decision = decide(plan, canary, seconds)
            colour = {"promote": "green", "wait": "yellow", "rollback": "red"}[decision.verdict]
            last_wait = decision.verdict == "wait" and waited == plan.max_waits
            action = "not enough traffic to judge" if last_wait else \
                {"promote": "promote", "wait": f"wait another {plan.interval:g} s",
                 "rollback": "roll back"}[decision.verdict]
            # One line per decision, never wrapped: it is the rollout's record.
            ui.console.print(f"{title} — {decision.reason} ({_compare(stable)}): [{colour}]{action}[/]",
                             soft_wrap=True)
            if decision.verdict == "rollback" and canary.error_rate > plan.max_error_rate:
                chance = window_rollback(canary.requests, plan.max_error_rate / 2, plan.max_error_rate)
                ui.info(f"[dim]  (with {canary.requests} requests, a canary erring {plan.max_error_rate / 2:g}% — "
                        f"half the limit — fails such a window {percent(chance)} of the time)[/]")
            if decision.verdict != "wait":
                return decision
        return decision

    def _live_line(self, slots: RouteSlots) -> str:
        """What the lab holds now, read back (a Ctrl-C may land before or after a patch)."""
        held = self.backend.get(self.plan.ref) or {}
        try:
            route = held["spec"]["http"][slots.route_index]["route"]
            stable = route[slots.stable_index].get("weight", 100 if len(route) == 1 else 0)
            canary = route[slots.canary_index].get("weight", 0) if slots.canary_index < len(route) else 0
        except (KeyError, IndexError, TypeError):
            return f"{self.plan.ref} is not as the rollout left it; `invoke get` shows it"
        return f"live weights are {self.plan.stable} {stable}%, {self.plan.canary} {canary}%"

    def _finish(self, slots: RouteSlots) -> None:
        plan = self.plan
        if not plan.scale_down:
            ui.info(f"[green]promoted:[/] {plan.canary} is the stable version now and serves 100%; "
                    f"{plan.stable}'s destination is kept at weight 0")
            return
        deployment = Ref("Deployment", plan.ref.namespace, plan.scale_down)
        if self.backend.get(deployment) is None:
            raise LabError(f"promoted, but {deployment} (--scale-down) is not applied, so nothing was scaled",
                           "check its name; the route already serves the new version")
        # Break after make: the old destination leaves the route (it serves 0% already) before its
        # pods go, so no request is ever routed to a version with none.
        self.backend.patch(plan.ref, [{"op": "remove",
                                       "path": f"/spec/http/{slots.route_index}/route/{slots.stable_index}"}])
        ui.info(f"[green]promoted:[/] {plan.canary} is the stable version now and serves 100%; "
                f"{plan.stable}'s destination is removed from the route")
        self.backend.patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 0}])
        ui.info(f"scaled {deployment} to 0 replicas: the old version runs no pods")


def roll_out(backend: Backend, plan: Plan, traffic: bool = False, host: str = "", path: str = "/") -> None:
    """The rollout `invoke rollout` runs (and the auto-rollout exercise's walkthrough): the plan
    said in one line, then stepped, with the lab's light steady load if `traffic`."""
    from contextlib import nullcontext

    check_plan(plan)
    if traffic and not host:
        held = backend.get(plan.ref) or {}
        host = next(iter((held.get("spec") or {}).get("hosts") or []), "")
        if not host:
            raise LabError(f"{plan.ref} names no host to send traffic to", "give one with --host")
    load = SteadyTraffic(backend.gateway_endpoint("http", host)[0], host, path) if traffic else nullcontext()
    ui.info(f"rollout of {plan.canary} over {plan.stable} in {plan.ref}: steps "
            f"{', '.join(f'{s}%' for s in plan.steps)}, {plan.interval:g} s each, gates: errors ≤ "
            f"{plan.max_error_rate:g}%, p95 ≤ {plan.max_p95_ms:g} ms, at least {plan.min_requests} canary "
            f"requests per window" + (f"; sending {host}{path} traffic" if traffic else ""))
    # A window judges a sample: say how often that sample misleads, as the checks state their α and β.
    ui.info(f"[dim]{gate_in_words(plan.min_requests, plan.max_error_rate, len(plan.steps))}[/]")
    with load:
        Stepper(backend, plan).run()
