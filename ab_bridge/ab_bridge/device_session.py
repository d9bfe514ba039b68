"""A session with a Prima-Lux device (artificialbrains-sdk 0.4's protocol). No rclpy.

`DeviceSession` is brain_session's device backend, beside `session.BrainSession` (the
realtime 0.1 protocol) and with its interface (start, stop, send_reward, inputs, stats,
results and holds to the same `SessionListener`):

- start: `GET /api/status` (an installed brain is required), `POST /api/brain/run` and wait
  for RUNNING, then the output stream `GET /api/brain/stream` on a thread of its own;
- inputs: each configured ROS input, when a message arrives, is turned into values
  (device_inputs.py), encoded into its named input population(s) and posted at once
  (`POST /api/brain/sensor`) by a sender thread; never scheduled. What arrives while a
  post is under way goes out in the next one, one frame with the newest vector of every
  population (an older one not yet sent is superseded and counted: the device acts on
  the latest observation, not on a backlog);
- outputs: each frame `{step, outputs: [{t, neurons: ["POP:i"]}]}` is one timestep; every
  `steps_per_command` steps (aligned on step numbers) are decoded per step by the decoder
  mapping into one CycleResult (`ActuatorCommand` with that many steps);
- rewards: `Reward` -> every reward input population of the design, encoded as
  `reward_population`: a population named in `layer_ids` gets its reward, the others the
  global reward. A run started with `{"learning": false}` forwards none (the device
  learns only from rewards);
- the stream resumes from its cursor after a drop, so no step is lost or repeated;
  whatever the device cannot give again (a `gap`, a jump of the sequence) is counted as
  `steps_lost` and reported, a repeated frame is dropped and counted; the actuators hold
  while the link is down and when the device says the run changed (`reset`);
- stop: `POST /api/brain/stop`, then `GET /api/status` until STOPPED and not busy (the
  device saved its state), actuators hold.

The brain's I/O contract comes from its design (`brain.abdesign.json`, or a contract JSON
with `inputs` and `outputs`): `SessionConfig.project_id` names the file, or a design
bundled with embedded_brain (`demo_arm` -> embedded_brain/designs/demo_arm.abdesign.json).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import requests

from ab_bridge.decoding import CycleRasters, DecodeError, Decoder
from ab_bridge.device_inputs import DeviceInput, encode, frame_values, parse_device_inputs
from ab_bridge.inputs import InputError, Provider, validate_frame
from ab_bridge.session import (
    CycleResult,
    SessionConfig,
    SessionError,
    SessionListener,
    SessionStats,
)

KEY_ENV = "AB_DEVICE_API_KEY"
URL_ENV = "AB_DEVICE_URL"
DEFAULT_URL = "http://127.0.0.1:8765"
FAULT_STATES = ("ERROR", "FAULT", "SAFE_MODE", "UNAVAILABLE")


def load_env_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped)."""
    values = {}
    for line in Path(path).expanduser().read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


def device_settings(url: str, api_key: str | None) -> tuple[str, str]:
    """(device origin, key): the key parameter, else $AB_DEVICE_API_KEY; the URL parameter,
    or $AB_DEVICE_URL when the parameter is left at its default. Both may come from the
    .env file named by $AB_ENV (the SDK's `ab run` sets it)."""
    env = dict(os.environ)
    if env.get("AB_ENV") and Path(env["AB_ENV"]).expanduser().is_file():
        env = {**load_env_file(env["AB_ENV"]), **env}
    if url.rstrip("/") == DEFAULT_URL and env.get(URL_ENV):
        url = env[URL_ENV]
    parsed = urlparse(url.rstrip("/"))
    if parsed.scheme not in ("http", "https") or not parsed.hostname or \
            parsed.path not in ("", "/"):
        raise SessionError(f"device URL must be the device origin (http(s)://host:port, no "
                           f"path), got {url!r}")
    key = api_key or env.get(KEY_ENV) or ""
    if not key.startswith("plx_"):
        raise SessionError(f"device API key must start with plx_ (parameter api_key or "
                           f"${KEY_ENV}); {'none given' if not key else 'got another form'}")
    return url.rstrip("/"), key


