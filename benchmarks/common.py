"""Helpers shared by the benchmarks: a fast loopback feed server in its own process, timing."""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    stage: str
    figure: str
    reference: str
    ratio: float  # figure / reference (times as fast), or the stated comparison
    target: str
    ok: bool


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int, bodies: dict[str, bytes], ready: Any, hosts: int,
           slow: dict[int, float]) -> None:
    import asyncio
    import hashlib

    from aiohttp import web

    etags = {p: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for p, b in bodies.items()}
    delays = {f"127.0.0.{k + 1}": seconds for k, seconds in slow.items()}

    async def handler(request: web.Request) -> web.Response:
        if (delay := delays.get(request.host.split(":")[0])) is not None:
            await asyncio.sleep(delay)
        path = request.path
        body = bodies.get(path)
        if body is None:
            return web.Response(status=404)
        if request.headers.get("If-None-Match") == etags[path]:
            return web.Response(status=304, headers={"ETag": etags[path]})
        return web.Response(body=body, headers={"ETag": etags[path],
                                                "Content-Type": "application/rss+xml"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for k in range(hosts):  # 127.0.0.0/8 is all loopback: one server, several hosts
            await web.TCPSite(runner, f"127.0.0.{k + 1}", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


class FeedServerProcess:
    """An aiohttp server in another process serving ``bodies`` by path, with ETags, at
    ``hosts`` loopback addresses (127.0.0.1, 127.0.0.2, ...); the host numbered k answers
    ``slow[k]`` seconds late."""

    def __init__(self, bodies: dict[str, bytes], hosts: int = 1,
                 slow: dict[int, float] | None = None) -> None:
        self.port = _free_port()
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        self.proc = ctx.Process(target=_serve, daemon=True,
                                args=(self.port, bodies, ready, hosts, slow or {}))
        self.proc.start()
        if not ready.wait(30):
            raise RuntimeError("benchmark server did not start")

    def url(self, path: str, host: int = 0) -> str:
        return f"http://127.0.0.{host + 1}:{self.port}{path}"

    def close(self) -> None:
        self.proc.kill()
        self.proc.join()
