"""canary-lab tasks: `invoke --list` shows them, `invoke --help TASK` explains each.

Each task reads its flags and calls lab.commands; errors become exit codes in lab.edge.
"""

import sys
from functools import partial

import invoke
from invoke import Collection, Exit

from lab import commands
from lab.dev.tasks import dev
from lab.edge import Failed, catch_early_ctrl_c, guarded
from lab.optional_positionals import help_asked, optional
from lab.options import decimal, whole
from lab.short_flags import KubectlTask

# Every task takes kubectl's short flags: -n is --namespace (never anything else), -A, -f, -o.
task = partial(invoke.task, klass=KubectlTask)

catch_early_ctrl_c()   # from here on (Invoke reading the command line) a Ctrl-C says so and exits 130


def _run(function, *args, **kwargs):
    try:
        guarded(function)(*args, **kwargs)
    except Failed as e:
        raise Exit(code=e.code) from None


def gateway_port(text: str) -> int | None:
    """--port: 0 (the default) means the lab's own choice."""
    return whole("--port", text, 0, 65535, 8080) or None


@task(help={"provider": "auto (default), local, k3d, minikube, kind, or existing (your current kubeconfig context)",
            "port": "gateway port on 127.0.0.1 (default 8080, or $CANARY_LAB_PORT)",
            "addons": "cluster only: comma-separated, from prometheus, kiali",
            "install-istio": "--provider existing: install Istio there if it has none (down removes it)",
            "registry": "--provider existing: a registry the cluster pulls from (HOST[:PORT]/PATH, after "
                        "`docker login`); the lab pushes its app images there"})
def up(c, provider="auto", port="0", addons="", install_istio=False, registry=""):
    """Start the lab (or repair it): gateway, sample apps. A second `up` changes nothing."""
    _run(lambda: commands.up(provider, gateway_port(port), addons, install_istio, registry))


@task
def down(c):
    """Stop everything the lab started and remove its runtime files (progress is kept)."""
    _run(commands.down)


@task
def status(c):
    """Show the provider, each process, the gateway's live routes and your progress."""
    _run(commands.status)


@task(positional=["file"], help={"file": "a YAML file of Kubernetes/Istio objects, a folder (its .yaml, .yml and "
                                          ".json files in name order, as kubectl reads it), or - for stdin"})
def apply(c, file):
    """Apply objects to the lab, like `kubectl apply -f FILE|DIR`; returns once the gateway serves them."""
    if not help_asked("apply", file):
        _run(commands.apply, file)


optional("get", "name")


@task(positional=["kind", "name"],
      help={"kind": "vs, virtualservice, VirtualService, dr, gw, svc, deploy, po (pods), ns (any case, plurals too)",
            "name": "the object's name; leave it out to list them all",
            "namespace": "only this namespace (default: canary-lab for one object, all for a list)",
            "all_namespaces": "list every namespace (what a list without -n shows too), like kubectl get -A",
            "output": "yaml or json, written plain (default: YAML for one object, a table for a list)"})
def get(c, kind, namespace="", name=None, output="", all_namespaces=False):
    """Show one object as the lab holds it, or list a kind (`invoke get vs`, `invoke get pods`), like kubectl get."""
    if not (help_asked("get", kind) or help_asked("get", name)):
        _run(commands.get, kind, name, namespace, output, all_namespaces)


optional("delete", "kind", "name")


@task(positional=["kind", "name"],
      help={"kind": "as for get: vs, dr, gw, svc, deploy, ns …", "name": "the object's name",
            "namespace": "its namespace (default canary-lab)",
            "file": "delete the objects in this YAML file, or in a folder's files (as apply reads them)"})
def delete(c, kind=None, namespace="", name=None, file=""):
    """Delete objects like kubectl delete: `invoke delete vs NAME -n NS` or `invoke delete -f FILE|DIR`."""
    if not (help_asked("delete", kind) or help_asked("delete", name)):
        _run(commands.delete, kind, name, namespace, file)


