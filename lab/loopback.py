"""Requests the lab makes to its own loopback ports never go through a proxy.

With HTTP_PROXY/HTTPS_PROXY set (a company network, a laptop's VPN), Python's urllib sends every
request to the proxy, 127.0.0.1 included: the proxy cannot reach this machine's loopback, so
`up` waited for a gateway it could not see. Go clients (kubectl, helm) never proxy localhost or a
loopback address (golang.org/x/net http/httpproxy, config.useProxy); the lab does the same.
Requests to the internet (downloads of tools) keep the proxy settings.
"""

import ipaddress
import urllib.request
from http.client import HTTPResponse
from urllib.parse import urlsplit

# urllib's default opener, minus the proxies taken from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def urlopen(request: str | urllib.request.Request, timeout: float) -> HTTPResponse:
    """urllib.request.urlopen without proxies: for the lab's own ports on 127.0.0.1."""
    response: HTTPResponse = _DIRECT.open(request, timeout=timeout)
    return response


def is_local(url: str) -> bool:
    """Whether a URL names this machine: localhost or a loopback address (as Go decides), or the
    unspecified address (k3d's kubeconfig says https://0.0.0.0:PORT, which connects here)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
