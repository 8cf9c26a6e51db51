"""WebSocket echo through the gateway.

A WebSocket is routed once, when the HTTP request is upgraded; every message
after that rides the same connection to the same instance. So the check opens
several connections (each a fresh routing decision) and sends several
messages on each.
"""

import asyncio
from dataclasses import dataclass, field

import aiohttp


@dataclass
class EchoResult:
    connections: int
    echoed: int                      # connections that echoed every message
    instances: dict[str, int] = field(default_factory=dict)   # x-instance of the upgrade answer → connections
    failures: list[str] = field(default_factory=list)         # one line per failed connection

    @property
    def passed(self) -> bool:
        return self.connections > 0 and self.echoed == self.connections


async def _one(session: aiohttp.ClientSession, url: str, host: str, messages: int, index: int,
               result: EchoResult, timeout: float) -> None:
    try:
        async with session.ws_connect(url, headers={"Host": host}, timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
                                      autoping=True) as ws:
            instance = ws._response.headers.get("x-instance", "?")  # the upgrade answer's headers
            for n in range(messages):
                sent = f"canary-lab {index}.{n}"
                await ws.send_str(sent)
                reply = await asyncio.wait_for(ws.receive(), timeout)
                if reply.type != aiohttp.WSMsgType.TEXT or reply.data != sent:
                    result.failures.append(f"connection {index}: sent {sent!r}, got {reply.data!r}")
                    return
            result.echoed += 1
            result.instances[instance] = result.instances.get(instance, 0) + 1
    except aiohttp.WSServerHandshakeError as e:
        result.failures.append(f"connection {index}: the upgrade was refused (HTTP {e.status})")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        result.failures.append(f"connection {index}: {type(e).__name__} {e}".strip())


async def _echo(gateway_url: str, host: str, path: str, connections: int, messages: int,
                timeout: float) -> EchoResult:
    result = EchoResult(connections=connections, echoed=0)
    url = gateway_url.replace("http", "ws", 1).rstrip("/") + path
    async with aiohttp.ClientSession(trust_env=False) as session:   # the gateway's loopback port: no proxy
        await asyncio.gather(*(_one(session, url, host, messages, i, result, timeout) for i in range(connections)))
    return result


def echo_check(gateway_url: str, host: str, path: str = "/websocket", connections: int = 10,
               messages: int = 3, timeout: float = 5.0) -> EchoResult:
    return asyncio.run(_echo(gateway_url, host, path, connections, messages, timeout))
