"""LoopThread: start waits until serving and raises the start-up error in the caller,
coroutines and functions run on the loop from other threads, stop is bounded and ends
the thread; a stopped host starts again."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from node_kit.loop_thread import LoopThread


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


def ask(port: int, line: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(line)
        return s.makefile("rb").readline()


def test_start_returns_once_serving_and_stop_ends_the_thread():
    host = LoopThread("echo")
    servers = []

    async def serve() -> int:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def close() -> None:
        servers[0].close()
        await servers[0].wait_closed()

    port = host.start(serve)
    assert host.running and ask(port, b"hello\n") == b"hello\n"  # serving when start returned
    thread = host._thread
    host.stop(close)
    assert not host.running and not thread.is_alive() and host.loop.is_closed()
    with pytest.raises(OSError):
        ask(port, b"again\n")
    host.stop()  # stopping twice is harmless


def test_a_failed_start_raises_its_error_in_the_caller_and_ends_the_thread():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        host = LoopThread("clash")
        with pytest.raises(OSError, match="address already in use|Address already in use"):
            host.start(lambda: asyncio.start_server(echo, "127.0.0.1", port))
    assert not host.running and host.loop.is_closed()
    assert not any(t.name == "clash" for t in threading.enumerate())


def test_a_start_that_hangs_is_cancelled_after_its_bound():
    cancelled = threading.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    host = LoopThread("hang")
    with pytest.raises(TimeoutError, match="hang did not start within 0.2 s"):
        host.start(hang, timeout_s=0.2)
    assert cancelled.is_set() and not host.running


def test_call_and_run_from_other_threads_return_results_and_raise_errors():
    host = LoopThread("calls")
    host.start()
    try:
        async def on_loop() -> bool:
            return host.in_loop_thread()

        async def fail() -> None:
            raise ValueError("bad value")

        assert host.call(on_loop()) is True
        assert host.run(lambda a, b: (a + b, host.in_loop_thread()), 2, 3) == (5, True)
        with pytest.raises(ValueError, match="bad value"):
            host.call(fail())
        with pytest.raises(KeyError):
            host.run({}.__getitem__, "missing")
        with pytest.raises(TimeoutError, match="no answer within 0.1 s"):
            host.call(asyncio.sleep(5), timeout_s=0.1)
        # On its own loop call() would wait for itself: refused instead.
        with pytest.raises(RuntimeError, match="from its own loop"):
            host.run(lambda: host.call(asyncio.sleep(0)))
    finally:
        host.stop()
    with pytest.raises(RuntimeError, match="calls is not running"):
        host.call(asyncio.sleep(0))


def test_stop_is_bounded_and_cancels_what_is_left_then_the_host_starts_again():
    host = LoopThread("again")
    left = []

    async def linger() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            left.append("cancelled")
            raise

    async def start_lingering() -> None:
        asyncio.get_running_loop().create_task(linger())

    async def slow_shutdown() -> None:
        await asyncio.sleep(60)

    host.start(start_lingering)
    first_loop = host.loop
    with pytest.raises(TimeoutError):
        host.stop(slow_shutdown, timeout_s=0.2)
    assert not host.running and left == ["cancelled"]  # the thread ended all the same
    assert host.start(lambda: asyncio.sleep(0, result="back")) == "back"
    assert host.loop is not first_loop
    host.stop()
