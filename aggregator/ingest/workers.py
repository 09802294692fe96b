"""A small pool of worker processes with a hard time limit per task; they die with the poll.

A task that overruns its limit has its process killed and replaced; the caller gets
ParseError("parse_timeout"). Workers also run under an address-space limit, so a memory bomb
fails inside the worker instead of taking the poller down.
"""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import os
import resource
from collections.abc import Callable
from typing import Any

from aggregator import lifeline
from aggregator.errors import AggregatorError, ParseError

# Address space per parse worker: a memory bomb fails inside the worker.
WORKER_MEMORY = 2 * 1024**3


def _serve(conn: multiprocessing.connection.Connection, parent: int) -> None:
    lifeline.die_with(parent)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except (ValueError, OSError):
        pass
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        fn, args = task
        try:
            conn.send(("ok", fn(*args)))
        except AggregatorError as e:
            conn.send(("err", getattr(e, "kind", "parse_error"), str(e)))
        except MemoryError:
            conn.send(("err", "too_large", "parsing needed more memory than allowed"))
        except Exception as e:  # a bug or a library failure on hostile input: data, not a crash
            conn.send(("err", "parse_error", f"{type(e).__name__}: {e}"[:300]))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, os.getpid()), daemon=True)
        self.proc.start()
        child.close()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        self.conn.send((fn, args))
        if not self.conn.poll(timeout):
            raise TimeoutError
        try:
            reply = self.conn.recv()
        except (EOFError, OSError) as e:
            raise ParseError("parse_error", "worker process died while parsing") from e
        if reply[0] == "ok":
            return reply[1]
        raise ParseError(reply[1], reply[2])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class WorkerPool:
    def __init__(self, size: int) -> None:
        self._ctx = lifeline.context()
        self._size = max(1, size)
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: list[_Worker] = []

    async def __aenter__(self) -> WorkerPool:
        self._idle = asyncio.Queue()
        self._start_lock = asyncio.Lock()
        return self

    async def _start(self) -> None:
        """Start the processes on first use: a poll where every feed answers 304 needs none."""
        async with self._start_lock:
            if self._all:
                return
            # Started from this (the main) thread: a worker dies with the thread that made it.
            workers = [_Worker(self._ctx) for _ in range(self._size)]
            assert self._idle is not None
            for w in workers:
                self._all.append(w)
                self._idle.put_nowait(w)

    async def __aexit__(self, *exc: object) -> None:
        for w in self._all:
            w.kill()
        self._all.clear()

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        assert self._idle is not None, "use `async with WorkerPool(...)`"
        if not self._all:
            await self._start()
        w = await self._idle.get()
        try:
            return await asyncio.to_thread(w.call, fn, args, timeout)
        except TimeoutError:
            w = await self._replace(w)
            raise ParseError("parse_timeout", f"parsing took longer than {timeout:g} s") from None
        except ParseError as e:
            if not w.proc.is_alive():
                w = await self._replace(w)
            raise e
        except (OSError, EOFError) as e:  # the worker died before it answered (a kill, a limit)
            w = await self._replace(w)
            raise ParseError("parse_error", "the parse worker died") from e
        finally:
            self._idle.put_nowait(w)

    async def _replace(self, w: _Worker) -> _Worker:
        w.kill()
        self._all.remove(w)
        fresh = _Worker(self._ctx)
        self._all.append(fresh)
        return fresh
