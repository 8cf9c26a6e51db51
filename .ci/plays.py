"""The exercise plays a backend runs in CI, one a line: NAME, or NAME --api gateway.

From the catalogue, so a new exercise joins the workflow without an edit there: every exercise
(learning order) that runs on the backend, then the Gateway API track of each that has one and
whose variant runs there. Usage: python .ci/plays.py BACKEND
"""

import sys

from lab.exercises.catalogue import GATEWAY_API_SUFFIX, base_exercise_names, gateway_api_names, load_exercise


def plays(backend: str) -> list[str]:
    found = [name for name in base_exercise_names() if load_exercise(name).runs_on(backend)]
    found += [f"{name} --api gateway" for name in gateway_api_names()
              if load_exercise(name + GATEWAY_API_SUFFIX).runs_on(backend)]
    return found


if __name__ == "__main__":
    print("\n".join(plays(sys.argv[1])))
