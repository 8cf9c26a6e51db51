"""The exercise plays a backend runs in CI, one a line: NAME, or NAME --api gateway.

From the catalogue, so a new exercise joins the workflow without an edit there: every name under
`exercises:` that runs on the backend, then every name under `gateway_api:` (the Gateway API
track; a list or a mapping of names; absent is fine), in the backend filter of its
`<name>-gateway-api` variant when there is one. Usage: python .ci/plays.py BACKEND
"""

import sys

import yaml

from lab.config import runs_on
from lab.exercises.catalogue import CATALOGUE_FILE, EXERCISES_DIR, exercise_names, load_exercise


def plays(backend: str) -> list[str]:
    found = [name for name in exercise_names() if runs_on(backend, load_exercise(name).backends)]
    raw = yaml.safe_load((EXERCISES_DIR / CATALOGUE_FILE).read_text()) or {}
    for name in raw.get("gateway_api") or []:
        variant = f"{name}-gateway-api"
        judged = variant if (EXERCISES_DIR / variant / "exercise.yaml").is_file() else name
        if runs_on(backend, load_exercise(judged).backends):
            found.append(f"{name} --api gateway")
    return found


if __name__ == "__main__":
    print("\n".join(plays(sys.argv[1])))
