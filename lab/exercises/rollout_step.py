"""A task step whose answer is a command, `invoke rollout …`, not a file: exercise.yaml's `rollout:`.

The walkthrough shows the command for the learner to run (in another terminal); "apply solution
for me" and `--yes` run it here, with the lab's steady load and the step's short interval. Its
check reads what the rollout left: the outcome on the VirtualService, the route and live traffic.
"""

import shlex

from pydantic import BaseModel, ConfigDict, Field

from lab import ui
from lab.backends.base import Backend
from lab.errors import LabError
from lab.manifests import Ref
from lab.rollout import Plan, parse_steps, roll_out

QUICK_INTERVAL = 3.0   # seconds per window when --yes plays the step on the local lab (its Envoy merges every 1 s)


class RolloutStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    virtualservice: str
    namespace: str = "default"
    route: str = ""
    stable: str
    canary: str
    steps: str = "10,25,50,100"
    interval: float = Field(10, gt=0)
    max_error_rate: float = 1
    max_p95_ms: float = 500
    min_requests: int = Field(20, gt=0)
    scale_down: str = ""

    def command(self) -> str:
        """What the learner types: every knob spelled out, so the step can talk about each."""
        flags = [("--namespace", self.namespace), ("--route", self.route), ("--stable", self.stable),
                 ("--canary", self.canary), ("--steps", self.steps), ("--interval", f"{self.interval:g}"),
                 ("--max-error-rate", f"{self.max_error_rate:g}"), ("--max-p95-ms", f"{self.max_p95_ms:g}"),
                 ("--min-requests", str(self.min_requests)), ("--scale-down", self.scale_down)]
        return " ".join(["invoke rollout VirtualService", shlex.quote(self.virtualservice),
                         *(f"{flag} {shlex.quote(value)}" for flag, value in flags if value), "--traffic"])

    def run(self, backend: Backend, quick: bool = False) -> None:
        """Run the rollout as the command would (`quick`: with short windows, on the local lab). A
        rollback is an outcome the step may want (a bad canary), not the walkthrough's failure: it
        is shown, and the step's check judges."""
        plan = Plan(ref=Ref("VirtualService", self.namespace, self.virtualservice), route=self.route,
                    stable=self.stable, canary=self.canary, steps=parse_steps(self.steps),
                    interval=min(self.interval, QUICK_INTERVAL) if quick and backend.name == "local" else self.interval,
                    max_error_rate=self.max_error_rate, max_p95_ms=self.max_p95_ms,
                    min_requests=self.min_requests, scale_down=self.scale_down)
        windows = f"   (--yes: {plan.interval:g} s windows)" if plan.interval != self.interval else ""
        ui.command(self.command() + windows)
        try:
            roll_out(backend, plan, traffic=True)
        except LabError as e:
            ui.info(f"[yellow]the rollout ended:[/] {e.message}")
