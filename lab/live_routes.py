"""The routes a gateway serves now, as a learner would write them: what every backend's
`live_routes` returns and what Envoy's admin reads from its config_dump (lab/envoy_admin.py)."""

from dataclasses import dataclass, field


@dataclass
class RouteDestination:
    service: str      # e.g. "httpbin.canary-lab"
    subset: str       # "" when the route names no subset
    weight: float     # its percent of the route's requests

    def __str__(self) -> str:
        return f"{self.service}{' (' + self.subset + ')' if self.subset else ''}: {self.weight:g}"


@dataclass
class LiveRoute:
    """A route the gateway serves now, as a learner would write it."""
    host: str
    match: str                      # e.g. "prefix /", "header x-track=canary"
    destinations: list[RouteDestination] = field(default_factory=list)
    scheme: str = "http"            # the listener: http, or https
    domains: tuple[str, ...] = ()   # the virtual host's domains, as Envoy picks a host by them
    conditions: dict = field(default_factory=dict)   # Envoy's route match, to pick the route a request takes
    name: str = ""                  # the route's name (the VirtualService's http[].name), if any
    status: int = 0                 # a direct response (no destinations): its HTTP status
    origin: str = ""                # the object it comes from, when the gateway says (Istio's route metadata)
    # What it does besides picking a destination, where not Istio's default: "timeout 0.5s", "retries 3",
    # "no retries", "mirror shop.ns (v2) 100%", "hash cookie session" (a DestinationRule's
    # consistentHash reaches the route too)
    policies: tuple[str, ...] = ()
