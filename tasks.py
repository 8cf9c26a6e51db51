"""canary-lab tasks: `invoke --list` shows them, `invoke --help TASK` explains each.

Each task reads its flags and calls lab.commands; errors become exit codes in lab.edge.
"""

import subprocess
import sys

from invoke import Exit, task

from lab import commands
from lab.edge import Failed, guarded


def _run(function, *args, **kwargs):
    try:
        guarded(function)(*args, **kwargs)
    except Failed as e:
        raise Exit(code=e.code) from None


def _help_asked(task_name: str, positional) -> bool:
    """Invoke gives a task's positional argument the next word, even `--help`: show the help then."""
    if positional not in ("-h", "--help"):
        return False
    subprocess.run([sys.executable, "-m", "invoke", "--help", task_name], check=False)
    return True


@task(help={"provider": "auto (default), local, k3d or minikube",
            "port": "gateway port on 127.0.0.1 (default 8080, or $CANARY_LAB_PORT)",
            "addons": "cluster only: comma-separated, from prometheus, kiali"})
def up(c, provider="auto", port=0, addons=""):
    """Start the lab (or repair it): gateway, sample apps. A second `up` changes nothing."""
    _run(commands.up, provider, port or None, addons)


@task
def down(c):
    """Stop everything the lab started and remove its runtime files (progress is kept)."""
    _run(commands.down)


@task
def status(c):
    """Show the provider, each process, the gateway's live routes and your progress."""
    _run(commands.status)


@task(positional=["file"], help={"file": "a YAML file of Kubernetes/Istio objects, or - for stdin"})
def apply(c, file):
    """Apply objects to the lab, like `kubectl apply -f FILE`; returns once the gateway serves them."""
    if not _help_asked("apply", file):
        _run(commands.apply, file)


@task(help={"kind": "e.g. VirtualService", "name": "object name", "namespace": "default: canary-lab"})
def get(c, kind, name, namespace="canary-lab"):
    """Show one object as the lab holds it."""
    _run(commands.get, kind, name, namespace)


@task(iterable=["header"],
      help={"requests": "how many requests (default 100)", "host": "Host header (default canary.lab.local)",
            "path": "request path (default /)", "header": "extra header NAME:VALUE (repeatable)",
            "https": "through the gateway's HTTPS port, trusting only the lab CA"})
def traffic(c, requests=100, host=commands.SAMPLE_HOST, path="/", header=None, https=False):
    """Send traffic through the gateway and chart which app answered."""
    _run(commands.traffic, requests, host, path, header, https)


# NAME is positional (`invoke exercise canary`). Invoke cannot make a positional argument
# optional, so `--list` arrives as NAME (and is honoured), and the menu is `invoke exercises --choose`.
@task(name="exercise", positional=["name"],
      help={"name": "the exercise to play (`invoke exercise --list` lists them)",
            "yes": "never ask: apply every solution, run every check, exit 1 if one fails",
            "reset": "forget progress (of --step, or the whole exercise) and reset working copies",
            "step": "start at (or with --reset, reset) this step"})
def exercise_(c, name=None, yes=False, reset=False, step=""):
    """Play an exercise: read each step, do it, and let the lab check it from live traffic."""
    if name in ("-l", "--list"):
        _run(commands.exercise, "", True, False, False, "")
    elif not _help_asked("exercise", name):
        _run(commands.exercise, name, False, yes, reset, step)


@task(help={"choose": "pick one from a menu and play it"})
def exercises(c, choose=False):
    """List the exercises with their backends and your progress (--choose to pick one)."""
    _run(commands.exercise, "", not choose, False, False, "")


@task(help={"provider": "k3d (default) or minikube", "port": "gateway port to check (default 8080)"})
def doctor(c, provider="k3d", port=0):
    """Check what a cluster lab needs: Docker and its resources, free ports, tools; each with a fix."""
    _run(commands.doctor, provider, port or None)


@task(positional=["name"], help={"name": "kiali or prometheus"})
def dashboard(c, name=None):
    """Open an addon's dashboard on a cluster lab (Ctrl-C closes it)."""
    if not _help_asked("dashboard", name):
        _run(commands.dashboard, name)


@task(positional=["kind", "name"],
      help={"kind": "e.g. VirtualService", "name": "object name", "namespace": "default: canary-lab",
            "patch_file": "a JSON patch (YAML or JSON list of operations)", "patch": "the JSON patch inline"})
def patch(c, kind, name, namespace="canary-lab", patch_file="", patch=""):
    """Apply a JSON patch to one object, like `kubectl patch --type json`."""
    _run(commands.patch, kind, name, namespace, patch_file, patch)


@task(positional=["chart"], iterable=["values", "set"],
      help={"chart": "the chart's folder", "release": "release name (default traffic-manager)",
            "namespace": "release namespace (default traffic)", "values": "a values file (repeatable)",
            "set": "KEY=VALUE (repeatable), like helm --set"})
def helm(c, chart, release="traffic-manager", namespace="traffic", values=None, set=None):
    """Render a Helm chart with helm and apply it to the lab, like `helm upgrade --install`."""
    if not _help_asked("helm", chart):
        _run(commands.helm, chart, release, namespace, values, set)


@task(positional=["kind", "name"], auto_shortflags=False,
      help={"kind": "VirtualService", "name": "its name", "namespace": "default: canary-lab",
            "route": "the http route to step: its name or index (default: the only one)",
            "stable": "the destination serving now: its host, subset or host/subset",
            "canary": "the new version's destination (added at 0% if the route lacks it)",
            "steps": "canary weights in percent, rising, ending at 100 (default 10,25,50,100)",
            "interval": "seconds of traffic judged at each step (default 10)",
            "max_error_rate": "roll back when the canary's 5xx share is above this percent (default 1)",
            "max_p95_ms": "roll back when the canary's p95 latency is above this (default 500)",
            "min_requests": "fewer canary requests in a window cannot judge: wait longer (default 20)",
            "traffic": "send a light steady load (50 requests/s) while stepping",
            "host": "Host header of --traffic (default: the VirtualService's first host)",
            "path": "request path of --traffic (default /)",
            "scale_down": "once promoted, scale this Deployment (the old version) to 0 replicas"})
def rollout(c, kind, name, namespace="canary-lab", route="", stable="", canary="", steps="10,25,50,100",
            interval="10", max_error_rate="1", max_p95_ms="500", min_requests=20, traffic=False, host="",
            path="/", scale_down=""):
    """Step a canary up on a schedule, gating each step on the gateway's metrics; roll back on a breach."""
    _run(commands.rollout, kind, name, namespace, route, stable, canary, steps, interval, max_error_rate,
         max_p95_ms, int(min_requests), traffic, host, path, scale_down)