@dataclass
class DeviceContract:
    """What the node reads of a started run (as session.Contract)."""

    run_id: str
    gamma: int                      # steps per published command
    output_ids: list[str]
    dt_s: float = 0.001


@dataclass
class BrainIO:
    inputs: dict[str, int]          # population -> width (reward ones included)
    rewards: dict[str, int]
    outputs: dict[str, int]


def reward_input(name: str) -> bool:
    return name == "REWARD" or name.startswith("REWARD_") or name.endswith("_REWARD")


def load_brain_io(name: str) -> BrainIO:
    """The I/O contract of a design or contract file, or of a bundled design."""
    path = Path(name).expanduser()
    if not path.suffix:                      # a design bundled with the embedded brain
        try:
            from embedded_brain.abdesign import bundled_design_path
        except ImportError:
            raise SessionError(f"brain design {name!r}: not a file, and the embedded_brain "
                               "package (which bundles designs by name) is not installed; "
                               "give the path of a .abdesign.json or contract file") from None
        path = bundled_design_path(name)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SessionError(f"brain design {name!r}: cannot read {path}: {exc}") from None
    if isinstance(raw.get("nodes"), list):     # a design
        nodes = raw["nodes"]
        inputs = {n["name"]: int(n["neurons"]) for n in nodes if n.get("kind") == "input"}
        outputs = {n["name"]: int(n.get("neurons", 1)) for n in nodes
                   if n.get("kind") == "output"}
    elif isinstance(raw.get("inputs"), list) and isinstance(raw.get("outputs"), list):
        inputs = {i["id"]: int(i["n"]) for i in raw["inputs"]}
        outputs = {o["id"]: int(o.get("n", 1)) for o in raw["outputs"]}
    else:
        raise SessionError(f"{path}: neither a brain design (nodes) nor a contract "
                           "(inputs and outputs)")
    return BrainIO(inputs, {k: v for k, v in inputs.items() if reward_input(k)}, outputs)


@dataclass
class DeviceStats(SessionStats):
    steps: int = 0
    steps_lost: int = 0
    steps_repeated: int = 0
    gaps: int = 0
    inputs_posted: int = 0
    input_errors: int = 0
    inputs_superseded: int = 0      # replaced by a newer one of its population before sent
    deviations_unsupported: int = 0
    latencies_s: deque = field(default_factory=lambda: deque(maxlen=2000))


