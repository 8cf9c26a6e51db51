"""A new exercise's folder (`invoke dev.new-exercise NAME`) that the catalogue self-test accepts at once.

It is the smallest whole exercise: a Gateway and a VirtualService for NAME.lab.local in front of the
sample apps, a task that shifts 20% to tornado with its solution and hints, and a recap; the name
joins catalogue.yaml's list. The author then rewrites the texts and manifests, step by step, with
`invoke dev.check` after each change.
"""

import re
from pathlib import Path

from lab.config import EXERCISES_DIR
from lab.errors import LabError
from lab.exercises.catalogue import CATALOGUE_FILE, GATEWAY_API_SUFFIX
from lab.validate import DNS1123_LABEL

# Host names and object names are made from it, and it is a folder: a DNS-1123 label is safe for all three.
NAME_RULE = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63"
LISTED = re.compile(r"^(exercises:\s*\[)([^\]]*)(\])", re.MULTILINE)

EXERCISE = """\
format: 1
title: "{name}, a first draft"
summary: a Gateway and a VirtualService; shift 20% to a second app and check it from live traffic
backends: [local, k3d, minikube]
request: {{host: {name}.lab.local, path: /}}
destinations:   # how to recognise each app's answers, and the Service that routes to it
  httpbin: {{title: httpbin.org, service: httpbin.canary-lab}}
  tornado: {{title: tornado WebSocket example, service: tornado.canary-lab}}
steps:
  - name: intro
    kind: explain
    text: steps/01-intro.md
  - name: deploy
    kind: apply
    text: steps/02-deploy.md
    manifests: [manifests/gateway.yaml, manifests/virtualservice.yaml]
  - name: shift-20
    kind: task
    text: steps/03-shift-20.md
    workfile: manifests/virtualservice.yaml
    hints:
      - "Give the route a second destination: tornado, port 8888."
      - "Weights 80 for httpbin and 20 for tornado; in this lab they add up to 100."
    solution: solutions/virtualservice-80-20.yaml
    check: {{traffic: {{expect: {{httpbin: 80, tornado: 20}}}}}}
  - name: recap
    kind: explain
    text: steps/04-recap.md
"""

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: {name}-gateway
  namespace: canary-lab
spec:
  selector:
    istio: ingressgateway
  servers:
    - port: {{number: 80, name: http, protocol: HTTP}}
      hosts: [{name}.lab.local]
"""

VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: canary-lab
spec:
  hosts: [{name}.lab.local]
  gateways: [{name}-gateway]
  http:
    - name: main
      route:
{routes}"""

ROUTE = """\
        - destination: {{host: {host}, port: {{number: {port}}}}}
          weight: {weight}
"""

STEPS = {
    "01-intro.md": "# {name}\n\nWhat the learner will do, and why it matters.\n",
    "02-deploy.md": "# Deploy\n\nA Gateway for {name}.lab.local and a VirtualService sending all of it to httpbin.\n",
    "03-shift-20.md": "# Your turn: send 20% to tornado\n\nEdit your working copy of the VirtualService, then "
                      "`invoke apply work/{name}/virtualservice.yaml` and choose **check**.\n",
    "04-recap.md": "# Recap\n\nWhat the learner saw.\n\nRead more:\n"
                   "- Istio traffic shifting: https://istio.io/latest/docs/tasks/traffic-management/traffic-shifting/\n",
}


def name_problem(name: str, root: Path = EXERCISES_DIR) -> str | None:
    """Why `name` cannot be a new exercise, or None."""
    if not DNS1123_LABEL.match(name) or len(name) > 63:
        return f"{name!r} is not a valid exercise name: {NAME_RULE}"
    if name.endswith(GATEWAY_API_SUFFIX):
        return f"{name!r} ends with {GATEWAY_API_SUFFIX}, which names a Gateway API variant of an exercise"
    if (root / name).exists():
        return f"exercises/{name} already exists"
    return None


def new_exercise(name: str, root: Path = EXERCISES_DIR) -> Path:
    """Write exercises/NAME/ and list NAME in catalogue.yaml; refuse a bad or taken name first."""
    problem = name_problem(name, root)
    if problem:
        raise LabError(problem, "choose another name, e.g. invoke dev.new-exercise header-canary")
    catalogue = root / CATALOGUE_FILE
    listed = catalogue.read_text(encoding="utf-8")
    found = LISTED.search(listed)
    if not found:
        raise LabError(f"{CATALOGUE_FILE} has no `exercises: [...]` list to add {name} to",
                       f"add {name} to its exercises yourself")
    folder = root / name
    files = {
        "exercise.yaml": EXERCISE.format(name=name),
        "manifests/gateway.yaml": GATEWAY.format(name=name),
        "manifests/virtualservice.yaml": VIRTUAL_SERVICE.format(
            name=name, routes=ROUTE.format(host="httpbin", port=8000, weight=100)),
        "solutions/virtualservice-80-20.yaml": VIRTUAL_SERVICE.format(
            name=name, routes=ROUTE.format(host="httpbin", port=8000, weight=80)
            + ROUTE.format(host="tornado", port=8888, weight=20)),
        **{f"steps/{file}": text.format(name=name) for file, text in STEPS.items()},
    }
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    entries = found.group(2).rstrip()
    updated = listed[:found.start(2)] + f"{entries}, {name}" + listed[found.end(2):]
    catalogue.write_text(updated, encoding="utf-8")
    return folder
