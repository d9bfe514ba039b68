"""The embedded brain as a Prima-Lux device: the device API of artificialbrains-sdk 0.4.

Mounted beside the 0.1 protocol on the embedded server's aiohttp app (server.py); the
facts are in docs/protocols.md (the Prima-Lux device protocol), the behaviour in
embedded_brain/README.md.

    GET  /api/status                     engine {state, busy, error, has_brain, ...}, package
    POST /api/brain/build                {design, design_sha256} -> accepted, build_id
    GET  /api/brain/build/{id}           status BUILDING | READY | FAILED
    POST /api/brain/load                 multipart `file`: a brain.abdesign.json
    POST /api/brain/run | stop | reset | reset-dynamics
    POST /api/brain/sensor               {population: [values in 0..1]} -> {ok, queued}
    GET  /api/brain/events               recent output frames and lifecycle events
    GET  /api/brain/stream?replay=&cursor=   server-sent events: hello, frame, gap, reset

The installed design (abdesign.py) runs on the embedded neuron model (snn.py) in cycles
of `steps_per_cycle` 1 ms timesteps, paced to wall time (or stepped by the caller:
`start_stepped`, `step_cycle`); every timestep becomes one
output frame `{step, outputs: [{t, neurons: ["OUTPUT:i", ...]}]}`, empty or not, with a
cursor `epoch:sequence` (a new epoch per run start and per reset). Frames are retained
(`history_frames`) so a stream that drops resumes from its cursor without losing or
repeating one; a cursor older than the history gets a `gap` event, one of another
epoch a `reset` event. Outputs are bistable: an output neuron switches on at its spike
and holds until the output is cleared by its inhibitory sources; a frame lists the neuron
events of its step, the output neurons that switched on in it (a held neuron is not
repeated, and cannot switch on again before a clear). Sensor values hold until
replaced; a reward input population's mean value is a reward for the plastic
connections it modulates. Every /api/status and /api/brain route needs
`Authorization: Bearer plx_...` (the configured key, or with none configured any key
of that form).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from embedded_brain.abdesign import (
    INPUT_RATE_HZ,
    Design,
    DesignError,
    design_graph,
    design_sha256,
    parse_design,
)
from embedded_brain.encoders import poisson_spikes
from embedded_brain.graph import BrainGraph
from embedded_brain.snn import Network

logger = logging.getLogger("embedded_brain.device")

KEY_PREFIX = "plx_"
MAX_SENSOR_POPULATIONS = 128
#: An output is cleared in a step where its inhibitory sources fire with a summed
#: strength x (spikes / source size) of at least this.
CLEAR_FRACTION = 0.1
KEEPALIVE_S = 15.0
FAULT_STATES = ("ERROR", "FAULT", "SAFE_MODE", "UNAVAILABLE")


def _error(status: int, detail: str) -> web.Response:
    return web.json_response({"ok": False, "detail": detail}, status=status)


def sse(event: str, data: dict[str, Any], cursor: str | None = None) -> bytes:
    head = f"id: {cursor}\n" if cursor is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass
class Installed:
    """The brain installed on the device."""

    design: Design
    graph: BrainGraph
    design_sha256: str
    package_sha256: str
    clear_sources: dict[str, list[tuple[str, float, int]]]   # output -> (source, strength, n)
    reward_layers: dict[str, list[str]]

    @property
    def package(self) -> dict[str, Any]:
        return {"name": self.design.name, "sha256": self.package_sha256,
                "design_sha256": self.design_sha256}


@dataclass
class Build:
    build_id: str
    design_sha256: str
    status: str = "BUILDING"          # BUILDING | READY | FAILED
    error: str = ""


class FrameHistory:
    """Output frames of the current epoch as SSE records, the newest `capacity` kept."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.epoch = uuid.uuid4().hex[:12]
        self.records: deque[bytes] = deque(maxlen=capacity)
        self.last_sequence = 0
        self._changed = asyncio.Event()

    @property
    def first_sequence(self) -> int:
        """Sequence of the oldest retained frame (last + 1 when none is)."""
        return self.last_sequence - len(self.records) + 1

    def new_epoch(self) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self.records.clear()
        self.last_sequence = 0
        self._wake()

    def append(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.last_sequence += 1
            cursor = f"{self.epoch}:{self.last_sequence}"
            self.records.append(sse("frame", {"epoch": self.epoch,
                                              "sequence": self.last_sequence,
                                              "item": item}, cursor))
        self._wake()

    def since(self, sequence: int) -> list[bytes]:
        """Records after `sequence` (which must be >= first_sequence - 1)."""
        skip = sequence - self.first_sequence + 1
        return list(self.records)[skip:] if skip < len(self.records) else []

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            pass


@dataclass
class DeviceStats:
    sensor_posts: int = 0
    rewards: int = 0
    frames: int = 0
    last_cycle_ms: float = 0.0
    log: deque = field(default_factory=lambda: deque(maxlen=50))


class DeviceBrain:
    """An emulated Prima-Lux device serving the device API on an aiohttp app."""

    def __init__(self, state_dir: str | Path, *, api_key: str | None = None,
                 steps_per_cycle: int = 10, realtime: bool = True, learning: bool = True,
                 seed: int | None = None, history_frames: int = 30000) -> None:
        if api_key and not api_key.startswith(KEY_PREFIX):
            raise ValueError(f"device API key must start with {KEY_PREFIX!r}")
        if steps_per_cycle < 1:
            raise ValueError(f"steps_per_cycle must be >= 1, got {steps_per_cycle}")
        self.state_dir = Path(state_dir).expanduser()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = api_key or None
        self.steps_per_cycle = int(steps_per_cycle)
        self.realtime = realtime
        self.learning = learning
        self.seed = 0 if seed is None else int(seed)
        self.history_frames = history_frames
        self.state = "READY"
        self.busy = False
        self.error: str | None = None
        self.installed: Installed | None = None
        self.network: Network | None = None
        self.builds: dict[str, Build] = {}
        self.step = 0
        self.values: dict[str, np.ndarray] = {}          # held input values
        self.latches: dict[str, np.ndarray] = {}
        self.stats = DeviceStats()
        self.history: FrameHistory | None = None        # made on the event loop
        self._task: asyncio.Task | None = None
        self._streams: dict[int, web.Request] = {}
        self._closing = False
        self._rng = np.random.default_rng(self.seed + 1)
        self.device_id = "embedded-" + hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:8]
        self._load_installed()

    # ---- routes -----------------------------------------------------------------------
    def mount(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/status", self._status)
        r.add_post("/api/brain/build", self._build)
        r.add_get("/api/brain/build/{build_id}", self._build_status)
        r.add_post("/api/brain/load", self._load)
        r.add_post("/api/brain/run", self._run)
        r.add_post("/api/brain/stop", self._stop)
        r.add_post("/api/brain/reset", self._reset)
        r.add_post("/api/brain/reset-dynamics", self._reset_dynamics)
        r.add_post("/api/brain/sensor", self._sensor)
        r.add_get("/api/brain/events", self._events)
        r.add_get("/api/brain/stream", self._stream)

    @staticmethod
    def owns(path: str) -> bool:
        """Whether a request path is the device's (it checks its own keys)."""
        return path == "/api/status" or path.startswith("/api/brain/")

    def _authorized(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if self.api_key is not None:
            ok = hmac.compare_digest(token.encode(), self.api_key.encode())
        else:
            ok = token.startswith(KEY_PREFIX) and len(token) > len(KEY_PREFIX)
        if ok:
            return None
        return _error(401, "missing or invalid device API key: send Authorization: "
                           f"Bearer {KEY_PREFIX}...")

    @staticmethod
    async def _body(request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"ok": False, "detail":
                                                      f"body is not JSON: {exc}"}),
                                     content_type="application/json") from exc

    def _log(self, event: str, detail: str = "") -> None:
        self.stats.log.append({"time": time.time(), "event": event, "detail": detail})
        logger.info("device %s %s", event, detail)

    def _history(self) -> FrameHistory:
        if self.history is None:
            self.history = FrameHistory(self.history_frames)
        return self.history

    # ---- persistence ------------------------------------------------------------------
    @property
    def _installed_path(self) -> Path:
        return self.state_dir / "installed.json"

    def _state_path(self, installed: Installed) -> Path:
        return self.state_dir / f"brain-{installed.design_sha256[:16]}.npz"

    def _load_installed(self) -> None:
        path = self._installed_path
        if not path.exists():
            return
        try:
            saved = json.loads(path.read_text())
            self._install(saved["design"], saved.get("package_sha256"), persist=False)
        except (OSError, ValueError, KeyError, DesignError) as exc:
            logger.warning("ignoring the installed brain in %s: %s", path, exc)

    def install(self, raw: dict[str, Any], package_sha256: str | None = None) -> Installed:
        """Install a design (validated; DesignError names what is wrong). Not while running."""
        if self.state == "RUNNING":
            raise RuntimeError("the brain is running: stop it before installing another")
        return self._install(raw, package_sha256, persist=True)

    def install_file(self, path: str | Path) -> Installed:
        data = Path(path).expanduser().read_bytes()
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise DesignError(f"{path}: not JSON: {exc}") from exc
        return self.install(raw, hashlib.sha256(data).hexdigest())

    def _install(self, raw: dict[str, Any], package_sha256: str | None,
                 persist: bool) -> Installed:
        design = parse_design(raw)
        graph = design_graph(design, steps_per_cycle=self.steps_per_cycle, seed=self.seed)
        digest = design_sha256(raw)
        clear: dict[str, list[tuple[str, float, int]]] = {}
        for c in design.connections:
            if c.type == "inh" and design.nodes[c.target].kind == "output":
                clear.setdefault(c.target, []).append(
                    (c.source, c.strength, design.nodes[c.source].neurons))
        installed = Installed(design, graph, digest, package_sha256 or digest, clear,
                              design.plastic_layers())
        network = Network(graph, seed=self.seed, learning=self.learning)
        state = self._state_path(installed)
        if state.exists():
            try:
                with np.load(state, allow_pickle=False) as arrays:
                    network.load_state_arrays(dict(arrays))
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("ignoring saved device state %s: %s", state, exc)
        self.installed, self.network = installed, network
        self.step = network.cycle * self.steps_per_cycle
        self.values.clear()
        self.latches = {o.name: np.zeros(o.neurons, dtype=bool) for o in design.outputs}
        self.state, self.error = "READY", None
        if persist:
            self._installed_path.write_text(json.dumps(
                {"design": raw, "package_sha256": installed.package_sha256}))
        self._log("installed", f"{design.name} ({digest[:12]})")
        return installed

    def _save_state(self, installed: Installed, arrays: dict[str, np.ndarray]) -> None:
        path = self._state_path(installed)
        tmp = path.with_name(path.name + ".tmp.npz")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(path)

    # ---- status and lifecycle ---------------------------------------------------------
    def status(self) -> dict[str, Any]:
        installed = self.installed
        history = self._history()
        return {
            "ok": True, "device_id": self.device_id,
            "engine": {"state": self.state, "busy": self.busy, "error": self.error,
                       "available": True, "has_brain": installed is not None,
                       "native_brain_name": installed.design.name if installed else None,
                       "step": self.step, "steps_per_cycle": self.steps_per_cycle,
                       "learning": self.learning},
            "package": {"pending": self.busy and self.state != "RUNNING",
                        "active": installed.package if installed else None,
                        "failed_load": None},
            "stream": {"epoch": history.epoch, "sequence": history.last_sequence,
                       "retained": len(history.records)},
            "counters": {"sensor_posts": self.stats.sensor_posts,
                         "rewards": self.stats.rewards, "frames": self.stats.frames,
                         "last_cycle_ms": round(self.stats.last_cycle_ms, 3)},
        }

    async def _status(self, request: web.Request) -> web.Response:
        return self._authorized(request) or web.json_response(self.status())

    async def _build(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        body = await self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("design"), dict):
            return _error(422, "build: body must be {\"design\": {...}, \"design_sha256\": ...}")
        raw, claimed = body["design"], body.get("design_sha256")
        try:
            parse_design(raw)
            digest = design_sha256(raw)
        except (DesignError, KeyError, TypeError) as exc:
            return _error(422, f"build: invalid design: {exc}")
        if claimed is not None and claimed != digest:
            return _error(422, f"build: design_sha256 {claimed!r} does not match the design "
                               f"({digest})")
        for build in self.builds.values():   # a repeated request reconnects to its build
            if build.design_sha256 == digest and build.status != "FAILED":
                return web.json_response(self._build_answer(build))
        if self.state == "RUNNING" or self.busy:
            return _error(409, f"build: the device is {self.state}"
                               f"{' and busy' if self.busy else ''}; stop the brain first")
        build = Build(uuid.uuid4().hex[:16], digest)
        self.builds[build.build_id] = build
        self.busy = True
        self._log("build", f"{build.build_id} {raw.get('name')!r}")
        asyncio.get_running_loop().create_task(self._compile(build, raw))
        return web.json_response({**self._build_answer(build), "accepted": True})

    async def _compile(self, build: Build, raw: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(self.install, raw)
            build.status = "READY"
        except Exception as exc:       # reported in the build status, the device goes on
            build.status, build.error = "FAILED", str(exc)
            self._log("build failed", str(exc))
        finally:
            self.busy = False

    def _build_answer(self, build: Build) -> dict[str, Any]:
        installed = self.installed
        ready = build.status == "READY" and installed is not None \
            and installed.design_sha256 == build.design_sha256
        return {"ok": True, "build_id": build.build_id, "design_sha256": build.design_sha256,
                "status": build.status, "installed": ready, "failed": build.status == "FAILED",
                "error": build.error or None}

    async def _build_status(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        build = self.builds.get(request.match_info["build_id"])
        if build is None:
            return _error(404, f"unknown build {request.match_info['build_id']!r}")
        return web.json_response(self._build_answer(build))

    async def _load(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        data = b""
        if request.content_type.startswith("multipart/"):
            async for part in (await request.multipart()):
                if part.name == "file":
                    data = await part.read(decode=False)
        else:
            data = await request.read()
        if data[:8] == b"ABPKG001":
            return _error(422, "load: signed ABPKG001 packages are compiled for Prima-Lux "
                               "silicon; this emulated device installs brain designs: upload "
                               "a brain.abdesign.json or POST /api/brain/build")
        try:
            raw = json.loads(data)
            installed = self.install(raw, hashlib.sha256(data).hexdigest())
        except ValueError as exc:     # DesignError and bad JSON
            return _error(422, f"load: {exc}")
        except RuntimeError as exc:
            return _error(409, f"load: {exc}")
        return web.json_response({"ok": True, "accepted": True, "package": installed.package})

    async def _run(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        if self.installed is None:
            return _error(409, "run: no brain installed (build one with ab build brain)")
        if self.busy:
            return _error(409, "run: the device is busy (building or saving)")
        if self.state != "RUNNING":
            self.start()
        return web.json_response({"ok": True, "accepted": "run", "state": self.state})

    def start(self) -> None:
        """Start (or resume) the installed brain; a new stream epoch."""
        self._history().new_epoch()
        self.state = "RUNNING"
        self._task = asyncio.get_running_loop().create_task(self._run_loop())
        self._log("run", f"epoch {self._history().epoch} at step {self.step}")

    async def _stop(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        if self.installed is None:
            return _error(409, "stop: no brain installed")
        if self.state == "RUNNING" and not self.busy:
            self.busy = True
            asyncio.get_running_loop().create_task(self.stop(save=True))
        elif self.state != "RUNNING":
            self.state = "STOPPED"
        return web.json_response({"ok": True, "native_response": {"accepted": "stop"},
                                  "state": self.state})

    async def stop(self, save: bool = True) -> None:
        """Stop the run loop, save the neural state, then report STOPPED and idle."""
        self.busy = True
        try:
            self.state = "STOPPING" if self.state == "RUNNING" else self.state
            if self._task is not None:
                task, self._task = self._task, None
                await asyncio.gather(task, return_exceptions=True)
            if save and self.installed is not None and self.network is not None \
                    and self.learning:
                await asyncio.to_thread(self._save_state, self.installed,
                                        self.network.state_arrays())
            self.state = "STOPPED"
            self._log("stopped", f"at step {self.step}{', state saved' if save else ''}")
        except Exception as exc:
            self.state, self.error = "ERROR", f"stop failed: {exc}"
            logger.exception("device stop failed")
        finally:
            self.busy = False

    async def _reset_dynamics(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        if self.installed is None:
            return _error(409, "reset-dynamics: no brain installed")
        if self.busy:
            return _error(409, "reset-dynamics: the device is busy")
        self.reset_dynamics()
        return web.json_response({"ok": True, "accepted": "reset-dynamics",
                                  "state": self.state})

    def reset_dynamics(self) -> None:
        """The installed brain from its initial state: weights, traces, outputs; saved state
        deleted. A running brain goes on in a new stream epoch."""
        installed = self.installed
        self._state_path(installed).unlink(missing_ok=True)
        self.network = Network(installed.graph, seed=self.seed, learning=self.learning)
        self.step = 0
        self.values.clear()
        for latch in self.latches.values():
            latch[:] = False
        if self.state == "RUNNING":
            self._history().new_epoch()
        self._log("reset-dynamics", f"epoch {self._history().epoch}")

    async def _reset(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        if self.installed is None:
            return _error(409, "reset: no brain installed")
        if self.busy:
            return _error(409, "reset: the device is busy")
        if self.state == "RUNNING":
            await self.stop(save=False)
        self.reset_dynamics()
        self.state = "READY"
        return web.json_response({"ok": True, "accepted": "reset", "state": self.state})

    # ---- inputs -------------------------------------------------------------------------
    async def _sensor(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        body = await self._body(request)
        try:
            step = self.post_sensors(body)
        except ValueError as exc:
            return _error(422, f"sensor: {exc}")
        except RuntimeError as exc:
            return _error(409, f"sensor: {exc}")
        return web.json_response({"ok": True, "queued": True, "step": step})

    def post_sensors(self, body: Any) -> int:
        """Hold new input values (and apply rewards); returns the first step they drive."""
        if self.installed is None or self.state != "RUNNING":
            raise RuntimeError(f"the brain is not running (state {self.state})")
        if not isinstance(body, dict) or not 1 <= len(body) <= MAX_SENSOR_POPULATIONS:
            raise ValueError(f"body must map 1..{MAX_SENSOR_POPULATIONS} input populations "
                             "to value lists")
        inputs = {n.name: n for n in self.installed.design.inputs}
        checked: dict[str, np.ndarray] = {}
        for name, values in body.items():
            node = inputs.get(name)
            if node is None:
                raise ValueError(f"unknown input population {name!r}; inputs: {sorted(inputs)}")
            if not isinstance(values, list) or len(values) != node.neurons:
                got = len(values) if isinstance(values, list) else type(values).__name__
                raise ValueError(f"{name}: expected a list of {node.neurons} values, got {got}")
            if not all(not isinstance(v, bool) and isinstance(v, (int, float))
                       and math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"{name}: every value must be a finite number in [0, 1]")
            checked[name] = np.asarray(values, dtype=np.float32)
        self.stats.sensor_posts += 1
        for name, values in checked.items():
            if inputs[name].is_reward:
                self._reward(name, float(values.mean()))
            else:
                self.values[name] = values
        return self.step

    def _reward(self, population: str, magnitude: float) -> None:
        self.stats.rewards += 1
        layers = set(self.installed.reward_layers.get(population, []))
        network = self.network
        if not layers or not network.learning_enabled:
            return
        by_layer = {}
        for rule in network.stdp.layers:
            if rule.id in layers:
                by_layer[rule.id] = magnitude
            else:   # another reward's layer: r = its baseline, no change
                by_layer[rule.id] = magnitude if rule.baseline is None else rule.baseline
        network.apply_reward(magnitude, by_layer)

    # ---- the run loop -------------------------------------------------------------------
    async def _run_loop(self) -> None:
        steps = self.steps_per_cycle
        period_s = steps / 1000.0
        next_start = time.monotonic()
        try:
            while self.state == "RUNNING":
                if self.realtime:
                    delay = next_start - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_start = max(next_start + period_s, time.monotonic() - period_s)
                else:
                    await asyncio.sleep(0)
                if self.state != "RUNNING":
                    break
                self._cycle(steps)
        except Exception as exc:
            self.state, self.error = "ERROR", f"run failed: {exc}"
            logger.exception("device run failed")

    def start_stepped(self) -> None:
        """RUNNING without the paced run loop: the caller runs each cycle (`step_cycle`),
        as an offline loop or a test steps the device in-process."""
        if self.installed is None:
            raise RuntimeError("no brain installed")
        self._history()
        self.state = "RUNNING"

    def _cycle(self, steps: int) -> None:
        items = self.step_cycle(steps)
        self._history().append(items)

    def step_cycle(self, steps: int | None = None) -> list[dict[str, Any]]:
        """Run one cycle of `steps` timesteps (default steps_per_cycle) on the held inputs;
        returns its output frames `{step, outputs: [{t, neurons}]}`, one per timestep."""
        steps = self.steps_per_cycle if steps is None else int(steps)
        installed, network = self.installed, self.network
        rasters = {name: poisson_spikes(self._rng, values * INPUT_RATE_HZ, steps, 1.0)
                   for name, values in self.values.items()}
        t0 = time.perf_counter()
        result = network.run_cycle(rasters, record_all=bool(installed.clear_sources))
        self.last_result = result
        self.stats.last_cycle_ms = (time.perf_counter() - t0) * 1000.0
        active: list[list[str]] = [[] for _ in range(steps)]
        for output in installed.design.outputs:
            spikes = result.outputs[output.name].astype(bool)
            latch = self.latches[output.name]
            clear = np.zeros(steps)
            for source, strength, size in installed.clear_sources.get(output.name, []):
                clear += strength * result.outputs[source].sum(axis=1) / size
            for t in range(steps):
                if clear[t] >= CLEAR_FRACTION:
                    latch[:] = False
                switched_on = spikes[t] & ~latch
                latch |= switched_on
                if switched_on.any():
                    active[t].extend(f"{output.name}:{i}" for i in np.flatnonzero(switched_on))
        items = [{"step": self.step + t, "outputs": [{"t": self.step + t, "neurons": names}]}
                 for t, names in enumerate(active)]
        self.step += steps
        self.stats.frames += steps
        return items

    # ---- outputs ------------------------------------------------------------------------
    async def _events(self, request: web.Request) -> web.Response:
        denied = self._authorized(request)
        if denied:
            return denied
        history = self._history()
        items = [json.loads(r.split(b"data: ", 1)[1])["item"]
                 for r in list(history.records)[-100:]]
        return web.json_response({"ok": True, "state": self.state, "items": items,
                                  "log": list(self.stats.log)})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        denied = self._authorized(request)
        if denied:
            return denied
        history = self._history()
        replay = request.query.get("replay", "0").lower() in ("1", "true", "yes")
        cursor = request.query.get("cursor", "").strip()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        epoch = history.epoch
        self._streams[id(request)] = request
        try:
            if cursor:
                cursor_epoch, _, text = cursor.rpartition(":")
                if not cursor_epoch or not text.isdigit():
                    await response.write(sse("error", {"message": f"bad cursor {cursor!r}: "
                                                       "expected epoch:sequence"}))
                    return response
                position = int(text)
                if cursor_epoch != epoch:
                    await response.write(sse("reset", {"message": f"the brain run changed "
                                                       f"(cursor epoch {cursor_epoch}, now "
                                                       f"{epoch}): start a fresh session"}))
                    return response
                if position > history.last_sequence:
                    await response.write(sse("error", {"message": f"cursor {cursor} is ahead "
                                                       f"of the device ({history.last_sequence})"}))
                    return response
                if position < history.first_sequence - 1:
                    await response.write(self._gap(position, history))
                    return response
            else:
                position = history.first_sequence - 1 if replay else history.last_sequence
            await response.write(sse("hello", {"cursor": f"{epoch}:{position}", "epoch": epoch,
                                               "sequence": position, "state": self.state}))
            while not self._closing:
                if history.epoch != epoch:
                    await response.write(sse("reset", {"message": "the brain run changed "
                                                       "(run or reset-dynamics): start a "
                                                       "fresh session"}))
                    return response
                if position < history.first_sequence - 1:    # fell behind the history
                    await response.write(self._gap(position, history))
                    return response
                records = history.since(position)
                if records:
                    position += len(records)
                    await response.write(b"".join(records))
                else:
                    await history.wait(KEEPALIVE_S)
                    if not history.since(position) and history.epoch == epoch:
                        await response.write(b": keepalive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams.pop(id(request), None)
        return response

    @staticmethod
    def _gap(position: int, history: FrameHistory) -> bytes:
        return sse("gap", {"message": f"frames {position + 1}..{history.first_sequence - 1} "
                                      "are no longer retained", "from": position + 1,
                           "to": history.first_sequence - 1})

    def drop_streams(self) -> int:
        """Cut every open output stream's connection (as a network drop would); returns
        how many. Clients resume from their cursors."""
        dropped = 0
        for request in list(self._streams.values()):
            if request.transport is not None:
                request.transport.close()
                dropped += 1
        return dropped

    async def close(self) -> None:
        """Stop a running brain (saving its state) and end the open streams."""
        if self.state == "RUNNING":
            await self.stop(save=True)
        self._closing = True
        if self.history is not None:
            self.history._wake()
