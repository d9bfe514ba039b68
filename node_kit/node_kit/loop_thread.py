"""An asyncio event loop in a background thread, for code that serves from asyncio
(aiohttp, python-socketio, asyncio servers) inside a node or a test.

    host = LoopThread("brain-server")
    port = host.start(lambda: server.start("127.0.0.1", 0))   # waits until serving
    weights = host.call(server.save())                       # from any other thread
    host.stop(server.close)                                  # bounded, then the loop ends

- `start(startup)` runs the thread's loop and `startup()` on it, and returns its result
  once it has finished: the caller knows the service is serving. If `startup` raises,
  `start` raises the same error in the caller, after the loop and thread have ended
  (the caller's startup cleans up what it half-made); if it takes longer than the
  bound, the startup is cancelled and `start` raises TimeoutError.
- `call(coro)` runs a coroutine on the loop and returns its result (or raises its
  error) in the calling thread; `run(fn, *args)` does the same for a plain function
  (code that touches the loop's state without awaiting).
- `stop(shutdown)` awaits `shutdown()` on the loop (bounded), then stops the loop,
  cancels the tasks left on it, closes it and joins the thread. A stopped LoopThread
  can be started again (on a new loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How long the tasks left on the loop get to end once cancelled, when it stops.
CANCEL_GRACE_S = 2.0


class LoopThread:
    """One asyncio loop served by one daemon thread; see the module docstring."""

    def __init__(self, name: str = "asyncio-loop") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the loop is running (between a successful start and stop)."""
        return self._thread is not None and self._thread.is_alive()

    def in_loop_thread(self) -> bool:
        """Whether the caller is the loop's own thread."""
        return self._thread is threading.current_thread()

    def start(self, startup: Callable[[], Awaitable[T]] | None = None,
              timeout_s: float = 10.0) -> T | None:
        """Start the loop's thread, run `startup()` on it and return its result; raise its
        error (or TimeoutError after `timeout_s`) with the thread ended."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        self.loop = loop
        self._thread = threading.Thread(target=self._serve, args=(loop, started),
                                        name=self.name, daemon=True)
        self._thread.start()
        started.wait()
        if startup is None:
            return None

        async def run_startup() -> T:  # so that startup() itself is called on the loop
            return await startup()

        future = asyncio.run_coroutine_threadsafe(run_startup(), loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self._end(timeout_s)
            raise TimeoutError(f"{self.name} did not start within {timeout_s:g} s") from None
        except BaseException:
            self._end(timeout_s)
            raise

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run `coro` on the loop from another thread; its result or its error. After
        `timeout_s` it is cancelled and TimeoutError raised."""
        loop = self._loop_for_caller(coro)
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"{self.name}: no answer within {timeout_s:g} s") from None

    def run(self, fn: Callable[..., T], *args: Any, timeout_s: float = 10.0) -> T:
        """Call `fn(*args)` on the loop (directly when already on it); its result or error."""
        if self.in_loop_thread():
            return fn(*args)
        loop = self._loop_for_caller()
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run_there() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as error:  # handed to the caller
                future.set_exception(error)

        loop.call_soon_threadsafe(run_there)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{self.name}: no answer within {timeout_s:g} s") from None

    def stop(self, shutdown: Callable[[], Awaitable[Any]] | None = None,
             timeout_s: float = 10.0) -> None:
        """Await `shutdown()` on the loop (at most `timeout_s`), then end the loop and the
        thread. An error of `shutdown` is raised after the thread has ended. Does nothing
        when not running."""
        if not self.running:
            return
        if self.in_loop_thread():
            raise RuntimeError(f"{self.name}: stop() called from its own loop")
        try:
            if shutdown is not None:
                async def run_shutdown() -> Any:
                    return await shutdown()

                self.call(run_shutdown(), timeout_s)
        finally:
            self._end(timeout_s)

    # ------------------------------------------------------------------------------------
    def _loop_for_caller(self, coro: Coroutine | None = None) -> asyncio.AbstractEventLoop:
        if self.in_loop_thread():
            if coro is not None:
                coro.close()
            raise RuntimeError(f"{self.name}: call() from its own loop would wait forever "
                               f"(await the coroutine instead)")
        if not self.running or self.loop is None:
            if coro is not None:
                coro.close()
            raise RuntimeError(f"{self.name} is not running")
        return self.loop

    def _end(self, timeout_s: float) -> None:
        thread, loop = self._thread, self.loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:  # closed meanwhile
                pass
            thread.join(timeout_s)
        if thread.is_alive():
            log.warning("%s: the loop's thread did not end within %g s", self.name, timeout_s)
        else:
            self._thread = None

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        try:
            loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.wait(tasks, timeout=CANCEL_GRACE_S))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
