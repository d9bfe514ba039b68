"""The embedded brain server: the Artificial Brains REST + realtime protocol, served locally.

aiohttp serves REST under /api and python-socketio (AsyncServer, namespace /ab) on the
same port and event loop. Each run owns a Network; its loop emits `io:need`, waits for
the requested `io:chunk`s (or the deadline), runs gamma timesteps and
emits `cycle:update` with the output spikes as rows {"t", "id", "bits"}. A run paces its
cycles by the clock (`io:need` every gamma x dt) or, with the start option
`"pace": "inputs"`, by its client's answers (see PACES). `learn:reward`
applies reward-modulated STDP; feedback chunks drive feedback populations for the next
cycle; `robot:state` is kept (its `q` feeds JointState inputs that got no chunk).
Weights are saved per project to the state dir (on stop, periodically, at shutdown) and
loaded when a run starts.

Nothing a client sends stops a run: every REST route and Socket.IO event validates its
payload and answers a bad one with an error naming the problem (an HTTP error body, or
`io:error` to the sender); a run loop that fails anyway ends its run with `run:stopped`
and the reason. Runs hold a lease (LEASE_S) while a client is joined or names them; at
most MAX_RUNS run at once. Bound to loopback, the server answers only requests whose Host
and Origin are loopback names (DNS rebinding).

    python -m embedded_brain.server --host 127.0.0.1 --port 8765 --graph FILE --state-dir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import ctypes
import functools
import hmac
import json
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import socketio
from aiohttp import web
from socketio import packet as sio_packet

from embedded_brain.device import DeviceBrain
from embedded_brain.encoders import (
    EncodeError,
    encode_feedback,
    encode_input,
    poisson_spikes,
    population_code,
)
from embedded_brain.graph import (
    DEFAULT_MAX_RUN_MB,
    BrainGraph,
    Encoder,
    GraphError,
    load_graph,
)
from embedded_brain.snn import Network
from node_kit import hops
from node_kit.checks import (
    HostRefusal,
    did_you_mean,
    foreign_host_or_origin,
    foreign_request,
    is_loopback_host,
)
from node_kit.loop_thread import LoopThread
from node_kit.socketio_overrides import DirectReadAsyncServer, FastPacket

NAMESPACE = "/ab"
#: How a run paces its cycles (the start option "pace"):
#: - "clock": each io:need goes out on its real-time slot (one per gamma x dt) and the cycle
#:   runs when its answers are in. Clients answer at once with what they have, so their
#:   inputs are as old as the time since they arrived: with a camera on its own clock, up to
#:   a frame period.
#: - "inputs": the next cycle's io:need goes out as soon as a cycle's outputs are out (its
#:   cycle:update), and a cycle runs as soon as its own inputs are in: a client that answers
#:   when a fresh sensor frame arrives (ab_bridge's brain_session with `fresh_inputs`) paces
#:   the brain by its sensor, each cycle starting on a frame. Never faster than real time: a
#:   cycle starts at most one period ahead of its slot, so a client that answers at once
#:   gets clock pace (its inputs then are a cycle older than with "clock").
PACES = ("clock", "inputs")
#: The options POST /start takes (any other is refused, naming the close match).
START_OPTIONS = ("learning", "seed", "pace")
# How many cycles back a learn:reward may name (older ones are ignored).
REWARD_HISTORY_CYCLES = 32
#: A run nobody has joined, and no event has named, for this long (seconds) is stopped
#: (its client is gone: killed, or never connected). Joined clients hold it indefinitely.
LEASE_S = 60.0
#: At most this many runs at once (all projects); the next POST /start answers 429.
MAX_RUNS = 8
#: The Socket.IO events a client may send on NAMESPACE.
CLIENT_EVENTS = ("run:join", "io:chunk", "learn:reward", "robot:state")
#: Refusals of one kind are logged at most once per this many seconds (they are answered
#: every time).
REFUSAL_LOG_INTERVAL_S = 5.0
logger = logging.getLogger("embedded_brain.server")


def encoder_summary(enc: Encoder) -> dict[str, Any]:
    """What a client needs to know about an encoder (e.g. the range a scalar is coded in)."""
    if enc.type == "retina":
        return {"type": enc.type, "width": enc.width, "height": enc.height,
                "onOff": enc.on_off, "maxRateHz": enc.max_rate_hz}
    return {"type": enc.type, "count": enc.count, "perValue": enc.per_value, "min": enc.min,
            "max": enc.max, "maxRateHz": enc.max_rate_hz}


def contract_of(graph: BrainGraph) -> dict[str, Any]:
    """The run-independent part of the contract: constants and io."""
    pops = graph.populations
    return {
        "projectId": graph.project,
        "constants": {
            "gamma": graph.gamma,
            "outputWindowN": graph.output_window_n,
            "feedbackN": graph.feedback_n,
            "feedbackT": graph.feedback_t,
            "dtMs": graph.dt_ms,
        },
        "io": {
            "inputs": [{"id": i.id, "kind": i.kind, "n": pops[i.population].size,
                        "encoder": encoder_summary(i.encoder)} for i in graph.inputs],
            "outputs": [{"id": o.id, "n": pops[o.population].size} for o in graph.outputs],
            "feedback": [{"id": f.id, "n": f.n, "fromOutput": f.from_output,
                          "outputKind": "bipolarSplit" if f.from_output else None}
                         for f in graph.feedback],
            "stdp3": {"layers": graph.learning_layers},
        },
    }


class OutputRows(str):
    """A cycle:update's `outputs`, rows {"t", "id", "bits"}, rendered as JSON at once from
    the rasters (`json` holds the text; the str itself is a placeholder that
    `_PacketJSON.dumps` replaces): the JSON encoder would visit 1,280 ints one by one."""

    json: str

    @classmethod
    def of(cls, outputs: dict[str, np.ndarray]) -> OutputRows:
        rows = []
        for oid, raster in outputs.items():
            middle = ',"id":' + json.dumps(oid) + ',"bits":['
            steps, n = raster.shape
            width = max(2 * n - 1, 0)
            text = np.full((steps, width), ord(","), dtype=np.uint8)
            text[:, ::2] = (raster != 0) + ord("0")
            bits = text.tobytes().decode("ascii")
            rows += ['{"t":' + str(t) + middle + bits[t * width:(t + 1) * width] + "]}"
                     for t in range(steps)]
        rendered = cls(_ROWS_PLACEHOLDER)
        rendered.json = "[" + ",".join(rows) + "]"
        return rendered


_ROWS_PLACEHOLDER = "\x00outputs\x00"
_ROWS_QUOTED = json.dumps(_ROWS_PLACEHOLDER)


class _PacketJSON:
    """json for the server's packets: the standard module, except that OutputRows go in
    as their rendered text."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        text = json.dumps(obj, **kwargs)
        if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[1], dict) \
                and isinstance(obj[1].get("outputs"), OutputRows):
            text = text.replace(_ROWS_QUOTED, obj[1]["outputs"].json, 1)
        return text