@task(positional=["name"],
      help={"name": "gateway, a pod, or a Deployment (all its pods)", "follow": "keep showing new lines (Ctrl-C stops)",
            "namespace": "the pod's or Deployment's namespace (default: the only one that has it, else canary-lab)",
            "tail": "only the last N lines"})
def logs(c, name, namespace="", follow=False, tail="0"):
    """Show a pod's or the gateway's log, like kubectl logs [-n NS] [-f] [--tail N]."""
    if not help_asked("logs", name):
        _run(lambda: commands.logs(name, follow, whole("--tail", tail, 0, 1_000_000, 20), namespace))


@task(iterable=["header"],
      help={"requests": "how many requests (default 100)", "host": "Host header (default canary.lab.local)",
            "path": "request path (default /)", "header": "extra header NAME:VALUE (repeatable)",
            "https": "through the gateway's HTTPS port, trusting only the lab CA"})
def traffic(c, requests="100", host=commands.SAMPLE_HOST, path="/", header=None, https=False):
    """Send traffic through the gateway and chart which app answered."""
    _run(commands.traffic, requests, host, path, header, https)


@task(help={"interval": "seconds between refreshes (default 1)",
            "window": "seconds of traffic the shares and error rates are over (default 10)",
            "traffic": "send a light steady load (20 requests/s) to --host while watching",
            "host": "Host header of --traffic (default canary.lab.local)", "path": "request path of --traffic",
            "count": "stop after this many refreshes (default 0: until Ctrl-C)"})
def watch(c, interval="1", window="10", traffic=False, host=commands.SAMPLE_HOST, path="/", count="0"):
    """A live view: traffic share and errors per destination, live routes, pods; Ctrl-C stops."""
    _run(lambda: commands.watch(decimal("--interval", interval, 0.1, 60, "2"),
                                decimal("--window", window, 0.1, 3600, "30"), traffic, host, path,
                                whole("--count", count, 0, 1_000_000, 10)))


@task(help={"requests": "send this many requests through the gateway and measure them (default 0: count yours)",
            "window": "with no --requests, seconds to count whatever traffic arrives (default 10)",
            "host": "Host header of --requests (default canary.lab.local)", "path": "request path of --requests"})
def metrics(c, requests="0", window="10", host=commands.SAMPLE_HOST, path="/"):
    """Per destination: request rate, error rate, p50/p95/p99 latency, as the gateway counted them."""
    _run(commands.metrics, requests, window, host, path)


optional("exercise", "name")


# NAME is positional (`invoke exercise canary`) and may be left out (`invoke exercise` asks which).
# Invoke gives a positional argument the next word, flags included, so `--list` arrives as NAME
# (and is honoured).
@task(name="exercise", positional=["name"],
      help={"name": "the exercise to play (left out: pick one from a menu; `--list` lists them)",
            "yes": "never ask: apply every solution, run every check, exit 1 if one fails",
            "reset": "forget progress (of --step, or the whole exercise) and reset working copies",
            "step": "start at (or with --reset, reset) this step",
            "api": "istio (Gateway + VirtualService) or gateway (the Kubernetes Gateway API: Gateway + "
                   "HTTPRoute); default: the track you last played this exercise in, else istio"})
def exercise_(c, name=None, yes=False, reset=False, step="", api=""):
    """Play an exercise: read each step, do it, and let the lab check it from live traffic."""
    if name in ("-l", "--list"):
        _run(commands.exercise, "", True, False, False, "")
    elif not help_asked("exercise", name):
        _run(commands.exercise, name, False, yes, reset, step, api)


optional("check", "exercise", "step")


@task(positional=["exercise", "step"],
      help={"exercise": "the exercise (default: the one you last played or checked)",
            "step": "the step (default: the first one with a check you have not passed)"})
def check(c, exercise=None, step=None):
    """Check a step against the lab as it is now (never asks, never applies); exit 1 unless it passes.

    `invoke check`, `invoke check canary`, `invoke check canary shift-20`. A pass marks the step done.
    """
    if not help_asked("check", exercise) and not help_asked("check", step):
        _run(commands.check, exercise or "", step or "")


