"""A protocol-faithful Artificial Brains server for tests: real Socket.IO and REST on loopback.

python-socketio's AsyncServer on aiohttp, in its own thread and event loop,
on an ephemeral 127.0.0.1 port. It speaks the protocol of
docs/protocols.md (the realtime protocol): REST start/stop/io-state/contract under
`/api/robot/{project}`, namespace `/ab`, `run:join`, `io:need`, `io:chunk`,
`cycle:update`, `learn:reward`, `robot:state`. It records everything clients
send, and tests drive it (`emit_need`, `emit_cycle`, `emit_raw`). `stop()`
kills it (sockets closed, as a crashed server); `start()` brings it back on
the same port.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import socketio
from aiohttp import web
from support import free_port

from node_kit.loop_thread import LoopThread

NAMESPACE = "/ab"


def demo_contract(run_id: str = "run-1", gamma: int = 8, neurons: int = 16) -> dict[str, Any]:
    return {
        "runId": run_id,
        "constants": {"gamma": gamma, "outputWindowN": neurons, "feedbackN": 4,
                      "feedbackT": gamma, "dtMs": 1},
        "io": {
            "inputs": [{"id": "camera", "kind": "Image"}, {"id": "joints", "kind": "JointState"},
                       {"id": "target", "kind": "Scalar"}],
            "outputs": [{"id": "joint0", "n": neurons}, {"id": "joint1", "n": neurons}],
            "feedback": [{"id": "arm_error", "n": 4, "fromOutput": "joint0"}],
            "stdp3": {"layers": ["hidden_to_joint0", "hidden_to_joint1"]},
        },
        "realtime": {"namespace": NAMESPACE},
    }


class ProtocolServer:
    def __init__(self, api_key: str | None = None, contract: dict[str, Any] | None = None,
                 port: int = 0, ping_interval_s: float = 25.0) -> None:
        self.api_key = api_key
        self.ping_interval_s = ping_interval_s
        self.contract = contract or demo_contract()
        self.port = port or free_port()
        self.received: list[tuple[str, Any]] = []
        self.rest_calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.connects: list[dict[str, Any]] = []
        self.joined: list[str] = []
        self.on_received: Callable[[str, Any], None] | None = None
        self._lock = threading.Lock()
        self._host = LoopThread("protocol-server")
        self._runner: web.AppRunner | None = None
        self.sio: socketio.AsyncServer | None = None
        self._transports: list[asyncio.BaseTransport] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self._host.loop if self._host.running else None

    def start(self) -> ProtocolServer:
        self._host.start(self._serve, timeout_s=10)
        return self

    async def _serve(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*",
                                        max_http_buffer_size=64 * 1024 * 1024,
                                        ping_interval=self.ping_interval_s,
                                        ping_timeout=min(20.0, self.ping_interval_s))
        app = web.Application()
        self.sio.attach(app)
        app.router.add_post("/api/robot/{project}/start", self._start)
        app.router.add_post("/api/robot/{project}/stop", self._stop)
        app.router.add_get("/api/robot/{project}/io/state", self._state)
        app.router.add_get("/api/robot/{project}/contract", self._contract)
        self.sio.on("connect", self._connect, namespace=NAMESPACE)
        for event in ("run:join", "io:chunk", "learn:reward", "robot:state"):
            self.sio.on(event, self._recorder(event), namespace=NAMESPACE)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()

    def stop(self) -> None:
        """Kill the server as a crash would: sockets closed, no goodbye."""
        if self._loop is None:
            return

        async def shutdown() -> None:
            # Drop every connection mid-stream, as a dying process would.
            for transport in self._transports:
                transport.abort()
            self._transports.clear()
            if self._runner is not None:
                await self._runner.cleanup()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        try:
            self._host.stop(shutdown, timeout_s=10)
        except Exception:
            pass

    def kick(self) -> None:
        """Close every client's namespace (a server-side disconnect), server stays up."""
        async def disconnect_all() -> None:
            for sid, _ in list(self.sio.manager.get_participants(NAMESPACE, None)):
                await self.sio.disconnect(sid, namespace=NAMESPACE)

        self._host.call(disconnect_all(), 10)

    # -- REST ------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        if not self.api_key:
            return True
        return request.headers.get("x-api-key") == self.api_key and \
            request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _record_rest(self, request: web.Request) -> Any:
        body = await request.json() if request.can_read_body else None
        with self._lock:
            self.rest_calls.append((request.method, request.path, dict(request.headers), body))
        return body

    async def _start(self, request: web.Request) -> web.Response:
        await self._record_rest(request)
        if not self._authorised(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        return web.json_response(self.contract)

    async def _stop(self, request: web.Request) -> web.Response:
        body = await self._record_rest(request)
        return web.json_response({"ok": True, "runId": (body or {}).get("runId")})

    async def _state(self, request: web.Request) -> web.Response:
        await self._record_rest(request)
        return web.json_response({"cycle": 0, "needs": []})

    async def _contract(self, request: web.Request) -> web.Response:
        await self._record_rest(request)
        body = {k: v for k, v in self.contract.items() if k != "runId"}
        return web.json_response({"ok": True, **body})

    # -- Socket.IO -------------------------------------------------------------------------
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        request = environ.get("aiohttp.request")
        headers = dict(request.headers) if request is not None else {}
        if request is not None and request.transport is not None:
            self._transports.append(request.transport)
        with self._lock:
            self.connects.append({"sid": sid, "auth": auth, "headers": headers})
        if self.api_key:
            if not isinstance(auth, dict) or auth.get("token") != self.api_key \
                    or headers.get("x-api-key") != self.api_key:
                return False
        return True

    def _recorder(self, event: str) -> Callable[..., Any]:
        async def record(sid: str, payload: Any = None) -> None:
            # Into the room before the join is seen: a test that waits for `joined` and then
            # emits to the room must reach this client.
            if event == "run:join" and isinstance(payload, dict):
                await self.sio.enter_room(sid, str(payload.get("runId")), namespace=NAMESPACE)
            with self._lock:
                self.received.append((event, payload))
                if event == "run:join":
                    self.joined.append(payload.get("runId") if isinstance(payload, dict) else "")
            if self.on_received is not None:
                self.on_received(event, payload)
        return record

    # -- driving -----------------------------------------------------------------------------
    def emit_raw(self, event: str, payload: Any) -> None:
        """Emit to every client in the run's room."""
        if self._loop is None or self.sio is None:
            raise RuntimeError("server not running")
        room = self.contract.get("runId")
        self._host.call(self.sio.emit(event, payload, room=room, namespace=NAMESPACE), 10)

    def emit_burst(self, event: str, payloads: list[Any]) -> None:
        """Emit several events back to back from one coroutine (as fast as the server can)."""
        if self._loop is None or self.sio is None:
            raise RuntimeError("server not running")
        room = self.contract.get("runId")

        async def burst() -> None:
            for payload in payloads:
                await self.sio.emit(event, payload, room=room, namespace=NAMESPACE)

        self._host.call(burst(), 30)

    def emit_need(self, cycle: int, needs: list[dict[str, str]]) -> None:
        self.emit_raw("io:need", {"runId": self.contract["runId"], "cycle": cycle,
                                  "needs": needs, "deadlineMs": 50})

    def emit_cycle(self, cycle: int, rasters: dict[str, np.ndarray], triples: bool = False
                   ) -> None:
        rows: list[Any] = []
        steps = next(iter(rasters.values())).shape[0] if rasters else 0
        for t in range(steps):
            for pid, raster in rasters.items():
                bits = raster[t].astype(int).tolist()
                rows.append([t, pid, bits] if triples else {"t": t, "id": pid, "bits": bits})
        self.emit_raw("cycle:update", {"runId": self.contract["runId"], "cycle": cycle,
                                       "outputs": rows})

    def received_of(self, event: str) -> list[Any]:
        with self._lock:
            return [payload for name, payload in self.received if name == event]

    def connected_clients(self) -> int:
        if self.sio is None or self._loop is None:
            return 0
        return len(list(self.sio.manager.get_participants(NAMESPACE, None)))