@dataclass
class Run:
    """One running brain session."""
    run_id: str
    graph: BrainGraph
    network: Network
    rng: np.random.Generator
    needs: list[dict[str, str]]
    cycle: int = 0
    started_s: float = field(default_factory=time.monotonic)
    rates: dict[str, np.ndarray] = field(default_factory=dict)        # held input rates
    feedback_rates: dict[str, np.ndarray] = field(default_factory=dict)  # next cycle only
    received: set[str] = field(default_factory=set)    # ids that answered this cycle's need
    received_next: set[str] = field(default_factory=set)  # ... the next one's (pace inputs)
    answered: set[str] = field(default_factory=set)    # ids arrived since the last cycle, late too
    expected: set[str] = field(default_factory=set)    # ids the client sent last cycle
    robot_state: dict[str, Any] = field(default_factory=dict)
    robot_q: np.ndarray | None = None   # robot_state's q, validated (feeds JointState inputs)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False
    rewards: int = 0
    rewards_ignored: int = 0   # named a cycle not run yet or older than the history
    chunk_errors: int = 0
    last_cycle_ms: float = 0.0
    pace: str = "clock"
    task: asyncio.Task | None = None
    renewed_s: float = field(default_factory=time.monotonic)   # lease: last sign of a client
    stop_reason: str = ""
    ended: bool = False


class ProtocolError(ValueError):
    """A client payload the server refuses; the message names the field and the problem."""


# The event name a packet whose payload cannot be decoded is handed on as (see ServerPacket).
MALFORMED_PACKET = "\x00malformed packet"