@task(help={"choose": "pick one from a menu and play it"})
def exercises(c, choose=False):
    """List the exercises with their backends and your progress (--choose to pick one)."""
    _run(commands.exercise, "", not choose, False, False, "")


@task(help={"provider": "local, k3d, minikube, kind or existing (default: the lab that is up, else the one `up` picks)",
            "port": "gateway port to check (default: the lab's, else 8080)"})
def doctor(c, provider="auto", port="0"):
    """Check what a lab needs (local: Envoy, ports, helm; cluster: Docker, ports, tools), each with a fix."""
    _run(lambda: commands.doctor(provider, gateway_port(port)))


optional("dashboard", "name")


@task(positional=["name"],
      help={"name": "leave it out for the lab's own live page; kiali or prometheus: a cluster addon's",
            "port": "the page's port on 127.0.0.1 (default: a free one)",
            "window": "seconds of traffic the shares, error rates and p95 are over (default 10)"})
def dashboard(c, name=None, port="0", window="10"):
    """A live view in your browser: routes, traffic per destination, pods, your exercise step (Ctrl-C stops it).

    `invoke dashboard` serves the lab's own page on 127.0.0.1 (local lab and clusters alike);
    `invoke dashboard kiali` opens that addon on a cluster lab.
    """
    if not help_asked("dashboard", name):
        _run(lambda: commands.dashboard(name or "", whole("--port", port, 0, 65535, 8090),
                                        decimal("--window", window, 1, 600, "10")))


optional("patch", "name")   # so that `invoke patch --help` reaches the task


# `namespace` comes before `name` so that Invoke gives it -n, as kubectl does.
@task(positional=["kind", "name"],
      help={"kind": "as for get: vs, dr, gw, svc, deploy, ns …", "name": "object name",
            "namespace": "default: canary-lab", "patch_file": "a JSON patch (YAML or JSON list of operations)",
            "patch": "the JSON patch inline"})
def patch(c, kind, namespace="canary-lab", name=None, patch_file="", patch=""):
    """Apply a JSON patch to one object, like `kubectl patch --type json`."""
    if not (help_asked("patch", kind) or help_asked("patch", name)):
        _run(commands.patch, kind, name, namespace, patch_file, patch)


@task(positional=["chart"], iterable=["values", "set"],
      help={"chart": "the chart's folder", "release": "release name (default traffic-manager)",
            "namespace": "release namespace (default traffic)",
            "values": "a values file (repeatable; later files win). Without --reuse-values the release "
                      "gets the chart's defaults plus these, nothing from the last upgrade; with no --values "
                      "and no --set at all it keeps the last upgrade's values, as helm does",
            "set": "KEY=VALUE (repeatable), applied after the values files, like helm --set",
            "reuse_values": "start from the last upgrade's values and merge --values/--set over them"})
def helm(c, chart, release="traffic-manager", namespace="traffic", values=None, set=None, reuse_values=False):
    """Install or upgrade a Helm release, like `helm upgrade --install`: objects the chart no longer
    renders are deleted. On a cluster this runs helm itself; the local lab renders with `helm template`
    and keeps the release's values and objects."""
    if not help_asked("helm", chart):
        _run(commands.helm, chart, release, namespace, values, set, reuse_values)


optional("rollout", "kind", "name")   # so that `invoke rollout --help` reaches the task


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
            interval="10", max_error_rate="1", max_p95_ms="500", min_requests="20", traffic=False, host="",
            path="/", scale_down=""):
    """Step a canary up on a schedule, gating each step on the gateway's metrics; roll back on a breach."""
    if help_asked("rollout", kind) or help_asked("rollout", name):
        return
    _run(lambda: commands.rollout(kind, name, namespace, route, stable, canary, steps, interval, max_error_rate,
                                  max_p95_ms, whole("--min-requests", min_requests, 1, 100_000, 20), traffic, host,
                                  path, scale_down))


# The tasks above at the top level, and the authors' and developers' own under dev. (`invoke dev.check`).
ns = Collection.from_module(sys.modules[__name__])
ns.add_collection(dev)
