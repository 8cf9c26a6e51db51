"""Loopback ports: whether one is taken, and picking free ones.

Light on purpose: the supervisor imports it too.
"""

import contextlib
import socket


def port_in_use(port: int) -> bool:
    """Something listens on 127.0.0.1:`port`, so a server of ours could not."""
    with socket.socket() as s:
        # SO_REUSEADDR, as servers bind: a port only in TIME_WAIT (a gateway just stopped) is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            return True
    return False


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, taken: frozenset[int] = frozenset()) -> list[int]:
    """`count` different free loopback ports, none of them in `taken`.

    Every socket stays bound until all are picked: asked one at a time, the kernel hands
    out a port it just gave about once in 12,000 pairs, and two pods on one port means
    one of them serves the other's traffic."""
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in taken:
                ports.append(port)
        return ports