class ServerPacket(FastPacket):
    """FastPacket with _PacketJSON's encoder (cycle rows rendered straight from the
    rasters), and an event whose JSON the decoder refuses (e.g. a number of more than
    100 digits, which engineio's JSON decoder rejects) becomes the event MALFORMED_PACKET,
    answered with io:error like any other bad payload, instead of an exception in
    engineio's message handler and no answer."""

    json = _PacketJSON
    #: (node_kit.socketio_overrides) decode is FastPacket's for text it decodes
    stock_decode_when_valid = True

    def decode(self, encoded_packet: Any) -> int:
        try:
            return super().decode(encoded_packet)
        except ValueError as exc:
            if self.packet_type not in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
                raise
            self.packet_type = sio_packet.EVENT
            self.data = [MALFORMED_PACKET, str(exc)]
            return 0


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Wait until `event` is set, at most `timeout_s`; on this task (asyncio.wait_for would
    start another one and take more turns of the loop to come back)."""
    if event.is_set():
        return
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        pass


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim     # glibc; absent elsewhere
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """Hand memory freed by stopped runs back to the system (glibc otherwise keeps most
    of it in its arenas); a no-op without glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class BrainServer:
    """REST + Socket.IO brain server for one or more graphs (one graph per project)."""

    def __init__(self, graphs: list[BrainGraph], state_dir: str | Path, *,
                 api_key: str | None = None, seed: int | None = None, learning: bool = True,
                 deadline_ms: float = 50.0, realtime: bool = True,
                 save_interval_s: float = 30.0, lease_s: float = LEASE_S,
                 max_runs: int = MAX_RUNS, allowed_hosts: tuple[str, ...] = (),
                 device_api_key: str | None = None,
                 device_brain: str | Path | None = None) -> None:
        if not graphs:
            raise ValueError("the brain server needs at least one graph")
        self.graphs = {g.project: g for g in graphs}
        if len(self.graphs) != len(graphs):
            raise ValueError("two graphs have the same project id")
        self.state_dir = Path(state_dir).expanduser()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key or None
        self.seed = seed
        self.learning = learning
        self.deadline_ms = float(deadline_ms)
        self.realtime = realtime
        self.save_interval_s = save_interval_s
        if not lease_s > 0:
            raise ValueError(f"lease_s must be > 0, got {lease_s!r}")
        if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
            raise ValueError(f"max_runs must be an integer >= 1, got {max_runs!r}")
        self.lease_s = float(lease_s)
        self.max_runs = max_runs
        # Host names besides the loopback ones that requests may name when the server is
        # bound to loopback (e.g. an /etc/hosts alias); set from the bind address in start().
        self.allowed_hosts = {h.strip().lower() for h in allowed_hosts if h.strip()}
        self.loopback_only = False
        self._refusals_logged: dict[str, tuple[float, int]] = {}
        self.runs: dict[str, Run] = {}
        # Network steps and rewards run on the event loop itself: one thread, so they keep
        # their arrival order and never wait for the interpreter lock (a compute thread and
        # the loop passed it back and forth several times per cycle, a few ms each on a
        # loaded machine). The loop is busy while a cycle computes; what arrives meanwhile
        # (rewards, the next cycle's chunks come later anyway) waits for it. Only the
        # weight files are written on this thread.
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="brain-save")
        # (each websocket connection reads its messages without a task per message)
        self.sio = DirectReadAsyncServer(async_mode="aiohttp", cors_allowed_origins=[],
                                        serializer=ServerPacket,
                                        # Each client's events in arrival order, on the
                                        # loop, without a task per message.
                                        async_handlers=False,
                                        max_http_buffer_size=16 * 1024 * 1024)
        self.app = web.Application(middlewares=[self._host_middleware,
                                                self._error_middleware, self._auth_middleware],
                                   client_max_size=16 * 1024 * 1024)
        self.sio.attach(self.app)
        self._routes()
        self._events()
        # The Prima-Lux device API (SDK 0.4) beside this protocol: device.py.
        self.device = DeviceBrain(self.state_dir / "device", api_key=device_api_key,
                                  realtime=realtime, learning=learning, seed=seed)
        if device_brain:
            self.device.install_file(device_brain)
        self.device.mount(self.app)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._last_save = time.monotonic()

    # ---- persistence -------------------------------------------------------------------
    def state_path(self, project: str) -> Path:
        return self.state_dir / f"{project}.npz"

    def _load_state(self, network: Network) -> bool:
        path = self.state_path(network.graph.project)
        if not path.exists():
            return False
        try:
            with np.load(path, allow_pickle=False) as saved:
                network.load_state_arrays(dict(saved))
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("ignoring saved brain state %s: %s", path, exc)
            return False
        logger.info("loaded brain state %s (cycle %d)", path, network.cycle)
        return True

    def save_state(self, network: Network) -> Path:
        """Write the network's weights atomically to <state_dir>/<project>.npz."""
        return self._write_state(network.graph.project, network.state_arrays())

    async def _save_state_async(self, network: Network) -> Path:
        # The snapshot is taken on the loop (between cycles), the file written off it.
        arrays = network.state_arrays()
        return await asyncio.get_running_loop().run_in_executor(
            self.worker, self._write_state, network.graph.project, arrays)

    def _write_state(self, project: str, arrays: dict[str, np.ndarray]) -> Path:
        path = self.state_path(project)
        tmp = path.with_name(path.name + ".tmp.npz")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    # ---- auth ----------------------------------------------------------------------------
    def _key_ok(self, candidates: list[str | None]) -> bool:
        if self.api_key is None:
            return True
        return any(c is not None and hmac.compare_digest(c.encode(), self.api_key.encode())
                   for c in candidates)

    @staticmethod
    def _bearer(value: str | None) -> str | None:
        if value and value.lower().startswith("bearer "):
            return value[7:].strip()
        return None

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api") and not self.device.owns(request.path) \
                and not self._key_ok(
                [request.headers.get("x-api-key"),
                 self._bearer(request.headers.get("Authorization"))]):
            return web.json_response({"ok": False, "error": "missing or invalid API key "
                                      "(send x-api-key or Authorization: Bearer)"}, status=401)
        return await handler(request)

    # ---- Host / Origin (DNS rebinding) ----------------------------------------------------
    def foreign_host_or_origin(self, host: str | None, origin: str | None) -> str | None:
        """Why a request naming this Host and Origin is refused (None: it is not). Only
        when bound to loopback: a web page whose name resolves to 127.0.0.1 (DNS
        rebinding), or any other site in the robot's browser, must not reach the brain."""
        if not self.loopback_only:
            return None
        return self._refusal_text(foreign_host_or_origin(host, origin, self.allowed_hosts))

    @staticmethod
    def _refusal_text(refusal: HostRefusal | None) -> str | None:
        if refusal is None:
            return None
        if refusal.header == "Host":
            return (f"refused: Host {refusal.value!r} is not this machine's loopback; the brain "
                    f"server is bound to loopback and answers requests to localhost, 127.0.0.1 "
                    f"or [::1] only (DNS rebinding protection; --allow-host adds a name)")
        return (f"refused: Origin {refusal.value!r} is not a loopback page; the brain server "
                f"is bound to loopback and refuses requests from other sites' pages")

    @web.middleware
    async def _host_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        refusal = None
        if self.loopback_only:  # every value counts: a second Origin must not slip past
            refusal = self._refusal_text(foreign_request(request.headers.getall("Host", []),
                                                         request.headers.getall("Origin", []),
                                                         self.allowed_hosts))
        if refusal is not None:
            self._log_refusal("host", refusal)
            return web.json_response({"ok": False, "error": refusal}, status=403)
        return await handler(request)

    @web.middleware
    async def _error_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Errors under /api answer JSON naming the problem; a failing handler answers 500
        with its error and the server keeps serving."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == "application/json" \
                    or not request.path.startswith("/api"):
                raise
            return web.json_response({"ok": False, "error": self._http_error(request, exc)},
                                     status=exc.status)
        except Exception as exc:
            logger.exception("%s %s failed", request.method, request.path)
            return web.json_response({"ok": False, "error": f"internal error in "
                                      f"{request.method} {request.path}: "
                                      f"{type(exc).__name__}: {exc}"}, status=500)

    def _http_error(self, request: web.Request, exc: web.HTTPException) -> str:
        routes = sorted({(r.method, r.resource.canonical) for r in self.app.router.routes()
                         if r.resource is not None and r.resource.canonical.startswith("/api")
                         and r.method != "HEAD"})
        if exc.status == 404:
            parts = request.path.split("/")
            project = parts[3] if len(parts) > 3 else "{project}"
            known = [f"{m} {c}" for m, c in routes]
            hint = did_you_mean(request.path, [c.replace("{project}", project)
                                               for _, c in routes])
            return f"no route {request.method} {request.path}{hint}; routes: {known}"
        if exc.status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
            return f"method {request.method} is not allowed on {request.path}; use {allowed}"
        return f"{exc.reason}: {exc.text}" if exc.text else exc.reason

    # ---- REST ----------------------------------------------------------------------------
    def _routes(self) -> None:
        r = self.app.router
        r.add_post("/api/robot/{project}/start", self._start)
        r.add_post("/api/robot/{project}/stop", self._stop)
        r.add_get("/api/robot/{project}/io/state", self._io_state)
        r.add_get("/api/robot/{project}/contract", self._contract)
        r.add_get("/api/health", self._health)

    def _graph_or_404(self, request: web.Request) -> BrainGraph:
        project = request.match_info["project"]
        graph = self.graphs.get(project)
        if graph is None:
            raise web.HTTPNotFound(text=json.dumps({
                "ok": False, "error": f"unknown project {project!r}; known: {sorted(self.graphs)}"}),
                content_type="application/json")
        return graph

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": f"body is not JSON: {exc}"}),
                                     content_type="application/json") from exc
        except RecursionError as exc:
            raise web.HTTPBadRequest(text='{"ok": false, "error": "body is not JSON this '
                                     'server reads: nested too deeply"}',
                                     content_type="application/json") from exc
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text='{"ok": false, "error": "body must be a JSON object"}',
                                     content_type="application/json")
        return body

    async def _start(self, request: web.Request) -> web.Response:
        graph = self._graph_or_404(request)
        options = await self._json_body(request)
        unknown = sorted(set(options) - set(START_OPTIONS))
        if unknown:
            return web.json_response({"ok": False, "error": f"options: unknown option(s) "
                                      f"{unknown}{did_you_mean(unknown[0], START_OPTIONS)}; "
                                      f"options: {list(START_OPTIONS)}"}, status=400)
        if len(self.runs) >= self.max_runs:
            return web.json_response(
                {"ok": False, "error": f"too many runs: {len(self.runs)} are running, the "
                 f"server's limit (max_runs {self.max_runs}); stop one (POST "
                 f"/api/robot/{{project}}/stop) or wait: a run nobody has joined for "
                 f"{self.lease_s:g} s ends"},
                status=429, headers={"Retry-After": str(max(1, round(self.lease_s)))})
        learning = options.get("learning", True)
        seed = options.get("seed", self.seed)
        pace = options.get("pace", "clock")
        if not isinstance(learning, bool) or (seed is not None and (
                isinstance(seed, bool) or not isinstance(seed, int) or seed < 0)):
            return web.json_response({"ok": False, "error": "options: 'learning' must be a "
                                      "boolean and 'seed' a non-negative integer"}, status=400)
        if pace not in PACES:
            return web.json_response({"ok": False, "error": f"options: 'pace' must be one of "
                                      f"{list(PACES)}, got {pace!r}"}, status=400)
        run = self.start_run(graph, learning=self.learning and learning, seed=seed, pace=pace)
        origin = f"{request.scheme}://{request.host}"
        return web.json_response({"ok": True, "runId": run.run_id, **contract_of(graph),
                                  "learning": run.network.learning_enabled, "pace": run.pace,
                                  "realtime": {"url": origin, "namespace": NAMESPACE}})

    async def _stop(self, request: web.Request) -> web.Response:
        graph = self._graph_or_404(request)
        body = await self._json_body(request)
        run_id = body.get("runId")
        if run_id is not None and not isinstance(run_id, str):
            return web.json_response({"ok": False, "error": f"'runId' must be a string (the id "
                                      f"POST /start answered), got {_type_name(run_id)}"},
                                     status=400)
        if run_id is not None:
            run = self.runs.get(str(run_id))
            if run is None or run.graph.project != graph.project:
                return web.json_response({"ok": False, "error": f"no run {run_id!r} in project "
                                          f"{graph.project!r}"}, status=404)
            targets = [run]
        else:
            targets = [r for r in self.runs.values() if r.graph.project == graph.project]
        for run in targets:
            await self.stop_run(run, "stopped by POST /stop")
        return web.json_response({"ok": True, "stopped": [r.run_id for r in targets]})

    def _run_state(self, run: Run) -> dict[str, Any]:
        return {"runId": run.run_id, "cycle": run.cycle, "needs": run.needs,
                "learning": run.network.learning_enabled, "rewards": run.rewards,
                "rewardsIgnored": run.rewards_ignored,
                "chunkErrors": run.chunk_errors, "lastCycleMs": run.last_cycle_ms,
                "robotState": run.robot_state}

    async def _io_state(self, request: web.Request) -> web.Response:
        graph = self._graph_or_404(request)
        runs = [self._run_state(r) for r in self.runs.values() if r.graph.project == graph.project]
        latest = runs[-1] if runs else {"runId": None, "cycle": None, "needs": []}
        return web.json_response({"ok": True, "projectId": graph.project, **latest,
                                  "runs": runs})

    async def _contract(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, **contract_of(self._graph_or_404(request))})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "projects": sorted(self.graphs),
                                  "runs": len(self.runs)})

    # ---- realtime ------------------------------------------------------------------------
    def _events(self) -> None:
        sio = self.sio

        @sio.on("connect", namespace=NAMESPACE)
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            auth = auth if isinstance(auth, dict) else {}
            if not self._key_ok([auth.get("token"), auth.get("apiKey"),
                                 environ.get("HTTP_X_API_KEY"),
                                 self._bearer(environ.get("HTTP_AUTHORIZATION"))]):
                raise socketio.exceptions.ConnectionRefusedError("missing or invalid API key")

        @sio.on("disconnect", namespace=NAMESPACE)
        async def disconnect(sid: str, reason: Any = None) -> None:
            # A run's lease runs from when its last client left.
            now = time.monotonic()
            for room in sio.rooms(sid, namespace=NAMESPACE):
                run = self.runs.get(room)
                if run is not None:
                    run.renewed_s = now

        async def run_join(sid: str, run: Run, data: dict[str, Any]) -> dict[str, Any]:
            await sio.enter_room(sid, run.run_id, namespace=NAMESPACE)
            run.arrived.set()
            return {"ok": True, "runId": run.run_id, "cycle": run.cycle}

        async def io_chunk(sid: str, run: Run, data: dict[str, Any]) -> None:
            if hops.ON:
                self._note_chunk_read(sid, run, data)
            self._accept_chunk(run, data)

        async def learn_reward(sid: str, run: Run, data: dict[str, Any]) -> None:
            global_reward, by_layer, cycle = self._parse_reward(run, data)
            run.rewards += 1
            # Credit goes to the cycle the reward names (its eligibility as that cycle
            # left it), not to whatever ran since; a reward for an unknown or too old
            # cycle is ignored.
            if run.network.apply_reward(global_reward, by_layer, cycle) is None:
                run.rewards_ignored += 1

        async def robot_state(sid: str, run: Run, data: dict[str, Any]) -> None:
            run.robot_state, run.robot_q = self._parse_robot_state(run, data)

        for event, handle in (("run:join", run_join), ("io:chunk", io_chunk),
                              ("learn:reward", learn_reward), ("robot:state", robot_state)):
            sio.on(event, self._guarded(event, handle), namespace=NAMESPACE)

        @sio.on("*", namespace=NAMESPACE)
        async def unknown_event(event: Any, sid: str, *args: Any) -> dict[str, Any]:
            if event == MALFORMED_PACKET:
                return await self._refuse(sid, None, None, (
                    f"malformed Socket.IO packet: {args[0] if args else ''}"))
            return await self._refuse(sid, str(event), None, (
                f"unknown event {event!r}{did_you_mean(event, CLIENT_EVENTS)}; "
                f"events: {list(CLIENT_EVENTS)}"))

    def _guarded(self, event: str, handle: Any) -> Any:
        """The Socket.IO handler of `event`: checks the payload's envelope (one object with
        the runId of a running run), renews the run's lease, runs `handle(sid, run,
        payload)`, and answers every refusal or failure with io:error to the sender."""

        async def handler(sid: str, *args: Any) -> Any:
            if len(args) != 1:
                return await self._refuse(sid, event, None, (
                    f"{event}: expected one payload object with a runId, got "
                    f"{len(args)} arguments"))
            data = args[0]
            if not isinstance(data, dict) or "runId" not in data:
                return await self._refuse(sid, event, None, (
                    f"{event}: payload must be an object with a runId, got "
                    f"{'an object without one' if isinstance(data, dict) else _type_name(data)}"))
            run_id = data["runId"]
            if not isinstance(run_id, str):
                return await self._refuse(sid, event, None, (
                    f"{event}: 'runId' must be a string, got {_type_name(run_id)}"))
            run = self.runs.get(run_id)
            if run is None:
                return await self._refuse(sid, event, run_id, (
                    f"{event}: unknown run {run_id!r} (stopped, expired, or started before "
                    f"the server restarted): POST /robot/{{project}}/start a new one"))
            run.renewed_s = time.monotonic()
            try:
                return await handle(sid, run, data)
            except (ProtocolError, EncodeError) as exc:
                error = str(exc)
            except Exception as exc:
                logger.exception("run %s: %s handler failed", run_id, event)
                error = (f"{event}: the server could not handle this payload "
                         f"({type(exc).__name__}: {exc}); the run goes on")
            if event == "io:chunk":
                run.chunk_errors += 1
            return await self._refuse(sid, event, run_id, error,
                                      inputId=data.get("inputId") if event == "io:chunk"
                                      else None)

        return handler

    async def _refuse(self, sid: str, event: str | None, run_id: str | None, error: str,
                      **extra: Any) -> dict[str, Any]:
        """io:error {runId, event, error} to the sender; also the call's answer."""
        self._log_refusal(event or "packet", error)
        payload = {"runId": run_id, "event": event, "error": error}
        payload.update({k: v for k, v in extra.items() if v is not None})
        await self.sio.emit("io:error", payload, to=sid, namespace=NAMESPACE)
        return {"ok": False, "error": error}

    def _log_refusal(self, kind: str, error: str) -> None:
        now = time.monotonic()
        last_s, suppressed = self._refusals_logged.get(kind, (-1e9, 0))
        if now - last_s < REFUSAL_LOG_INTERVAL_S:
            self._refusals_logged[kind] = (last_s, suppressed + 1)
            return
        more = f" ({suppressed} more refused since)" if suppressed else ""
        logger.warning("refused %s: %s%s", kind, error, more)
        self._refusals_logged[kind] = (now, 0)

    def _parse_robot_state(self, run: Run, data: dict[str, Any]
                           ) -> tuple[dict[str, Any], np.ndarray | None]:
        """robot:state's state and its q (None when absent or null, as the SDK's RobotLoop
        sends it without joints); ProtocolError naming the field otherwise."""
        state = data.get("state")
        if not isinstance(state, dict):
            raise ProtocolError(f"robot:state: 'state' must be an object {{q, dq, grip, dt}}, "
                                f"got {_type_name(state)}")
        try:
            json.dumps(state, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ProtocolError(f"robot:state: 'state' must be plain JSON (finite numbers, "
                                f"no binary data): {exc}") from None
        q = state.get("q")
        if q is None:
            return state, None
        if not isinstance(q, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in q):
            raise ProtocolError(f"robot:state: 'q' must be a list of joint positions "
                                f"(numbers), got {q!r:.80}")
        needed = max((i.encoder.count for i in run.graph.inputs if i.kind == "JointState"),
                     default=0)
        if len(q) < needed:
            raise ProtocolError(f"robot:state: 'q' has {len(q)} joint position(s); the "
                                f"brain's JointState input codes {needed}")
        try:
            return state, np.asarray(q, dtype=np.float64)
        except OverflowError:
            raise ProtocolError("robot:state: 'q' holds a number too large for a joint "
                                "position") from None

    def _run_of(self, data: Any) -> Run | None:
        if not isinstance(data, dict) or not isinstance(data.get("runId"), str):
            return None
        return self.runs.get(data["runId"])

    @staticmethod
    def _parse_reward(run: Run, data: dict[str, Any]
                      ) -> tuple[float, dict[str, float], int | None]:
        def value(x: Any, what: str) -> float:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x):
                raise ProtocolError(f"learn:reward: {what} must be a finite number, got {x!r}")
            return float(min(max(x, 0.0), 1.0))

        global_reward = value(data.get("globalReward"), "globalReward")
        by_layer_raw = data.get("byLayer") or {}
        if not isinstance(by_layer_raw, dict):
            raise ProtocolError("learn:reward: byLayer must be an object {layer: value}")
        layers = set(run.graph.learning_layers)
        unknown = sorted(set(by_layer_raw) - layers)
        if unknown:
            raise ProtocolError(f"learn:reward: unknown layer(s) {unknown}; stdp3 layers: "
                             f"{sorted(layers)}")
        cycle = data.get("cycle")
        if cycle is not None and (isinstance(cycle, bool) or not isinstance(cycle, int)
                                  or cycle < 0):
            raise ProtocolError(f"learn:reward: cycle must be a non-negative integer, got {cycle!r}")
        return global_reward, {k: value(v, f"byLayer[{k}]") for k, v in by_layer_raw.items()}, \
            cycle

    def _note_chunk_read(self, sid: str, run: Run, data: dict[str, Any]) -> None:
        """(hops on) When the websocket message that completed this cycle's first io:chunk
        was read (a directly read connection notes it; see node_kit.socketio_overrides)."""
        meta = data.get("meta")
        if isinstance(meta, dict) and meta.get("cycle") == run.cycle:
            socket = self.sio.eio.sockets.get(self.sio.manager.eio_sid_from_sid(sid, NAMESPACE))
            read_ns = getattr(socket, "read_ns", None)
            if read_ns is not None:
                hops.note("server: first io:chunk read", run.cycle, read_ns)

    def _accept_chunk(self, run: Run, data: dict[str, Any]) -> None:
        input_id = data.get("inputId")
        if not isinstance(input_id, str):
            raise ProtocolError(f"io:chunk: 'inputId' must be a string naming an input, got "
                                f"{_type_name(input_id)}")
        spec = next((i for i in run.graph.inputs if i.id == input_id), None)
        fb = next((f for f in run.graph.feedback if f.id == input_id), None)
        if spec is None and fb is None:
            raise EncodeError(f"io:chunk: unknown inputId {input_id!r}"
                              f"{did_you_mean(input_id, run.needs and [n['id'] for n in run.needs])}"
                              f"; inputs: "
                              f"{[i.id for i in run.graph.inputs]}, feedback: "
                              f"{[f.id for f in run.graph.feedback]}")
        if fb is not None:
            run.feedback_rates[fb.id] = encode_feedback(fb, run.graph.gamma, data.get("format"),
                                                        data.get("meta"), data.get("data"))
        else:
            run.rates[spec.id] = encode_input(spec, data.get("format"), data.get("meta"),
                                              data.get("data"))
        run.answered.add(str(input_id))
        meta = data.get("meta")
        chunk_cycle = meta.get("cycle") if isinstance(meta, dict) else None
        if isinstance(chunk_cycle, int) and not isinstance(chunk_cycle, bool) \
                and chunk_cycle > run.cycle:
            # An answer to the next cycle's io:need, which goes out before this cycle
            # computes (pace "inputs"): it completes that cycle's wait, not this one's.
            run.received_next.add(str(input_id))
            return
        if fb is None and isinstance(chunk_cycle, int) and not isinstance(chunk_cycle, bool) \
                and chunk_cycle < run.cycle:
            # A late answer to an earlier cycle's io:need: its value holds, but it must not
            # complete the next cycle's wait (that cycle would run on it at once, and the
            # client's answers would stay one cycle behind). Feedback counts whenever it
            # comes: clients send it on cycle:update, for the next cycle.
            return
        if hops.ON and chunk_cycle == run.cycle:
            hops.note("server: first chunk handled", run.cycle)   # (the first note counts)
        run.received.add(str(input_id))
        if self._inputs_complete(run):
            if hops.ON:
                hops.note("server: all inputs in", run.cycle)
            run.arrived.set()

    @staticmethod
    def _inputs_complete(run: Run) -> bool:
        """Every need arrived, or everything this client sent last cycle did (a client that
        never provides some input, e.g. feedback, does not stall every cycle)."""
        if all(n["id"] in run.received for n in run.needs):
            return True
        # What it sent last cycle, and what arrived late since: a late answer tells that
        # the client provides that input, though it does not count for this cycle.
        wanted = run.expected | run.answered
        return bool(wanted) and wanted <= run.received

    # ---- runs ----------------------------------------------------------------------------
    def start_run(self, graph: BrainGraph, learning: bool = True, seed: int | None = None,
                  pace: str = "clock") -> Run:
        if pace not in PACES:
            raise ValueError(f"pace must be one of {list(PACES)}, got {pace!r}")
        network = Network(graph, seed=seed, learning=learning)
        # learn:reward names its cycle and arrives while later cycles run.
        network.keep_eligibility_history(REWARD_HISTORY_CYCLES)
        self._load_state(network)
        run_id = uuid.uuid4().hex[:12]
        needs = [{"id": i.id, "kind": i.kind} for i in graph.inputs] + \
                [{"id": f.id, "kind": "Feedback"} for f in graph.feedback]
        run = Run(run_id, graph, network, np.random.default_rng(network.seed + 1), needs,
                  cycle=network.cycle, pace=pace)
        self.runs[run_id] = run
        run.task = asyncio.get_running_loop().create_task(self._run_loop(run))
        logger.info("run %s started for project %s (learning %s, %s pace)", run_id,
                    graph.project, "on" if learning else "off", pace)
        return run

    async def stop_run(self, run: Run, reason: str = "stopped") -> None:
        """Stop a run: its loop ends, its weights are saved, its room gets run:stopped."""
        run.stop_reason = run.stop_reason or reason
        run.stopping = True
        run.arrived.set()
        if run.task is not None:
            await asyncio.gather(run.task, return_exceptions=True)
        await self._end_run(run)

    async def _end_run(self, run: Run) -> None:
        """Once per run, whichever way it ends (stop, lease, failure, shutdown): it leaves
        the run list, saves its weights, tells its room why, and its memory goes back."""
        if run.ended:
            return
        run.ended = True
        run.stopping = True
        self.runs.pop(run.run_id, None)
        reason = run.stop_reason or "stopped"
        try:
            if run.network.learning_enabled:
                await self._save_state_async(run.network)
        except OSError as exc:
            logger.error("run %s: could not save its weights: %s", run.run_id, exc)
        await self.sio.emit("run:stopped", {"runId": run.run_id, "cycle": run.cycle,
                                            "reason": reason},
                            room=run.run_id, namespace=NAMESPACE)
        await self.sio.close_room(run.run_id, namespace=NAMESPACE)
        logger.info("run %s stopped at cycle %d: %s", run.run_id, run.cycle, reason)
        # (off the loop: trimming a large heap takes a moment, and other runs go on)
        await asyncio.get_running_loop().run_in_executor(self.worker, _release_freed_memory)

    def _members(self, run: Run) -> int:
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        return len(rooms.get(run.run_id, {}))

    def _rasters(self, run: Run) -> dict[str, np.ndarray]:
        graph = run.graph
        rasters = {}
        for spec in graph.inputs:
            rates = run.rates.get(spec.id)
            if rates is None and spec.kind == "JointState" and run.robot_q is not None:
                # (validated by robot:state: finite, at least the encoder's count)
                rates = population_code(run.robot_q[:spec.encoder.count], spec.encoder)
            if rates is not None:
                rasters[spec.id] = poisson_spikes(run.rng, rates, graph.gamma, graph.dt_ms)
        for fb in graph.feedback:
            rates = run.feedback_rates.pop(fb.id, None)
            if rates is not None:
                rasters[fb.id] = poisson_spikes(run.rng, rates, graph.gamma, graph.dt_ms)
        return rasters

    async def _emit_need(self, run: Run, cycle: int) -> None:
        await self.sio.emit("io:need", {"runId": run.run_id, "cycle": cycle, "needs": run.needs,
                                        "deadlineMs": self.deadline_ms},
                            room=run.run_id, namespace=NAMESPACE)

    async def _run_loop(self, run: Run) -> None:
        graph = run.graph
        period_s = graph.gamma * graph.dt_ms / 1000.0
        next_start = time.monotonic()
        need_sent = -1           # pace inputs: the cycle whose io:need went out early
        try:
            while not run.stopping:
                if self._members(run) == 0:      # nobody listening: pause, do not burn CPU
                    if time.monotonic() - run.renewed_s > self.lease_s:
                        run.stop_reason = (f"lease expired: no client joined or named the "
                                           f"run for {self.lease_s:g} s")
                        break
                    run.arrived.clear()
                    await _wait(run.arrived, 0.2)
                    next_start = time.monotonic()
                    need_sent = -1   # whoever joins gets this cycle's need
                    continue
                by_inputs = run.pace == "inputs"
                if self.realtime and not by_inputs:
                    delay = next_start - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_start = max(next_start + period_s, time.monotonic() - period_s)
                if run.stopping:     # stop_run's wake-up came during the sleep: the clear
                    break            # below would lose it and the wait would run its deadline
                if not self._inputs_complete(run):
                    run.arrived.clear()
                if not by_inputs or need_sent != run.cycle:   # (pace inputs: sent early)
                    await self._emit_need(run, run.cycle)
                if run.needs and not self._inputs_complete(run):
                    await _wait(run.arrived, self.deadline_ms / 1000.0)
                if run.stopping:
                    break
                if hops.ON:
                    hops.note("server: run loop has them", run.cycle)
                rasters = self._rasters(run)
                # What the client sends (late answers included: they still tell what it
                # provides) is what the next cycles wait for. Chunks arriving after the
                # cycle:update (e.g. feedback sent on it) count for the next cycle.
                if run.answered:
                    run.expected = set(run.answered)
                run.answered.clear()
                run.received.clear()
                run.arrived.clear()
                t0 = time.perf_counter()
                result = run.network.run_cycle(rasters)   # on the loop: see __init__
                run.last_cycle_ms = (time.perf_counter() - t0) * 1000.0
                cycle = run.cycle
                if hops.ON:
                    hops.note("server: compute start", cycle,
                              time.time_ns() - round(run.last_cycle_ms * 1e6))
                    hops.note("server: compute end", cycle)
                # From here on, a chunk answering this cycle's io:need is late (see
                # _accept_chunk); the loop was busy computing, so chunks that came meanwhile
                # are handled only now, during the emit.
                run.cycle += 1
                run.received, run.received_next = run.received_next, set()
                run.arrived.clear()
                rows = OutputRows.of(result.outputs)
                if hops.ON:
                    hops.note("server: cycle:update emit starts", cycle)
                await self.sio.emit("cycle:update", {
                    "runId": run.run_id, "cycle": cycle, "outputs": rows,
                    "spikeCounts": {o.id: result.spike_counts[o.population]
                                    for o in graph.outputs},
                    "computeMs": round(run.last_cycle_ms, 3)},
                    room=run.run_id, namespace=NAMESPACE)
                if by_inputs:
                    # The next cycle's need goes out now, after this cycle's outputs (not
                    # before its compute, where emitting it delayed them), and the client
                    # answers when its next sensor frame arrives. The next cycle can start
                    # no earlier than its need: at most one period ahead of its slot.
                    if self.realtime:
                        delay = next_start - period_s - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        next_start = max(next_start + period_s, time.monotonic() - period_s)
                    if run.stopping:
                        break
                    need_sent = run.cycle
                    await self._emit_need(run, need_sent)
                if run.network.learning_enabled and \
                        time.monotonic() - self._last_save > self.save_interval_s:
                    self._last_save = time.monotonic()
                    await self._save_state_async(run.network)
        except Exception as exc:
            # Says so (io:error and run:stopped with the reason) rather than leaving a run
            # listed with its cycle frozen.
            logger.exception("run %s failed", run.run_id)
            run.stop_reason = (f"the run failed at cycle {run.cycle}: "
                               f"{type(exc).__name__}: {exc}")
            await self.sio.emit("io:error", {"runId": run.run_id, "event": "run",
                                             "error": run.stop_reason},
                                room=run.run_id, namespace=NAMESPACE)
        finally:
            await self._end_run(run)

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 8765) -> int:
        """Start serving; returns the bound port (useful with port 0). Bound to loopback,
        requests naming another Host or Origin are refused (see foreign_host_or_origin)."""
        self.loopback_only = is_loopback_host(host)
        self.runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked
        logger.info("brain server on http://%s:%d (projects %s)", host, self.port,
                    sorted(self.graphs))
        return self.port

    async def close(self) -> None:
        """Stop every run (saving weights), then the HTTP server."""
        for run in list(self.runs.values()):
            await self.stop_run(run, "the server is shutting down")
        await self.device.close()
        await self.sio.shutdown()           # disconnect clients so the HTTP side can close
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        self.worker.shutdown(wait=True)


