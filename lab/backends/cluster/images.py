"""The lab's own images, named under a registry host that exists only in the lab.

`canary-lab/httpbin` would mean `docker.io/canary-lab/httpbin`, and a node that misses the lab's
copy would pull whatever that Docker Hub namespace holds. `canary-lab.invalid` can never resolve
(RFC 6761 reserves .invalid), so a miss fails: k3d's and kind's nodes pull it from the registry the
lab makes (mirrored there, nothing behind it), minikube builds it inside the node, `existing` has it
in the local Docker or, with `--registry R`, pushed to R and renamed so in what the lab applies.
"""

from lab.config import APPS_DIR

LAB_HOST = "canary-lab.invalid"
LAB_IMAGES = {f"{LAB_HOST}/httpbin:1.0": APPS_DIR / "httpbin",
              f"{LAB_HOST}/tornado-websocket:1.0": APPS_DIR / "tornado",
              f"{LAB_HOST}/version-app:1.0": APPS_DIR / "version"}


def repository(image: str) -> str:
    """canary-lab.invalid/httpbin:1.0 → httpbin:1.0: its path in the lab's registry, where the
    nodes' mirror of LAB_HOST looks for it."""
    return image.removeprefix(f"{LAB_HOST}/")


def in_registry(image: str, registry: str) -> str:
    """Its name in a registry of the learner's (`up --registry R`): R/canary-lab/httpbin:1.0."""
    return f"{registry}/canary-lab/{repository(image)}"