class DeviceLink:
    """HTTP to one device: control calls on the caller's thread (one requests session
    each for control, sensors and the stream: requests sessions are not thread safe)."""

    def __init__(self, url: str, api_key: str, timeout_s: float = 10.0) -> None:
        self.base_url = url
        self.timeout_s = timeout_s
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.control = requests.Session()
        self.sensors = requests.Session()

    def request(self, method: str, path: str, http: requests.Session | None = None,
                **kwargs: Any) -> dict[str, Any]:
        try:
            answer = (http or self.control).request(method, self.base_url + path,
                                                    headers=self.headers,
                                                    timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise SessionError(f"cannot reach the device at {self.base_url}: "
                               f"{type(exc).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code >= 400:
            reason = body.get("detail") if isinstance(body, dict) else None
            raise SessionError(f"device HTTP {answer.status_code} on {path}: "
                               f"{reason or answer.reason}")
        if not isinstance(body, dict):
            raise SessionError(f"device answered {path} with {type(body).__name__}, "
                               "not an object")
        return body

    def close(self) -> None:
        self.control.close()
        self.sensors.close()


class _Providers:
    """Where the node registers each input's provider (as on session.InputStreamer)."""

    def __init__(self) -> None:
        self.by_id: dict[str, Provider] = {}

    def register_input(self, input_id: str, provider: Provider) -> None:
        self.by_id[input_id] = provider


class DeviceSession:
    """brain_session's backend for the Prima-Lux device protocol."""

    def __init__(self, config: SessionConfig, listener: SessionListener, *,
                 inputs: Any = None, steps_per_command: int = 10,
                 stop_timeout_s: float = 60.0) -> None:
        if config.policies_dir or config.use_reward_policy:
            raise SessionError("policies_dir / use_reward_policy: the policies (contract "
                               "files, reward and deviation policies) are the realtime "
                               "protocol's; leave them empty on the device protocol")
        url, key = device_settings(config.url, config.api_key)
        self.config = config
        self.listener = listener
        self.rest = self.link = DeviceLink(url, key, config.request_timeout_s)
        self.io = load_brain_io(config.project_id)
        self.device_inputs: dict[str, DeviceInput] = parse_device_inputs(inputs)
        self._check_io()
        self.decoder = Decoder(config.decoder_mapping)
        self.widths = self._output_widths()
        self.steps_per_command = int(steps_per_command)
        self.stop_timeout_s = stop_timeout_s
        self.streamer = _Providers()          # the node registers its providers here
        self.stats = DeviceStats()
        self.contract: DeviceContract | None = None
        self.learning = True
        self._running = False
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._sender: threading.Thread | None = None
        # Observations waiting for the sender, newest per population: posted together
        # as soon as the previous post is answered.
        self._outbox: dict[str, tuple[float, list[float]]] = {}
        self._outbox_changed = threading.Condition()
        self._pending_steps: deque = deque()  # (first step driven, post time) of inputs
        self._arrivals: OrderedDict[int, float] = OrderedDict()   # step -> frame arrival
        self._batch: list[dict[str, Any]] = []
        self.cursor: str | None = None
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self._wanted: dict[str, Any] | None = None    # keep_run's options
        self._keeper: threading.Thread | None = None
        self._keeper_wake = threading.Condition()
        self._closed = False

    def __repr__(self) -> str:
        return f"DeviceSession({self.link.base_url!r})"

    # -- configuration --------------------------------------------------------------------
    def _check_io(self) -> None:
        for binding in self.device_inputs.values():
            for population in binding.populations:
                width = self.io.inputs.get(population)
                if width is None:
                    raise SessionError(f"inputs.{binding.input_id}: the brain has no input "
                                       f"population {population!r} (inputs: "
                                       f"{sorted(self.io.inputs)})")
                if binding.n is not None and binding.n != width:
                    raise SessionError(f"inputs.{binding.input_id}.n: {binding.n}, but "
                                       f"{population!r} has {width} neurons")

    def _output_widths(self) -> dict[str, int]:
        widths = {}
        for entry in self.decoder.entries:
            width = self.io.outputs.get(entry.population)
            if width is None:
                raise SessionError(f"decoder_mapping: the brain has no output "
                                   f"{entry.population!r} (outputs: {sorted(self.io.outputs)})")
            if entry.neuron_count and entry.neuron_count != width:
                raise SessionError(f"decoder_mapping: n={entry.neuron_count} for "
                                   f"{entry.population!r}, which has {width} neurons")
            widths[entry.population] = width
        return widths

    # -- the interface brain_session uses ----------------------------------------------
    @property
    def run_id(self) -> str:
        return self.contract.run_id if self.contract else ""

    @property
    def running(self) -> bool:
        return self._running

    def defer_needs(self, ready: Any, max_wait_s: float) -> None:
        raise SessionError("fresh_inputs: no io:need on the device protocol, every "
                           "observation is posted as it arrives; leave it empty")

    def serve_pending(self) -> bool:
        return False

    def send_robot_state(self, state: Mapping[str, Any]) -> bool:
        return False    # joints are inputs like any other here

    def extra_diagnostics(self) -> dict[str, Any]:
        s = self.stats
        return {"protocol": "device", "steps": s.steps, "steps_lost": s.steps_lost,
                "steps_repeated": s.steps_repeated, "stream_gaps": s.gaps,
                "inputs_posted": s.inputs_posted, "input_errors": s.input_errors,
                "inputs_superseded": s.inputs_superseded, "cursor": self.cursor or ""}

    def status(self) -> dict[str, Any]:
        return self.link.request("GET", "/api/status")

    def start(self, options: Mapping[str, Any] | None = None) -> DeviceContract:
        options = dict(options or {})
        learning = options.pop("learning", True)
        options.pop("pace", None)          # the device paces itself
        if options:
            raise SessionError(f"run options {sorted(options)} do not apply to a device "
                               "(it takes 'learning')")
        if not isinstance(learning, bool):
            raise SessionError(f"run option 'learning' must be a boolean, got {learning!r}")
        with self._lock:
            if self._running:
                raise SessionError("the device session is already running")
            engine = self._engine()
            if not engine.get("has_brain"):
                raise SessionError("no brain installed on the device (build one: ab build brain)")
            if engine.get("state") != "RUNNING":
                self.link.request("POST", "/api/brain/run")
                engine = self._wait_engine(lambda e: e.get("state") == "RUNNING", 15.0,
                                           "RUNNING")
            self.learning = learning
            self._stop.clear()
            self.cursor = None
            self._batch = []
            self.stats.link = "connecting"
            self.contract = DeviceContract(engine.get("native_brain_name") or "device",
                                           self.steps_per_command, list(self.io.outputs))
            self._running = True
            self._reader = threading.Thread(target=self._read_stream, name="device-stream",
                                            daemon=True)
            self._sender = threading.Thread(target=self._send_inputs, name="device-sensors",
                                            daemon=True)
            self._reader.start()
            self._sender.start()
            return self.contract

    def _engine(self) -> dict[str, Any]:
        engine = self.status().get("engine")
        if not isinstance(engine, dict) or not isinstance(engine.get("state"), str):
            raise SessionError("device status has no engine state")
        if engine["state"] in FAULT_STATES or engine.get("error"):
            raise SessionError(f"device is {engine['state']}: {engine.get('error')}")
        return engine

    def _wait_engine(self, done: Any, timeout_s: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            engine = self._engine()
            if done(engine):
                return engine
            if time.monotonic() > deadline:
                raise SessionError(f"the device did not reach {what} in {timeout_s:.0f} s "
                                   f"(state {engine.get('state')}, busy {engine.get('busy')})")
            time.sleep(0.1)

    def keep_run(self, options: Mapping[str, Any] | None = None) -> None:
        """Keep a run with `options` going from now on: started (and retried with backoff
        while the device cannot be reached or refuses) whenever none runs; `stop()` ends
        the wish. The listener's `on_run(contract)` hears of each start."""
        with self._keeper_wake:
            self._wanted = dict(options or {})
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="device-keeper",
                                                daemon=True)
                self._keeper.start()
            self._keeper_wake.notify_all()

    def _keep(self) -> None:
        first = getattr(self.config, "start_retry_s", self.config.reconnect_delay_s)
        longest = getattr(self.config, "start_retry_max_s", self.config.reconnect_delay_max_s)
        delay = first
        while True:
            with self._keeper_wake:
                while not self._closed and (self._wanted is None or self._running):
                    self._keeper_wake.wait(0.5)
                if self._closed:
                    return
                wanted = dict(self._wanted)
            try:
                contract = self.start(wanted)
            except SessionError as error:
                self.stats.start_attempts += 1
                self.stats.link = "starting"
                self._error(f"start run failed (try {self.stats.start_attempts}, next in "
                            f"{delay:.1f} s): {error}")
                with self._keeper_wake:
                    self._keeper_wake.wait(delay)
                delay = min(delay * 2, longest)
                continue
            delay = first
            self.stats.runs_started += 1
            on_run = getattr(self.listener, "on_run", None)
            if on_run is not None:
                on_run(contract)

    def stop(self) -> str:
        """Stop the brain and wait until the device is STOPPED and idle (state saved);
        the actuators hold. Returns the run id ('' when none ran)."""
        with self._keeper_wake:
            self._wanted = None
        with self._lock:
            if not self._running:
                return ""
            self._running = False
            self._stop.set()
        # No command after the hold: the stream reader ends first.
        response = self._response
        if response is not None:
            response.close()
        for thread in (self._reader, self._sender):
            if thread is not None:
                thread.join(timeout=5.0)
        self.listener.on_hold("run stopped")
        run_id = self.run_id
        try:
            answer = self.link.request("POST", "/api/brain/stop")
            if answer.get("ok") is not True:
                raise SessionError(f"the device did not accept stop: {answer}")
            self._wait_engine(lambda e: e.get("state") == "STOPPED" and not e.get("busy"),
                              self.stop_timeout_s, "STOPPED and idle")
        except SessionError as error:
            self._error(f"stop: {error}")
        self.stats.link = "stopped"
        return run_id

    def close(self) -> None:
        self.stop()
        with self._keeper_wake:
            self._closed = True
            self._keeper_wake.notify_all()
        if self._keeper is not None:
            self._keeper.join(timeout=5.0)
        self.link.close()

    # -- inputs -------------------------------------------------------------------------
    def input_arrived(self, input_id: str) -> bool:
        """A new message of `input_id` arrived: encode it and queue its post. False when it
        is not a device input or there is no run."""
        binding = self.device_inputs.get(input_id)
        provider = self.streamer.by_id.get(input_id) if binding else None
        if binding is None or provider is None or not self._running:
            return False
        try:
            frame = provider()
            if frame is None:
                return False
            body = binding.encode(frame_values(binding, validate_frame(frame, input_id)))
        except (InputError, ValueError, KeyError) as error:
            self.stats.input_errors += 1
            self._error(str(error))
            return False
        return self._queue(body)

    def post(self, body: Mapping[str, Sequence[float]]) -> bool:
        """Queue one frame of encoded populations (already [0, 1] vectors)."""
        return self._running and self._queue(dict(body))

    def _queue(self, body: dict[str, list[float]]) -> bool:
        now = time.monotonic()
        with self._outbox_changed:
            for population, vector in body.items():
                if population in self._outbox:
                    self.stats.inputs_superseded += 1
                    queued_s = self._outbox[population][0]   # it has waited since then
                else:
                    queued_s = now
                self._outbox[population] = (queued_s, vector)
            self._outbox_changed.notify()
        return True

    def _send_inputs(self) -> None:
        while not self._stop.is_set():
            with self._outbox_changed:
                if not self._outbox:
                    self._outbox_changed.wait(0.2)
                pending, self._outbox = self._outbox, {}
            if not pending:
                continue
            body = {population: vector for population, (_, vector) in pending.items()}
            sensors = [t for p, (t, _) in pending.items() if p not in self.io.rewards]
            queued_s = min(sensors) if sensors else None
            try:
                answer = self.link.request("POST", "/api/brain/sensor", self.link.sensors,
                                           json=body)
            except SessionError as error:
                self.stats.input_errors += 1
                self._error(f"sensor post {sorted(body)}: {error}")
                continue
            if answer.get("ok") is not True or answer.get("queued") is not True:
                self.stats.input_errors += 1
                self._error(f"device did not queue {sorted(body)}: {answer}")
                continue
            self.stats.inputs_posted += 1
            step = answer.get("step")
            if isinstance(step, int) and queued_s is not None:
                with self._lock:
                    arrived = self._arrivals.get(step)
                    if arrived is not None:    # its frame came before the answer did
                        self._latency(arrived - queued_s)
                    else:
                        self._pending_steps.append((step, queued_s))

    def send_reward(self, cycle: int, global_reward: Any,
                    by_layer: Mapping[str, Any] | None = None) -> bool:
        """Rewards into the reward input populations (see the module doc)."""
        if not self._running:
            self.stats.rewards_without_run += 1
            return False
        if not self.learning or not self.io.rewards:
            return False
        by_layer = dict(by_layer or {})
        unknown = sorted(set(by_layer) - set(self.io.rewards))
        if unknown:
            self._error(f"reward for cycle {cycle}: {unknown} are not reward input "
                        f"populations of the brain ({sorted(self.io.rewards)})")
            return False
        body = {}
        for population, width in self.io.rewards.items():
            value = by_layer.get(population, global_reward)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                self._error(f"reward for cycle {cycle}: {population} must be a finite "
                            f"number, got {value!r}")
                return False
            body[population] = encode(float(value), "reward_population", width)
        sent = self._queue(body)
        self.stats.rewards_sent += int(sent)
        return sent

    def send_deviation(self, feedback_id: str, values: Sequence[float], cycle: int) -> bool:
        if self.stats.deviations_unsupported == 0:
            self._error("deviations have no device encoding (no feedback rasters on this "
                        "protocol): dropped")
        self.stats.deviations_unsupported += 1
        return False

    # -- outputs --------------------------------------------------------------------------
    def _read_stream(self) -> None:
        delay = self.config.reconnect_delay_s
        was_up = False
        while not self._stop.is_set():
            lost = "stream ended"
            try:
                with requests.get(self.link.base_url + "/api/brain/stream",
                                  headers=self.link.headers, stream=True,
                                  params={"replay": 0, "cursor": self.cursor or ""},
                                  timeout=(self.config.request_timeout_s, 60.0)) as answer:
                    self._response = answer
                    if answer.status_code != 200:
                        raise SessionError(f"output stream HTTP {answer.status_code}")
                    for kind, data, ident in self._events(answer):
                        if self._stop.is_set():
                            return
                        if kind == "hello":
                            if was_up:
                                self.stats.reconnects += 1
                            was_up = True
                            delay = self.config.reconnect_delay_s
                            self._hello(data)
                        elif kind == "frame":
                            self._frame(data, ident)
                        elif kind in ("gap", "reset", "error"):
                            self._stream_event(kind, data)
                            break
            except (requests.RequestException, SessionError, ValueError, AttributeError,
                    OSError) as error:     # (a response closed by stop() raises either)
                lost = f"{type(error).__name__}: {error}"
            finally:
                self._response = None
            if self._stop.is_set():
                return
            self.stats.link = "disconnected"
            self.listener.on_link("disconnected", lost)
            self.listener.on_hold(f"device stream lost ({lost})")
            self._stop.wait(delay * (0.8 + 0.4 * np.random.random()))
            delay = min(delay * 2, self.config.reconnect_delay_max_s)

    @staticmethod
    def _events(answer: requests.Response):
        kind, data, ident = "message", [], None
        for line in answer.iter_lines(decode_unicode=True):
            if line is None:
                continue
            if line == "":
                if data:
                    yield kind, json.loads("\n".join(data)), ident
                kind, data, ident = "message", [], None
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif line.startswith("id:"):
                ident = line[3:].strip()

    def _hello(self, data: Mapping[str, Any]) -> None:
        cursor = data.get("cursor")
        if not isinstance(cursor, str) or ":" not in cursor:
            raise SessionError(f"stream hello without a cursor: {data}")
        if self.cursor is not None and cursor != self.cursor:
            self._error(f"the device resumed at {cursor}, not at {self.cursor}")
        self.cursor = cursor
        self.stats.link = "connected"
        self.listener.on_link("connected", f"device stream at {cursor}")

    def _stream_event(self, kind: str, data: Mapping[str, Any]) -> None:
        message = str(data.get("message", kind))
        if kind == "gap":
            lost = int(data.get("to", 0)) - int(data.get("from", 0)) + 1
            self.stats.gaps += 1
            self.stats.steps_lost += max(lost, 0)
            self._error(f"device stream gap: {message}; {max(lost, 0)} steps lost")
        else:
            self._error(f"device stream {kind}: {message}")
        self.listener.on_hold(f"device stream {kind}")
        self.cursor = None       # go on from what the device has now
        self._batch = []

    def _frame(self, data: Mapping[str, Any], ident: str | None) -> None:
        epoch, sequence, item = data.get("epoch"), data.get("sequence"), data.get("item")
        if not isinstance(sequence, int) or not isinstance(item, dict) \
                or not isinstance(item.get("step"), int):
            self.stats.errors += 1
            self._error(f"malformed device frame {ident}: {str(data)[:200]}")
            return
        last_epoch, _, last = (self.cursor or ":0").rpartition(":")
        if last_epoch and epoch != last_epoch:
            self._error(f"device frame of epoch {epoch} in stream {last_epoch}: skipped")
            return
        expected = int(last) + 1
        if sequence < expected:
            self.stats.steps_repeated += 1
            return
        if sequence > expected:
            self.stats.gaps += 1
            self.stats.steps_lost += sequence - expected
            self._error(f"device frames {expected}..{sequence - 1} missing: "
                        f"{sequence - expected} steps lost")
        self.cursor = f"{epoch}:{sequence}"
        self.stats.steps += 1
        now = time.monotonic()
        self._measure(item["step"], now)
        batch = self._batch
        if batch and item["step"] != batch[-1]["step"] + 1:
            self._flush(now)
            batch = self._batch
        batch.append(item)
        if (item["step"] + 1) % self.steps_per_command == 0 \
                or len(batch) >= self.steps_per_command:
            self._flush(now)

    def _measure(self, step: int, now: float) -> None:
        with self._lock:
            self._arrivals[step] = now
            if len(self._arrivals) > 4096:
                self._arrivals.popitem(last=False)
            while self._pending_steps and self._pending_steps[0][0] <= step:
                _, posted = self._pending_steps.popleft()
                self._latency(now - posted)

    def _latency(self, seconds: float) -> None:
        self.stats.last_input_to_output_s = seconds
        self.stats.latencies_s.append(seconds)

    def _flush(self, received_s: float) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        t0 = time.perf_counter()
        steps = np.array([item["step"] for item in batch], dtype=np.int64)
        populations = list(self.widths)
        rasters = [np.zeros((len(batch), w), dtype=np.uint8) for w in self.widths.values()]
        index = {p: i for i, p in enumerate(populations)}
        try:
            for t, item in enumerate(batch):
                for row in item.get("outputs") or []:
                    for name in row.get("neurons") or []:
                        population, _, neuron = str(name).rpartition(":")
                        i = index.get(population)
                        if i is not None and neuron.isdigit() and \
                                int(neuron) < rasters[i].shape[1]:
                            rasters[i][t, int(neuron)] = 1
            spikes = CycleRasters(steps, populations, rasters)
            decoded = self.decoder.decode(spikes)
        except (DecodeError, AttributeError, TypeError) as error:
            self.stats.errors += 1
            self._error(f"device frames {steps[0]}..{steps[-1]}: {error}")
            return
        self.stats.cycles += 1
        self.stats.cycle_times.append(received_s)
        self.stats.last_decode_latency_s = time.perf_counter() - t0
        self.listener.on_cycle(CycleResult(
            self.run_id, int(steps[0]) // self.steps_per_command, spikes, decoded, 0.001,
            received_s, self.stats.last_decode_latency_s, self.stats.last_input_to_output_s))

    def _error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        self.listener.on_error(message)
