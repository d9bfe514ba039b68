"""`brain_session`: the realtime session with a brain as a ROS 2 node.

Streams the mapped ROS topics to the brain when it asks for inputs,
publishes every output cycle on `spikes` (CycleSpikes) and its decoded
command on `actuator_command`, forwards `reward` and `deviation` messages,
reports the link on `diagnostics`, and offers `~/start_run` and `~/stop_run`.
On disconnect, stop or shutdown it publishes an all-zero command (hold).

    ros2 run ab_bridge brain_session --ros-args -p url:=http://127.0.0.1:8765 \
        -p project_id:=demo_arm -p decoder_mapping:=mapping.yaml -p auto_start:=true

The API key comes from $AB_API_KEY or the `api_key` parameter; it is never logged.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data

from ab_bridge.decoding import DecodeError, parse_mapping
from ab_bridge.device_session import DeviceSession
from ab_bridge.inputs import Provider
from ab_bridge.ros_inputs import InputBinding, LatestMessages, frame_of, parse_inputs
from ab_bridge.session import BrainSession, CycleResult, SessionConfig, SessionError
from ab_bridge.spikes_msg import command_msg, hold_msg, population_msg
from ab_interfaces.msg import ActuatorCommand, CycleSpikes, Deviation, Reward
from ab_interfaces.srv import StartRun, StopRun
from node_kit import Params, hops, run_node
from node_kit.config import load_structured
from node_kit.diagnostics import ERROR, OK, WARN, Diagnostics, Status

_LEVEL = {"connected": OK, "connecting": WARN, "idle": OK, "stopped": OK,
          "starting": WARN, "disconnected": ERROR}


class BrainSessionNode(Node):
    """The brain_session node: ROS wrapper of the ROS-free core ab_bridge.session.BrainSession."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("brain_session", **kwargs)
        self._closing = False
        # Cycles and holds are published on the realtime thread, in the order the brain
        # sent them (no executor wake-up on the command path); this lock keeps them
        # from racing destroy_node.
        self._publish_lock = threading.Lock()
        self.session: BrainSession | None = None
        params = Params(self)
        self.protocol: str = params.declare(
            "protocol", "realtime", "realtime: the Artificial Brains REST + Socket.IO runs "
            "(SDK 0.1); device: a Prima-Lux device (SDK 0.4; url = device origin, api_key or "
            "$AB_DEVICE_API_KEY = plx_ key, project_id = brain design).",
            choices=("realtime", "device"))
        self.url: str = params.declare(
            "url", "http://127.0.0.1:8765",
            "Brain server URL (the /api base is derived from it).")
        self.project_id: str = params.declare("project_id", "demo_arm", "Brain project id.")
        api_key: str = params.declare(
            "api_key", "", "API key; empty: $AB_API_KEY. Prefer the environment: "
            "parameters are readable by anyone on the ROS graph.")
        namespace: str = params.declare(
            "namespace", "/ab", "Socket.IO namespace when the start response names none.")
        inputs_text: str = params.declare(
            "inputs", "", "Brain input id -> {topic, type[, format]}: YAML file path or "
            "inline YAML.")
        mapping_text: str = params.declare(
            "decoder_mapping", "", "Decoder mapping entries (node_id, channel, scheme, "
            "per_step_max, gain, ...): YAML file path or inline YAML.")
        policies_dir: str = params.declare(
            "policies_dir", "", "Folder for contract files and user policies; empty: none.")
        use_reward_policy: bool = params.declare(
            "use_reward_policy", False, "Call policies_dir/reward_policy.py after every cycle.")
        self.auto_start: bool = params.declare(
            "auto_start", False, "Keep a run going from the start: retried with backoff "
            "until the brain answers, and started anew when the brain loses it.")
        self.run_options: str = params.declare(
            "run_options", "", "JSON options for POST /robot/{project}/start (auto_start), "
            "and the defaults a ~/start_run request's options_json overrides key by key.")
        reconnect_s: float = params.declare(
            "reconnect_delay_s", 0.5, "First reconnection (and start retry) delay; doubles "
            "up to reconnect_delay_max_s.", low=0.01, high=60.0)
        reconnect_max_s: float = params.declare(
            "reconnect_delay_max_s", 5.0, "Longest reconnection (and start retry) delay.",
            low=0.01, high=600.0)
        stall_s: float = params.declare(
            "stall_after_s", 3.0, "A connected run with no cycle for this long is reported "
            "stalled (diagnostics ERROR) and the actuators hold; 0: never.", low=0.0,
            high=3600.0)
        robot_state_s: float = params.declare(
            "robot_state_period_s", 0.1, "Period of robot:state messages (joint positions and "
            "velocities of the first JointState input); 0 disables them.", low=0.0, high=60.0,
            on_set=self._set_robot_state_period)
        fresh_text: str = params.declare(
            "fresh_inputs", "", "Comma-separated input ids whose every cycle gets a message no "
            "earlier cycle was served: when the newest was served already, the answer to "
            "io:need waits for the next one (at most fresh_wait_ms) and goes out as it "
            "arrives. With the embedded brain's run option {\"pace\": \"inputs\"}, a camera "
            "listed here paces the brain: each cycle starts on a frame.")
        fresh_wait_ms: float = params.declare(
            "fresh_wait_ms", 30.0, "Longest wait for a fresh message of a fresh_inputs input; "
            "keep it under the server's io:need deadline (50 ms for the embedded brain).",
            low=0.0, high=1000.0, on_set=self._set_fresh_wait_ms)
        diagnostics_s: float = params.declare(
            "diagnostics_period_s", 1.0, "Period of diagnostics messages.", low=0.05,
            high=60.0, on_set=self._set_diagnostics_period)
        params.refuse_unknown()

        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"parameter 'url' must start with http:// or https://, "
                             f"got {self.url!r}")
        if not self.project_id:
            raise ValueError("parameter 'project_id' must be non-empty")
        if reconnect_max_s < reconnect_s:
            raise ValueError("parameter 'reconnect_delay_max_s' must be >= 'reconnect_delay_s'")
        mapping_entries = load_structured("decoder_mapping", mapping_text, default=[])
        try:
            mapping = parse_mapping(mapping_entries)
        except (DecodeError, ValueError) as error:
            raise ValueError(f"parameter 'decoder_mapping': {error}") from None
        inputs = load_structured("inputs", inputs_text)
        try:
            self.bindings = parse_inputs(inputs)
        except ValueError as error:
            raise ValueError(f"parameter 'inputs': {error}") from None
        self.fresh_inputs = {x.strip() for x in fresh_text.split(",") if x.strip()}
        unknown = sorted(self.fresh_inputs - {b.input_id for b in self.bindings})
        if unknown:
            raise ValueError(f"parameter 'fresh_inputs': {unknown} are not inputs (inputs: "
                             f"{sorted(b.input_id for b in self.bindings)})")
        self.fresh_wait_s = fresh_wait_ms / 1000.0
        # Per input: how many messages had arrived when the last one served was taken, and
        # the message served by the latest io:need.
        self._served_count: dict[str, int] = {}
        self.last_served: dict[str, Any] = {}
        # The input whose header stamp each command carries (ActuatorCommand.input_stamp):
        # the first fresh input with a header, else the first input with one; and its
        # stamps per cycle served, until the cycle's command goes out.
        stamped = [b.input_id for b in self.bindings
                   if "header" in b.message_class().get_fields_and_field_types()]
        self.stamp_input: str | None = next(
            (i for i in stamped if i in self.fresh_inputs), stamped[0] if stamped else None)
        self._input_stamps: OrderedDict[int, Any] = OrderedDict()
        self._stamps_lock = threading.Lock()
        try:
            self._options = json.loads(self.run_options) if self.run_options.strip() else {}
        except ValueError as error:
            raise ValueError(f"parameter 'run_options': not JSON ({error})") from None
        if not isinstance(self._options, dict):
            raise ValueError(f"parameter 'run_options': must be a JSON object, got "
                             f"{self.run_options!r}")

        session_config = SessionConfig(
            url=self.url, project_id=self.project_id, api_key=api_key, namespace=namespace,
            decoder_mapping=mapping, policies_dir=policies_dir,
            use_reward_policy=use_reward_policy, reconnect_delay_s=reconnect_s,
            reconnect_delay_max_s=reconnect_max_s, start_retry_s=reconnect_s,
            start_retry_max_s=reconnect_max_s, stall_after_s=stall_s)
        if self.protocol == "device":
            self.session = DeviceSession(session_config, listener=self,
                                         inputs=inputs)
        else:
            self.session = BrainSession(session_config, listener=self)
        self.channels = list(self.session.decoder.channels)
        self.dt_s = 0.001

        self.spikes_pub = self.create_publisher(CycleSpikes, "spikes", 10)
        self.command_pub = self.create_publisher(ActuatorCommand, "actuator_command", 10)
        self.create_subscription(Reward, "reward", self._on_reward, 10)
        self.create_subscription(Deviation, "deviation", self._on_deviation, 10)
        self.latest = LatestMessages()
        for binding in self.bindings:
            fresh = binding.input_id in self.fresh_inputs
            self.create_subscription(
                binding.message_class(), binding.topic,
                lambda msg, input_id=binding.input_id, fresh=fresh: self._on_input(
                    input_id, msg, fresh),
                qos_profile_sensor_data)
            self.session.streamer.register_input(binding.input_id, self._provider(binding))
        if self.fresh_inputs:
            self.session.defer_needs(self._fresh_ready, self.fresh_wait_s)
        self.create_service(StartRun, "~/start_run", self._start_run)
        self.create_service(StopRun, "~/stop_run", self._stop_run)
        self.diagnostics = Diagnostics(self, self.health, diagnostics_s)
        self.joint_input = next((b.input_id for b in self.bindings
                                 if b.type_name == "sensor_msgs/JointState"), None)
        self.robot_state_period_s = robot_state_s
        self._robot_state_timer = None
        self._set_robot_state_period(robot_state_s)
        if self.auto_start:
            self.session.keep_run(self._options)

    # -- live parameters ------------------------------------------------------------------
    def _set_fresh_wait_ms(self, value: float) -> None:
        self.fresh_wait_s = value / 1000.0
        if self.session is not None and self.fresh_inputs:
            self.session.defer_needs(self._fresh_ready, self.fresh_wait_s)

    def _set_diagnostics_period(self, value: float) -> None:
        diagnostics = getattr(self, "diagnostics", None)
        if diagnostics is not None:
            diagnostics.set_period(value)

    def _set_robot_state_period(self, value: float) -> None:
        self.robot_state_period_s = value
        if getattr(self, "joint_input", None) is None:
            return
        if self._robot_state_timer is not None:
            self.destroy_timer(self._robot_state_timer)
            self._robot_state_timer = None
        if value > 0:
            self._robot_state_timer = self.create_timer(value, self._send_robot_state)

    def _on_input(self, input_id: str, msg: Any, fresh: bool) -> None:
        if hops.ON and input_id == self.stamp_input:
            self._taken_ns = (msg, time.time_ns())
        self.latest.put(input_id, msg)
        if self.protocol == "device":
            self.session.input_arrived(input_id)    # posted as it arrives
        elif fresh:
            # The answer to a need waiting for this message goes out right here.
            self.session.serve_pending()

    def _fresh_ready(self) -> bool:
        """Every fresh input has a message no earlier cycle was served."""
        return all(self.latest.get_counted(i)[1] > self._served_count.get(i, 0)
                   for i in self.fresh_inputs)

    def _provider(self, binding: InputBinding) -> Provider:
        input_id = binding.input_id

        def provide():
            # Called on the thread answering io:need (the realtime thread, or the one that
            # delivered the fresh message a deferred need waited for), one need at a time.
            msg, count = self.latest.get_counted(input_id)
            if msg is None:
                return None
            self._served_count[input_id] = count
            self.last_served[input_id] = msg
            cycle = getattr(self.session.streamer, "serving_cycle", None)
            if input_id == self.stamp_input and cycle is not None:
                if hops.ON:
                    stamp = msg.header.stamp
                    hops.note("camera: frame stamped", cycle,
                              stamp.sec * 1_000_000_000 + stamp.nanosec)
                    taken = getattr(self, "_taken_ns", None)
                    if taken is not None and taken[0] is msg:
                        hops.note("session: frame callback", cycle, taken[1])
                with self._stamps_lock:
                    self._input_stamps[cycle] = msg.header.stamp
                    while len(self._input_stamps) > 64:
                        self._input_stamps.popitem(last=False)
            return frame_of(binding, msg)
        return provide

    def _start(self, options: dict[str, Any]) -> tuple[bool, str, str]:
        try:
            contract = self.session.start(options)
        except SessionError as error:
            self.get_logger().error(f"start run failed: {error}")
            return False, str(error), ""
        self.on_run(contract)
        # Kept from now on: a run the brain loses is started anew with these options.
        self.session.keep_run(options)
        return True, "started", contract.run_id

    def on_run(self, contract: Any) -> None:
        """A run started (by ~/start_run or by the session keeping its run)."""
        self.dt_s = contract.dt_s
        self.get_logger().info(f"run {contract.run_id} started (gamma {contract.gamma}, "
                               f"outputs {contract.output_ids})")

    # -- services ---------------------------------------------------------------------------
    def _start_run(self, request: StartRun.Request, response: StartRun.Response
                   ) -> StartRun.Response:
        try:
            options = json.loads(request.options_json) if request.options_json.strip() else {}
            if not isinstance(options, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            response.success, response.message = False, f"options_json: {error}"
            return response
        # run_options are this session's defaults (e.g. the pace its fresh_inputs go with).
        response.success, response.message, response.run_id = self._start(
            {**self._options, **options})
        return response

    def _stop_run(self, request: StopRun.Request, response: StopRun.Response) -> StopRun.Response:
        run_id = self.session.stop()
        response.success = True
        response.message = "stopped" if run_id else "no run was running"
        response.run_id = run_id
        return response

    def _send_robot_state(self) -> None:
        msg = self.latest.get(self.joint_input)
        if msg is None or not self.session.running:
            return
        self.session.send_robot_state({"q": list(msg.position), "dq": list(msg.velocity),
                                       "names": list(msg.name), "dt": self.robot_state_period_s})

    # -- topics from the robot ------------------------------------------------------------
    def _on_reward(self, msg: Reward) -> None:
        if len(msg.layer_ids) != len(msg.layer_rewards):
            self.get_logger().error(f"reward for cycle {msg.cycle}: {len(msg.layer_ids)} layer "
                                    f"ids but {len(msg.layer_rewards)} rewards; dropped")
            return
        sent = self.session.send_reward(msg.cycle, msg.global_reward,
                                        dict(zip(msg.layer_ids, msg.layer_rewards, strict=True)))
        if not sent and not self.session.running:
            # Usual at a phase end: the last cycle's reward arrives after the run stopped.
            self.get_logger().debug(f"reward for cycle {msg.cycle} dropped: no run "
                                    f"({self.session.stats.rewards_without_run} so far)")

    def _on_deviation(self, msg: Deviation) -> None:
        sent = self.session.send_deviation(msg.feedback_id, list(msg.values), msg.cycle)
        if not sent and not self.session.running:
            self.get_logger().debug(f"deviation for cycle {msg.cycle} dropped: no run")

    # -- SessionListener (called on Socket.IO threads) -------------------------------------
    def on_cycle(self, result: CycleResult) -> None:
        # Published right here: rclpy publishers may be used from any thread, and a hop
        # through the executor would add its wake-up to every command's latency.
        with self._publish_lock:
            if not self._closing:
                self._publish_cycle(result)

    def on_hold(self, reason: str) -> None:
        with self._publish_lock:
            if self._closing:
                return
            self._publish_hold()
        self.get_logger().warning(f"holding actuators: {reason}")

    # Link states and errors are logged right here too (rclpy loggers may be used from any
    # thread): no guard condition, so the node runs on any executor, EventsExecutor included.
    def on_link(self, state: str, detail: str) -> None:
        if not self._closing:
            self.get_logger().info(f"brain link {state} {detail}".strip())

    def on_error(self, message: str) -> None:
        if not self._closing:
            self.get_logger().error(message, throttle_duration_sec=1.0)

    def _publish_cycle(self, result: CycleResult) -> None:
        # The command first: it is what the actuators wait for; the spikes are for viewers.
        stamp = self.get_clock().now().to_msg()
        command = command_msg("brain_session", result.cycle, result.decoded.channels,
                              result.decoded.deltas, result.dt_s)
        command.header.stamp = stamp
        with self._stamps_lock:
            input_stamp = self._input_stamps.pop(result.cycle, None)
        if input_stamp is not None:
            command.input_stamp = input_stamp
        self.command_pub.publish(command)
        if hops.ON:
            hops.note("session: command published", result.cycle)
        spikes = CycleSpikes()
        spikes.header.stamp = stamp
        spikes.run_id = result.run_id
        spikes.cycle = result.cycle
        if result.brain_compute_ms is not None:
            spikes.brain_compute_ms = result.brain_compute_ms
        spikes.populations = [population_msg(pid, raster, result.cycle, result.dt_s)
                              for pid, raster in zip(result.spikes.populations,
                                                     result.spikes.rasters, strict=True)]
        self.spikes_pub.publish(spikes)

    def _publish_hold(self) -> None:
        command = hold_msg("brain_session", 0, self.channels, self.dt_s)
        command.header.stamp = self.get_clock().now().to_msg()
        self.command_pub.publish(command)

    def health(self) -> Status:
        stats = self.session.stats
        level = _LEVEL.get(stats.link, WARN)
        state = "stalled" if stats.stalled else stats.link
        if stats.stalled or (stats.link == "starting" and stats.start_attempts > 0):
            level = ERROR
        message = state if not stats.last_error else \
            f"{state}; last error: {stats.last_error[:120]}"
        io_ms = stats.last_input_to_output_s
        values = {
            "link": stats.link, "run_id": self.session.run_id, "cycles": stats.cycles,
            "cycle_rate_hz": f"{stats.cycle_rate_hz():.2f}",
            "last_decode_latency_ms": f"{stats.last_decode_latency_s * 1e3:.3f}",
            "last_input_to_output_ms": "" if io_ms is None else f"{io_ms * 1e3:.3f}",
            "errors": stats.errors, "reconnects": stats.reconnects,
            "start_attempts": stats.start_attempts, "runs_started": stats.runs_started,
            "runs_lost": stats.runs_lost,
            "server_errors": stats.server_errors, "out_of_order_cycles": stats.out_of_order,
            "chunks_sent": stats.chunks_sent, "rewards_sent": stats.rewards_sent,
            "deviations_sent": stats.deviations_sent,
            "rewards_without_run": stats.rewards_without_run,
            "deviations_without_run": stats.deviations_without_run,
        }
        if self.protocol == "device":
            values.update(self.session.extra_diagnostics())
        return Status("brain_session: brain link", level, message,
                      hardware_id=self.session.rest.base_url, values=values)

    def destroy_node(self) -> None:
        # Actuators hold first, then the run stops and the link closes. (Also called by
        # rclpy on a node whose __init__ failed half-way: only what exists is closed.)
        with self._publish_lock:
            if not self._closing and hasattr(self, "command_pub"):
                try:
                    self._publish_hold()
                except Exception:  # the context may already be shut down
                    pass
            self._closing = True
        if self.session is not None:
            self.session.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # rclpy's EventsExecutor: a message wakes its callback from the executor's event queue
    # (C++), where the SingleThreadedExecutor rebuilds its wait set in Python for every
    # wake-up (joint states, target, rewards, timers: several per cycle), holding the
    # interpreter lock the realtime thread and the camera's callback wait for.
    from rclpy.experimental import EventsExecutor

    return run_node(BrainSessionNode, args, program="brain_session",
                    executor_class=EventsExecutor)


if __name__ == "__main__":
    raise SystemExit(main())