class ServerThread:
    """A BrainServer on its own event loop in a background thread (for nodes and tests)."""

    def __init__(self, server: BrainServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = server
        self.host = host
        self.requested_port = port
        self.host_thread = LoopThread("brain-server")
        self.port = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self.host_thread.loop

    def start(self, timeout_s: float = 10.0) -> int:
        """Serve; the bound port once serving (the start-up error raised here)."""
        self.port = self.host_thread.start(
            lambda: self.server.start(self.host, self.requested_port), timeout_s)
        return self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        self.host_thread.stop(self.server.close, timeout_s)


def build_server(graph_paths: list[str], state_dir: str, *,
                 max_run_mb: float = DEFAULT_MAX_RUN_MB, **kwargs: Any) -> BrainServer:
    return BrainServer([load_graph(p, max_run_mb=max_run_mb) for p in graph_paths], state_dir,
                       **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedded_brain.server",
                                     description="Embedded spiking brain server (Artificial "
                                     "Brains REST + Socket.IO protocol).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765, 0 = any)")
    parser.add_argument("--graph", action="append", required=True,
                        help="brain graph YAML (repeat for several projects)")
    parser.add_argument("--state-dir", required=True, help="where weights are saved/loaded")
    parser.add_argument("--api-key", default=os.environ.get("AB_API_KEY"),
                        help="require this API key (default: $AB_API_KEY; none = open)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: graph's)")
    parser.add_argument("--no-learning", action="store_true", help="freeze the weights")
    parser.add_argument("--deadline-ms", type=float, default=50.0,
                        help="how long a cycle waits for its inputs (default 50)")
    parser.add_argument("--free-run", action="store_true",
                        help="do not pace cycles to real time (gamma x dt per cycle)")
    parser.add_argument("--lease-s", type=float, default=LEASE_S,
                        help=f"a run nobody has joined or named for this long is stopped "
                        f"(default {LEASE_S:g})")
    parser.add_argument("--max-runs", type=int, default=MAX_RUNS,
                        help=f"most runs at once; more starts answer 429 (default {MAX_RUNS})")
    parser.add_argument("--max-run-mb", type=float, default=DEFAULT_MAX_RUN_MB,
                        help=f"refuse a graph whose run would need more memory (MB, default "
                        f"{DEFAULT_MAX_RUN_MB:g})")
    parser.add_argument("--allow-host", action="append", default=[],
                        help="a host name requests may name besides the loopback ones when "
                        "bound to loopback (repeatable)")
    parser.add_argument("--device-api-key", default=os.environ.get("AB_DEVICE_API_KEY"),
                        help="Prima-Lux device API: require this plx_ key (default: "
                             "$AB_DEVICE_API_KEY; none = any plx_ key)")
    parser.add_argument("--device-brain", default=None,
                        help="Prima-Lux device API: install this brain.abdesign.json at start")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = build_server(args.graph, args.state_dir, api_key=args.api_key, seed=args.seed,
                              learning=not args.no_learning, deadline_ms=args.deadline_ms,
                              realtime=not args.free_run, lease_s=args.lease_s,
                              max_runs=args.max_runs, allowed_hosts=tuple(args.allow_host),
                              max_run_mb=args.max_run_mb, device_api_key=args.device_api_key,
                              device_brain=args.device_brain)
    except GraphError as exc:
        print(f"error: invalid brain graph: {exc}", flush=True)
        return 2
    except ValueError as exc:     # also the device's brain design (DesignError) or its key
        print(f"error: {exc}", flush=True)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        port = await server.start(args.host, args.port)
        print(f"brain server listening on http://{args.host}:{port}", flush=True)
        await stop.wait()
        await server.close()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
