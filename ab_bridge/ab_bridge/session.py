"""A brain run from start to stop: REST, realtime link, inputs, decoding, rewards. No rclpy.

`BrainSession` owns the protocol: it starts a run over REST, syncs the
contract into the policies folder, connects the realtime link, answers
`io:need` from the input streamer, validates and decodes every
`cycle:update`, sends rewards and deviations, and calls the user policies.
Results go to the `SessionListener` callbacks, on the realtime thread; the
ROS node hands them over to its executor. Bad payloads are reported through
`on_error` and skipped: the session keeps running.

A deviation goes out as a Feedback chunk when it is sent (`send_deviation`); the server
counts it for the cycle that waits for its inputs, so the next answer to `io:need`
leaves that feedback out (without one since the last answer, the answer carries the
deviation policy's, or zeros).

`defer_needs(ready, max_wait_s)` holds each `io:need` until `ready()` (e.g. a camera
frame no earlier cycle was served has arrived; the caller calls `serve_pending()` when
that may have changed, and the answer goes out on its thread) or `max_wait_s` passed.
The realtime thread never waits for it, so a cycle's outputs are handled while the next
cycle's need waits for its frame.

`keep_run(options)` keeps a run going: it starts one (retrying with backoff, one
report per failed try, until the brain answers: start-up order does not matter), and
starts a new one with the same options when the server no longer knows the run (a
restarted server). `stop()` ends that. A run that is connected but delivers no cycle
for `stall_after_s` is reported as stalled and the actuators hold.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ab_bridge.contract import (
    Contract,
    ContractError,
    Policies,
    load_policies,
    parse_contract,
    sync_policies,
)
from ab_bridge.decoding import (
    MAX_NEURONS,
    CycleRasters,
    DecodedCycle,
    DecodeError,
    Decoder,
    neuron_event_to_cycle,
    rows_to_cycle,
)
from ab_bridge.inputs import InputError, InputStreamer, Need, parse_io_need
from ab_bridge.policies import (
    PolicyError,
    build_reward,
    clamp_deviation,
    feedback_raster,
    raster_bytes,
)
from ab_bridge.realtime import RealtimeClient
from ab_bridge.rest import RestClient, resolve_api_key, server_root
from node_kit import hops


class SessionError(RuntimeError):
    """A session operation that failed (start without server, bad contract...)."""


@dataclass
class SessionConfig:
    url: str
    project_id: str
    api_key: str | None = None
    namespace: str = "/ab"
    decoder_mapping: list[dict[str, Any]] = field(default_factory=list)
    policies_dir: str = ""
    use_reward_policy: bool = False
    reconnect_delay_s: float = 0.5
    reconnect_delay_max_s: float = 5.0
    request_timeout_s: float = 10.0
    max_neurons: int = MAX_NEURONS
    #: Shortest interval between two reports of the server's io:error messages.
    server_error_interval_s: float = 1.0
    #: keep_run: first delay between start attempts (doubles up to start_retry_max_s).
    start_retry_s: float = 0.5
    start_retry_max_s: float = 10.0
    #: A connected run with no cycle for this long is stalled (hold, reported); 0: never.
    stall_after_s: float = 3.0
    #: close(): the longest wait for each step (the lock, the link, the REST stop).
    close_timeout_s: float = 2.0


@dataclass
class CycleSummary:
    """What a reward policy sees of one cycle."""

    cycle: int
    spike_counts: dict[str, int]
    channels: list[str]
    deltas: np.ndarray


@dataclass
class CycleResult:
    """One decoded output cycle."""

    run_id: str
    cycle: int
    spikes: CycleRasters
    decoded: DecodedCycle
    dt_s: float
    received_s: float
    decode_latency_s: float
    input_to_output_s: float | None
    #: The brain's own compute time for the cycle (its `computeMs`), when it says.
    brain_compute_ms: float | None = None


class SessionListener(Protocol):
    def on_cycle(self, result: CycleResult) -> None: ...
    def on_hold(self, reason: str) -> None: ...
    def on_link(self, state: str, detail: str) -> None: ...
    def on_error(self, message: str) -> None: ...


@dataclass
class SessionStats:
    link: str = "idle"
    cycles: int = 0
    errors: int = 0
    last_error: str = ""
    last_decode_latency_s: float = 0.0
    last_input_to_output_s: float | None = None
    chunks_sent: int = 0
    rewards_sent: int = 0
    deviations_sent: int = 0
    reconnects: int = 0
    server_errors: int = 0       # io:error messages from the server
    out_of_order: int = 0        # cycle:update older than one already published (dropped)
    rewards_without_run: int = 0     # rewards that came while no run was running (dropped)
    deviations_without_run: int = 0  # deviations likewise
    start_attempts: int = 0      # failed start attempts since the last started run
    runs_started: int = 0
    runs_lost: int = 0           # runs the server no longer knew (restarted server)
    stalled: bool = False        # connected, but no cycle for stall_after_s
    cycle_times: deque = field(default_factory=lambda: deque(maxlen=50))

    def cycle_rate_hz(self, now: float | None = None, window_s: float = 2.0) -> float:
        """Cycles per second over the last `window_s` (0 when none came in it, so a stall
        shows at once)."""
        now = time.monotonic() if now is None else now
        times = [t for t in self.cycle_times if now - t <= window_s]
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


class BrainSession:
    """The client side of one brain project (one run at a time)."""

    def __init__(self, config: SessionConfig, listener: SessionListener,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not config.project_id:
            raise ValueError("project_id must be non-empty")
        self.config = config
        self.listener = listener
        self._clock = clock
        self._api_key = resolve_api_key(config.api_key)
        self.rest = RestClient(config.url, self._api_key, config.request_timeout_s)
        self.decoder = Decoder(config.decoder_mapping)
        self.streamer = InputStreamer()
        self.stats = SessionStats()
        self.contract: Contract | None = None
        self.policies = Policies(None, None)
        self._link: RealtimeClient | None = None
        self._lock = threading.RLock()
        self._inputs_sent_at: dict[int, float] = {}
        self._deviations: dict[str, np.ndarray] = {}
        # Feedback ids whose deviation went out (send_deviation) since the last answer to
        # io:need: the server has it for the cycle that waits, the answer leaves it out.
        self._feedback_sent: set[str] = set()
        self._feedback_baseline: dict[str, np.ndarray] = {}
        self._was_connected = False          # this run's link has been up before
        self._last_cycle: int | None = None  # newest cycle published on this connection
        self._server_error_reported_s = -math.inf
        self._connected_at = clock()
        self._server_errors_unreported = 0
        # Deferred needs (defer_needs): the one waiting, as (cycle, needs, deadline); its
        # lock and condition also wake the thread that answers it at its deadline.
        self._ready: Callable[[], bool] | None = None
        self._max_wait_s = 0.0
        self._pending: tuple[int, list[Need], float] | None = None
        self._pending_changed = threading.Condition()
        self._deadline_thread: threading.Thread | None = None
        self._closed = False
        self._serving = threading.Lock()     # one answer at a time, whichever thread
        # keep_run: the options of the run to keep (None: none wanted), the thread that
        # keeps it, and (run id, why) when that run must be replaced (set on the realtime
        # thread; "" when not).
        self._wanted: dict[str, Any] | None = None
        self._keeper: threading.Thread | None = None
        self._keeper_wake = threading.Condition()
        self._run_lost_reason: tuple[str, str] | str = ""

    def __repr__(self) -> str:
        return f"BrainSession({self.rest.base_url!r}, project={self.config.project_id!r})"

    @property
    def run_id(self) -> str:
        return self.contract.run_id if self.contract else ""

    @property
    def running(self) -> bool:
        return self._link is not None

    def start(self, options: Mapping[str, Any] | None = None) -> Contract:
        """Start a run and connect (the link comes up in the background)."""
        with self._lock:
            if self._link is not None:
                raise SessionError(f"run {self.run_id!r} is already running")
            try:
                contract = parse_contract(self.rest.start(self.config.project_id,
                                                          dict(options or {})))
            except ContractError as error:
                raise SessionError(f"bad start response: {error}") from None
            except Exception as error:
                raise SessionError(str(error)) from None
            self.contract = contract
            self._check_mapping(contract)
            if self.config.policies_dir:
                try:
                    sync_policies(contract.raw, self.config.policies_dir)
                    self.policies = load_policies(self.config.policies_dir)
                except (ContractError, OSError) as error:
                    self._error(f"policies in {self.config.policies_dir}: {error}")
            url = contract.realtime_url or server_root(self.config.url)
            self._link = RealtimeClient(
                url, contract.run_id, namespace=contract.namespace or self.config.namespace,
                api_key=self._api_key, on_event=self._on_event, on_link=self._on_link,
                reconnect_delay_s=self.config.reconnect_delay_s,
                reconnect_delay_max_s=self.config.reconnect_delay_max_s,
                connect_timeout_s=self.config.request_timeout_s)
            self.stats.link = "connecting"
            self.stats.runs_started += 1
            self.stats.stalled = False
            self._connected_at = self._clock()
            self._was_connected = False
            self._last_cycle = None
            self._feedback_sent.clear()
            self._link.start()
            return contract

    def keep_run(self, options: Mapping[str, Any] | None = None) -> None:
        """Keep a run with `options` going from now on (see the module's docstring)."""
        with self._keeper_wake:
            self._wanted = dict(options or {})
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="ab-run-keeper",
                                                daemon=True)
                self._keeper.start()
            self._keeper_wake.notify_all()

    @property
    def keeping(self) -> bool:
        """A run is wanted (keep_run) and not stopped since."""
        return self._wanted is not None

    def _keep(self) -> None:
        delay = self.config.start_retry_s
        with self._keeper_wake:
            while not self._closed:
                wait_s: float | None = None
                if self._wanted is not None and self._run_lost_reason:
                    (lost_id, reason), self._run_lost_reason = self._run_lost_reason, ""
                    if lost_id != self.run_id:
                        continue        # about a run replaced already (a late io:error)
                    self._keeper_wake.release()
                    try:
                        self._drop_run(reason)
                    finally:
                        self._keeper_wake.acquire()
                    delay = self.config.start_retry_s
                    continue
                if self._wanted is not None and self._link is None and not self._closed:
                    options = self._wanted
                    self._keeper_wake.release()
                    try:
                        started = self._try_start(options, delay)
                    finally:
                        self._keeper_wake.acquire()
                    if started:
                        delay = self.config.start_retry_s
                        wait_s = self.config.stall_after_s or None
                    else:
                        wait_s, delay = delay, min(delay * 2, self.config.start_retry_max_s)
                elif self._wanted is not None and self.config.stall_after_s > 0:
                    wait_s = self._check_stall()
                else:
                    wait_s = None
                if not self._closed:
                    self._keeper_wake.wait(wait_s)

    def _try_start(self, options: dict[str, Any], delay_s: float) -> bool:
        try:
            contract = self.start(options)
        except SessionError as error:
            if "already running" in str(error):
                return True
            self.stats.start_attempts += 1
            self.stats.link = "starting"
            self.stats.last_error = f"start run failed: {error}"
            self.listener.on_error(f"start run failed (try {self.stats.start_attempts}, next "
                                   f"in {delay_s:.1f} s): {error}")
            return False
        self.stats.start_attempts = 0
        on_run = getattr(self.listener, "on_run", None)
        if on_run is not None:
            on_run(contract)
        return True

    def _check_stall(self) -> float:
        """Hold and report once when a connected run has had no cycle for stall_after_s;
        the seconds until the next look."""
        limit = self.config.stall_after_s
        if self.stats.link != "connected" or self._link is None:
            return limit
        last = self.stats.cycle_times[-1] if self.stats.cycle_times else self._connected_at
        idle = self._clock() - last
        if idle >= limit:
            if not self.stats.stalled:
                self.stats.stalled = True
                self.stats.last_error = f"run {self.run_id!r}: no cycle for {idle:.1f} s"
                self.listener.on_hold(f"stalled: no cycle for {idle:.1f} s")
            return limit / 4
        return max(limit - idle, limit / 4)

    def _drop_run(self, reason: str) -> None:
        """The server lost this run: close the link (the keeper starts a new one)."""
        with self._lock:
            link, self._link = self._link, None
            run_id = self.run_id
        with self._pending_changed:
            self._pending = None
        if link is None:
            return
        link.close()
        self.stats.runs_lost += 1
        self.stats.link = "starting"
        self.stats.last_error = f"run {run_id!r} lost: {reason}"
        self.listener.on_hold(f"run {run_id!r} lost ({reason}); starting a new one")

    def stop(self) -> str:
        """Stop the run (REST stop, disconnect); actuators get a hold. Returns the run id.
        Ends keep_run too."""
        return self._stop(None)

    def _stop(self, timeout_s: float | None) -> str:
        """stop(), each wait bounded by `timeout_s` when given (closing: the server may
        be going away at the same moment and answer nothing)."""
        with self._keeper_wake:
            self._wanted = None
            self._run_lost_reason = ""
            self._keeper_wake.notify_all()
        # A start in flight holds the lock for its request: closing does not wait it out.
        locked = self._lock.acquire(timeout=-1 if timeout_s is None else timeout_s)
        try:
            link, self._link = self._link, None
            run_id = self.run_id
        finally:
            if locked:
                self._lock.release()
        with self._pending_changed:
            self._pending = None        # a need of this run must not be answered in the next
        if link is None:
            return ""
        link.close(timeout_s)
        self.stats.link = "stopped"
        self.listener.on_hold("run stopped")
        try:
            self.rest.stop(self.config.project_id, run_id, timeout_s=timeout_s)
        except Exception as error:
            self._error(f"stop run {run_id!r}: {error}")
        return run_id

    def close(self) -> None:
        """Stop the run and the session's threads, within about close_timeout_s."""
        timeout_s = self.config.close_timeout_s
        with self._pending_changed:
            self._closed = True
        self._stop(timeout_s)
        with self._pending_changed:
            self._pending = None
            self._pending_changed.notify_all()
        with self._keeper_wake:
            self._keeper_wake.notify_all()
        # Both are daemon threads: one stuck in a request to a dying server is left behind.
        if self._deadline_thread is not None:
            self._deadline_thread.join(timeout=timeout_s)
        if self._keeper is not None:
            self._keeper.join(timeout=timeout_s)
        self.rest.close()

    def defer_needs(self, ready: Callable[[], bool], max_wait_s: float) -> None:
        """Answer each io:need once `ready()` is true, or `max_wait_s` after it came (then
        with what there is). Call `serve_pending()` whenever `ready()` may have become
        true; `ready` is called with an internal lock held and must not call back in."""
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        with self._pending_changed:
            self._ready, self._max_wait_s = ready, float(max_wait_s)
            if self._deadline_thread is None:
                self._deadline_thread = threading.Thread(
                    target=self._answer_at_deadlines, name="ab-need-deadline", daemon=True)
                self._deadline_thread.start()

    @property
    def deferred_cycle(self) -> int | None:
        """The cycle whose io:need is waiting for `ready()`, if one is."""
        with self._pending_changed:
            return None if self._pending is None else self._pending[0]

    def serve_pending(self) -> bool:
        """Answer the deferred io:need, here and now, if `ready()`; True when it was."""
        with self._pending_changed:
            pending = self._pending
            if pending is None or not self._is_ready():
                return False
            self._pending = None
        self._answer_safely(pending[0], pending[1])
        return True

    def _is_ready(self) -> bool:
        try:
            return self._ready is not None and bool(self._ready())
        except Exception as error:  # user code: reported; the need waits for its deadline
            self._error(f"deferred io:need: ready() failed: {type(error).__name__}: {error}")
            return False

    def _answer_safely(self, cycle: int, needs: list[Need]) -> None:
        """`_answer` off the realtime thread: whatever fails is reported, the caller (the
        executor delivering a message, the deadline thread) goes on."""
        try:
            self._answer(cycle, needs)
        except Exception as error:
            self._error(f"io:need cycle {cycle}: {type(error).__name__}: {error}")

    def _answer_at_deadlines(self) -> None:
        with self._pending_changed:
            while not self._closed:
                pending = self._pending
                if pending is None:
                    self._pending_changed.wait()
                    continue
                remaining = pending[2] - time.monotonic()
                if remaining > 0:
                    self._pending_changed.wait(remaining)
                    continue
                self._pending = None
                self._pending_changed.release()
                try:
                    self._answer_safely(pending[0], pending[1])
                finally:
                    self._pending_changed.acquire()

    def sync_policies(self) -> str:
        """Fetch the project's contract (no run) and sync the policies folder; returns its hash."""
        if not self.config.policies_dir:
            raise SessionError("no policies folder configured")
        try:
            result = sync_policies(self.rest.contract(self.config.project_id),
                                   self.config.policies_dir)
        except Exception as error:
            raise SessionError(f"sync policies: {error}") from None
        self.policies = load_policies(self.config.policies_dir)
        return result.sha256

    def io_state(self) -> Any:
        """The server's current IO state (needs, cycle) of the project, for resynchronisation."""
        return self.rest.io_state(self.config.project_id)

    def _check_mapping(self, contract: Contract) -> None:
        outputs = set(contract.output_ids)
        unknown = [p for p in self.decoder.populations if outputs and p not in outputs]
        if unknown:
            self._error(f"decoder mapping names populations the contract does not output: "
                        f"{unknown} (outputs: {sorted(outputs)})")

    # -- from the robot ------------------------------------------------------------------
    def send_reward(self, cycle: int, global_reward: Any,
                    by_layer: Mapping[str, Any] | None = None) -> bool:
        """Send learn:reward (clamped, learning layers filled); False when not sent."""
        contract, link = self.contract, self._link
        if contract is None or link is None:
            # Not a fault: the reward for a run's last cycle usually arrives just after the
            # run stopped. Counted (diagnostics), not reported.
            self.stats.rewards_without_run += 1
            return False
        try:
            payload = build_reward(cycle, global_reward, by_layer, contract.stdp_layers)
        except PolicyError as error:
            self._error(f"reward for cycle {cycle} rejected: {error}")
            return False
        unknown = sorted(set(by_layer or {}) - set(contract.stdp_layers))
        if unknown:
            self._error(f"reward names layers that are not learning layers: {unknown}")
        if not link.emit("learn:reward", payload.to_wire(contract.run_id)):
            self._error(f"reward for cycle {cycle} dropped: link down")
            return False
        self.stats.rewards_sent += 1
        return True

    def send_deviation(self, feedback_id: str, values: Sequence[float], cycle: int) -> bool:
        """Send a deviation now as a Feedback raster chunk; False when rejected or not sent."""
        contract, link = self.contract, self._link
        if contract is None or link is None:
            self.stats.deviations_without_run += 1   # as rewards: late, not a fault
            return False
        known = [f.id for f in contract.feedback]
        if known and feedback_id not in known:
            self._error(f"deviation for unknown feedback input {feedback_id!r} (known: {known})")
            return False
        try:
            deviation = clamp_deviation(values, contract.feedback_t, feedback_id)
        except PolicyError as error:
            self._error(str(error))
            return False
        self._deviations[feedback_id] = deviation
        chunk = self._feedback_chunk(contract, feedback_id, deviation, cycle)
        if not link.emit("io:chunk", chunk):
            self._error(f"deviation for {feedback_id!r} dropped: link down")
            return False
        # Sent: it counts for the cycle waiting for inputs (or the next), and the next
        # answer to io:need need not carry it again.
        if self._deviations.get(feedback_id) is deviation:
            del self._deviations[feedback_id]
        self._feedback_sent.add(feedback_id)
        self.stats.deviations_sent += 1
        return True

    def _feedback_chunk(self, contract: Contract, feedback_id: str, deviation: np.ndarray,
                        cycle: int) -> dict[str, Any]:
        raster = feedback_raster(deviation, contract.gamma, contract.feedback_n,
                                 self._feedback_baseline.get(feedback_id))
        return {"runId": contract.run_id, "inputId": feedback_id, "kind": "Feedback",
                "seq": int(time.time() * 1000), "t": time.time(), "format": "raster_f32",
                "meta": {"T": contract.gamma, "N": contract.feedback_n, "cycle": int(cycle)},
                "data": raster_bytes(raster)}

    def send_robot_state(self, state: Mapping[str, Any]) -> bool:
        link, contract = self._link, self.contract
        if link is None or contract is None:
            return False
        return link.emit("robot:state", {"runId": contract.run_id, "state": dict(state)})

    # -- from the brain (realtime thread) -----------------------------------------------
    def _on_link(self, state: str, detail: str) -> None:
        if state == "connected":
            # Failed attempts may come between the loss and the reconnection.
            if self._was_connected:
                self.stats.reconnects += 1
            self._was_connected = True
            # Cycle order is checked per connection (a restarted server may count anew).
            self._last_cycle = None
            self._feedback_sent.clear()     # what went out before may not have arrived
            self._connected_at = self._clock()
            self.stats.link = "connected"
        elif state == "disconnected":
            if self._link is None:
                return
            self.stats.link = "disconnected"
            self.listener.on_hold(f"link lost ({detail})" if detail else "link lost")
        elif state == "connect_failed":
            self.stats.link = "connecting"
        self.listener.on_link(state, detail)

    def _on_event(self, event: str, payload: Any) -> None:
        try:
            if event == "io:need":
                self._serve_need(payload)
            elif event == "cycle:update":
                self._handle_cycle(payload)
            elif event == "robot:cmd":
                pass  # legacy server-side commands: decoding happens here instead
            elif event == "io:error":
                self._server_error(payload)
            else:
                self._error(f"unexpected event {event!r} ignored")
        except (DecodeError, InputError, PolicyError, ContractError) as error:
            self._error(f"{event}: {error}")
        except Exception as error:  # the session must survive whatever arrives
            self._error(f"{event}: {type(error).__name__}: {error}")

    def _server_error(self, payload: Any) -> None:
        """The server rejected something we sent: count it, report it at most once per
        `server_error_interval_s` (with how many were not reported since)."""
        self.stats.server_errors += 1
        self.stats.errors += 1
        if isinstance(payload, Mapping) and self._wanted is not None and self.run_id \
                and payload.get("runId") == self.run_id \
                and "unknown run" in str(payload.get("error", "")):
            # The server does not know our run (it restarted): keep_run starts a new one.
            with self._keeper_wake:
                if not self._run_lost_reason and self._link is not None:
                    self._run_lost_reason = (self.run_id, f"the server does not know it "
                                             f"({str(payload.get('event') or 'io:error')})")
                    self._keeper_wake.notify_all()
            return
        if isinstance(payload, Mapping):
            what = payload.get("event") or "a message"
            input_id = payload.get("inputId")
            text = f"server rejected {what}" + (f" (input {input_id!r})" if input_id else "") \
                + f": {str(payload.get('error', payload))[:300]}"
        else:
            text = f"server io:error: {str(payload)[:300]}"
        now = self._clock()
        if now - self._server_error_reported_s < self.config.server_error_interval_s:
            self._server_errors_unreported += 1
            return
        if self._server_errors_unreported:
            text += f" ({self._server_errors_unreported} more io:error not reported since " \
                "the last one)"
        self._server_error_reported_s = now
        self._server_errors_unreported = 0
        self.stats.last_error = text
        self.listener.on_error(text)

    def _serve_need(self, payload: Any) -> None:
        contract, link = self.contract, self._link
        if contract is None or link is None:
            return
        self._check_run(payload, "io:need")
        cycle, needs = parse_io_need(payload)
        with self._pending_changed:
            if self._ready is not None and not self._is_ready():
                # A newer need replaces one still waiting (the server gave up on it).
                self._pending = (cycle, needs, time.monotonic() + self._max_wait_s)
                self._pending_changed.notify_all()
                return
            self._pending = None
        self._answer(cycle, needs)

    def _answer(self, cycle: int, needs: list[Need]) -> None:
        """Serve the inputs and feedback of one io:need (on the calling thread)."""
        contract, link = self.contract, self._link
        if contract is None or link is None:
            return
        with self._serving:
            if hops.ON:
                hops.note("session: answer starts", cycle)
            feedback_ids = {f.id for f in contract.feedback}
            plain = [n for n in needs if n.kind != "Feedback" and n.input_id not in feedback_ids]
            chunks, errors = self.streamer.serve(contract.run_id, cycle, plain, time.time())
            for need in needs:
                if need.kind == "Feedback" or need.input_id in feedback_ids:
                    if need.input_id in self._feedback_sent:    # the server has it
                        self._feedback_sent.discard(need.input_id)
                        continue
                    chunks.append(self._feedback_for_need(contract, need.input_id, cycle))
            if hops.ON:
                hops.note("session: io:chunks built", cycle)
            # On the critical path: all chunks in one write, on this thread.
            if not chunks or link.emit_many([("io:chunk", chunk) for chunk in chunks]):
                self.stats.chunks_sent += len(chunks)
            else:
                errors.append(f"inputs {[c['inputId'] for c in chunks]} dropped: link down")
            if hops.ON:
                hops.note("session: io:chunks written", cycle)
            if chunks:
                self._inputs_sent_at[cycle] = self._clock()
                while len(self._inputs_sent_at) > 64:
                    self._inputs_sent_at.pop(next(iter(self._inputs_sent_at)))
        for message in errors:
            self._error(f"io:need cycle {cycle}: {message}")

    def _feedback_for_need(self, contract: Contract, feedback_id: str, cycle: int
                           ) -> dict[str, Any]:
        deviation = self._deviations.pop(feedback_id, None)
        if deviation is None and self.policies.compute_deviation is not None:
            try:
                deviation = clamp_deviation(
                    self.policies.compute_deviation(feedback_id, T=contract.feedback_t, ctx=None),
                    contract.feedback_t, feedback_id)
            except Exception as error:
                self._error(f"deviation policy for {feedback_id!r}: {error}")
        if deviation is None:
            deviation = np.zeros(contract.feedback_t, dtype=np.float32)
        return self._feedback_chunk(contract, feedback_id, deviation, cycle)

    def _check_run(self, payload: Any, event: str) -> None:
        if isinstance(payload, Mapping):
            run_id = payload.get("runId")
            if run_id is not None and run_id != self.run_id:
                raise DecodeError(f"payload for run {run_id!r}, this session runs "
                                  f"{self.run_id!r}")

    def _handle_cycle(self, payload: Any) -> None:
        contract = self.contract
        if contract is None:
            return
        received = self._clock()
        if not isinstance(payload, Mapping):
            raise DecodeError(f"payload must be an object, got {type(payload).__name__}")
        self._check_run(payload, "cycle:update")
        cycle = payload.get("cycle")
        if isinstance(cycle, bool) or not isinstance(cycle, (int, float)) \
                or not math.isfinite(cycle) or cycle < 0 or int(cycle) != cycle:
            raise DecodeError(f"'cycle' must be a non-negative integer, got {cycle!r}")
        cycle = int(cycle)
        last = self._last_cycle
        if last is not None and cycle <= last:
            self.stats.out_of_order += 1
            raise DecodeError(f"cycle {cycle} arrived after cycle {last} was published; "
                              "dropped (out of order or repeated)")
        outputs = payload.get("outputs")
        if outputs is None:
            raise DecodeError(f"cycle {cycle}: no 'outputs'")
        widths = {o.id: o.extra.get("n") for o in contract.outputs}
        max_neurons = max([self.config.max_neurons]
                          + [n for n in widths.values() if isinstance(n, int)])
        if isinstance(outputs, list) and outputs and isinstance(outputs[0], Mapping) \
                and "neurons" in outputs[0]:
            # Sparse neuron events (newer SDK releases): one decoded step per cycle.
            counts = {pid: n for pid, n in widths.items() if isinstance(n, int)}
            spikes = neuron_event_to_cycle({"step": cycle, "outputs": outputs}, counts,
                                           max_neurons)
        else:
            spikes = rows_to_cycle(outputs, max_timesteps=contract.gamma,
                                   max_neurons=max_neurons,
                                   max_rows=contract.gamma * max(1, len(contract.outputs) or 64))
        spikes = self._keep_known(spikes, cycle, widths)
        decoded = self.decoder.decode(spikes)
        done = self._clock()
        if hops.ON:
            link = self._link
            if link is not None:
                hops.note("session: cycle:update read", cycle, link.message_ns)
            hops.note("session: decoded", cycle)
        sent = self._inputs_sent_at.pop(cycle, None)
        compute_ms = payload.get("computeMs")
        result = CycleResult(contract.run_id, cycle, spikes, decoded, contract.dt_s, received,
                             done - received, None if sent is None else received - sent,
                             float(compute_ms) if isinstance(compute_ms, (int, float))
                             and not isinstance(compute_ms, bool) else None)
        self._last_cycle = cycle
        self.stats.cycles += 1
        self.stats.cycle_times.append(received)
        if self.stats.stalled:
            self.stats.stalled = False
            self.listener.on_link("resumed", f"cycle {cycle}")
        self.stats.last_decode_latency_s = result.decode_latency_s
        self.stats.last_input_to_output_s = result.input_to_output_s
        self.listener.on_cycle(result)
        if self.config.use_reward_policy and self.policies.compute_reward is not None:
            self._policy_reward(contract, result)

    def _keep_known(self, spikes: CycleRasters, cycle: int, widths: dict[str, Any]
                    ) -> CycleRasters:
        """Drop (and report) populations the contract does not list; check declared widths."""
        if not widths:
            return spikes
        keep = []
        for i, pid in enumerate(spikes.populations):
            if pid not in widths:
                self._error(f"cycle:update cycle {cycle}: unknown population {pid!r} "
                            f"(contract outputs: {sorted(widths)}); its rows are ignored")
                continue
            declared = widths[pid]
            if isinstance(declared, int) and spikes.rasters[i].shape[1] != declared:
                raise DecodeError(f"cycle {cycle}: population {pid!r} sent "
                                  f"{spikes.rasters[i].shape[1]} bits per row, the contract "
                                  f"declares n={declared}")
            keep.append(i)
        if len(keep) == len(spikes.populations):
            return spikes
        return CycleRasters(
            spikes.timesteps, [spikes.populations[i] for i in keep],
            [spikes.rasters[i] for i in keep],
            None if spikes.present is None else spikes.present[keep],
            None if spikes.arrival is None else spikes.arrival[keep])

    def _policy_reward(self, contract: Contract, result: CycleResult) -> None:
        summary = CycleSummary(
            result.cycle,
            {p: int(r.sum()) for p, r in zip(result.spikes.populations, result.spikes.rasters,
                                             strict=True)},
            result.decoded.channels, result.decoded.deltas)
        try:
            reward = self.policies.compute_reward(summary, stdp_layers=list(contract.stdp_layers))
            global_reward, by_layer = reward
        except Exception as error:
            self._error(f"reward policy: {type(error).__name__}: {error}")
            return
        self.send_reward(result.cycle, global_reward, by_layer)

    def _error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        self.listener.on_error(message)
