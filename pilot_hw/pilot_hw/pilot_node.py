"""`pilot`: Raspberry Pi devices (through a pigpio daemon) as ROS topics and services.

Builds its devices from a devices YAML (`devices_file` and/or `devices_yaml`),
drives outputs from `actuator_command` channels, publishes input edges on
`gpio/edges` and IMU samples on `imu`, serves `pilot/timed_pulse`, and reports
the daemon link on `diagnostics`. Outputs go to their safe state on shutdown,
SIGTERM, exceptions, a lost link (reconnecting), and - through a dead-man
script inside the daemon - when this process is killed.

    ros2 run pilot_hw pilot --ros-args -p devices_file:=sim_devices.yaml -p port:=8888
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import numpy as np
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Imu

from ab_interfaces.msg import ActuatorCommand, GpioEdge
from ab_interfaces.srv import TimedPulse
from pilot_hw.backends import PinError
from pilot_hw.config import ConfigError, PilotConfig, load_config
from pilot_hw.devices import DeviceBusy, InputEvent, Mpu6050
from pilot_hw.hardware import DeviceSetupError, PilotHardware

RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _read_devices(devices_file: str, devices_yaml: str) -> PilotConfig:
    """One PilotConfig from a devices file and/or inline YAML (same numbering)."""
    sources: list[tuple[str, Any]] = []
    if devices_file:
        try:
            with open(devices_file) as f:
                sources.append(("devices_file", yaml.safe_load(f) or {}))
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"parameter 'devices_file': cannot read {devices_file}: {exc}"
                             ) from exc
    if devices_yaml:
        try:
            sources.append(("devices_yaml", yaml.safe_load(devices_yaml) or {}))
        except yaml.YAMLError as exc:
            raise ValueError(f"parameter 'devices_yaml': not valid YAML: {exc}") from exc
    if not sources:
        raise ValueError("parameters 'devices_file' and 'devices_yaml' are both empty: "
                         "the pilot needs at least one device")
    merged: dict[str, Any] = {"devices": []}
    for param, data in sources:
        if not isinstance(data, dict):
            raise ValueError(f"parameter '{param}': must hold a mapping with 'devices'")
        numbering = str(data.get("numbering", "BCM")).upper()
        if merged.setdefault("numbering", numbering) != numbering:
            raise ValueError("parameters 'devices_file' and 'devices_yaml' use different "
                             "pin numberings")
        merged["devices"] += list(data.get("devices") or [])
        extra = set(data) - {"numbering", "devices"}
        if extra:
            raise ValueError(f"parameter '{param}': unknown top-level field(s) {sorted(extra)}")
    try:
        return load_config(merged)
    except ConfigError as exc:
        names = " + ".join(f"'{p}'" for p, _ in sources)
        raise ConfigError(exc.device, exc.field,
                          f"{str(exc).split(': ', 1)[1]} (from parameter {names})") from None


def _deadman_problem(deadman_ms: int, heartbeat_s: float) -> str:
    if deadman_ms and deadman_ms < 2 * heartbeat_s * 1000:
        return (f"parameter 'deadman_timeout_ms' ({deadman_ms}) must be at least "
                f"2 x heartbeat_period_s ({heartbeat_s} s), or 0")
    return ""


class PilotNode(Node):
    """Devices of one Raspberry Pi, through its pigpio daemon."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pilot", **kwargs)
        self.hardware: PilotHardware | None = None
        restart = " Read only: restart the node to change it."
        self.host: str = self.declare_parameter(
            "host", "127.0.0.1", ParameterDescriptor(
                description="Host of the pigpio daemon (or virtual Pi)." + restart,
                read_only=True)).value
        self.port: int = self.declare_parameter(
            "port", 8888, ParameterDescriptor(
                description="Port of the pigpio daemon." + restart, read_only=True,
                integer_range=[IntegerRange(from_value=1, to_value=65535, step=1)])).value
        devices_file: str = self.declare_parameter(
            "devices_file", "", ParameterDescriptor(
                description="Path of the devices YAML (see pilot_hw/config/*.yaml)." + restart,
                read_only=True)).value
        devices_yaml: str = self.declare_parameter(
            "devices_yaml", "", ParameterDescriptor(
                description="Inline devices YAML, added to devices_file's devices." + restart,
                read_only=True)).value
        heartbeat_s: float = self.declare_parameter(
            "heartbeat_period_s", 0.1, ParameterDescriptor(
                description="Period of the dead-man heartbeat and link check.",
                floating_point_range=[FloatingPointRange(from_value=0.005, to_value=10.0)])).value
        deadman_ms: int = self.declare_parameter(
            "deadman_timeout_ms", 500, ParameterDescriptor(
                description="Outputs go safe inside the daemon this long after heartbeats "
                            "stop (0: no dead-man script); setting it re-arms the script.",
                integer_range=[IntegerRange(from_value=0, to_value=60000, step=1)])).value
        command_timeout_s: float = self.declare_parameter(
            "command_timeout_s", 0.5, ParameterDescriptor(
                description="An output goes to its safe value when no actuator_command names "
                            "its channel for this long (a device's own command_timeout_s "
                            "in the devices YAML wins).",
                floating_point_range=[FloatingPointRange(from_value=0.01, to_value=3600.0)])).value
        reconnect_s: float = self.declare_parameter(
            "reconnect_period_s", 0.5, ParameterDescriptor(
                description="Seconds before the first retry to reach the daemon; each "
                            "failed try doubles it, up to reconnect_max_period_s.",
                floating_point_range=[FloatingPointRange(from_value=0.01, to_value=60.0)])).value
        reconnect_max_s: float = self.declare_parameter(
            "reconnect_max_period_s", 5.0, ParameterDescriptor(
                description="Longest wait between tries to reach the daemon.",
                floating_point_range=[FloatingPointRange(from_value=0.01, to_value=600.0)])).value
        diagnostics_s: float = self.declare_parameter(
            "diagnostics_period_s", 1.0, ParameterDescriptor(
                description="Seconds between diagnostics messages.",
                floating_point_range=[FloatingPointRange(from_value=0.01, to_value=60.0)])).value
        problem = _deadman_problem(deadman_ms, heartbeat_s)
        if problem:
            raise ValueError(problem)

        try:
            self.config = _read_devices(devices_file, devices_yaml)
        except ValueError as exc:
            self.get_logger().fatal(str(exc))
            raise

        self.edge_publisher = self.create_publisher(GpioEdge, "gpio/edges", RELIABLE_10)
        self.imu_publisher = self.create_publisher(Imu, "imu", qos_profile_sensor_data)
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, "diagnostics",
                                                           RELIABLE_10)
        self.hardware = PilotHardware(
            self.config, self.host, self.port, on_event=self._publish_edge,
            heartbeat_period_s=heartbeat_s, deadman_timeout_ms=deadman_ms,
            command_timeout_s=command_timeout_s, reconnect_period_s=reconnect_s,
            reconnect_max_period_s=reconnect_max_s, logger=self.get_logger())
        try:
            self.hardware.start()  # without a daemon yet it keeps trying (and logging each try)
        except DeviceSetupError as exc:
            self.get_logger().fatal(str(exc))
            self.hardware.close()
            raise

        self._unknown_channels: set[str] = set()
        self.create_subscription(ActuatorCommand, "actuator_command", self._on_command,
                                 RELIABLE_10)
        self.create_service(TimedPulse, "pilot/timed_pulse", self._on_timed_pulse)
        for spec in self.config.devices:
            if spec.type == "imu_mpu6050":
                self.create_timer(1.0 / spec.settings["rate_hz"],
                                  lambda name=spec.name: self._publish_imu(name))
        self.diagnostics_timer = self.create_timer(diagnostics_s, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            f"pilot: {len(self.config.devices)} device(s), channels "
            f"{sorted(self.hardware.channels) or '(none)'}, pigpio at {self.host}:{self.port}")

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Parameters that are not read only take effect here, on the running hardware."""
        values = {p.name: p.value for p in parameters}
        hw = self.hardware
        heartbeat_s = values.get("heartbeat_period_s", hw.heartbeat_period_s)
        deadman_ms = values.get("deadman_timeout_ms", hw.deadman_timeout_ms)
        problem = _deadman_problem(deadman_ms, heartbeat_s)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        if values.get("reconnect_max_period_s", hw.reconnect_max_period_s) < values.get(
                "reconnect_period_s", hw.reconnect_period_s):
            return SetParametersResult(successful=False, reason=(
                "reconnect_max_period_s must be at least reconnect_period_s"))
        hw.heartbeat_period_s = heartbeat_s
        hw.command_timeout_s = values.get("command_timeout_s", hw.command_timeout_s)
        hw.reconnect_period_s = values.get("reconnect_period_s", hw.reconnect_period_s)
        hw.reconnect_max_period_s = values.get("reconnect_max_period_s",
                                               hw.reconnect_max_period_s)
        if "diagnostics_period_s" in values:
            self.diagnostics_timer.timer_period_ns = int(values["diagnostics_period_s"] * 1e9)
        if deadman_ms != hw.deadman_timeout_ms:
            try:
                hw.set_deadman_timeout_ms(deadman_ms)
            except (ConnectionError, PinError, RuntimeError) as exc:
                return SetParametersResult(successful=False,
                                           reason=f"could not re-arm the dead-man script: {exc}")
        return SetParametersResult(successful=True)

    def _publish_edge(self, event: InputEvent) -> None:
        # called on the pigpio client's notification thread, in tick order
        msg = GpioEdge()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.device = event.device
        msg.pin = event.pin
        msg.level = event.level
        msg.tick_us = event.tick_us
        msg.seq = event.seq
        try:
            self.edge_publisher.publish(msg)
        except Exception as exc:  # shutting down; the notification thread must live on
            self.get_logger().debug(f"edge not published: {exc}")

    def _on_command(self, msg: ActuatorCommand) -> None:
        channels = list(msg.channels)
        steps = int(msg.step_count)
        if len(msg.deltas) != len(channels) * steps:
            self.get_logger().warning(
                f"actuator_command from '{msg.source}' ignored: {len(msg.deltas)} deltas for "
                f"{len(channels)} channels x {steps} steps", throttle_duration_sec=5.0)
            return
        totals = (np.asarray(msg.deltas, dtype=float).reshape(len(channels), steps).sum(axis=1)
                  if steps else np.zeros(len(channels)))
        try:
            unknown = self.hardware.apply_channel_deltas(
                dict(zip(channels, totals.tolist(), strict=True)))
        except (ConnectionError, PinError) as exc:
            self.get_logger().warning(f"actuator_command not applied: {exc}",
                                      throttle_duration_sec=2.0)
            return
        new = set(unknown) - self._unknown_channels
        if new:
            self._unknown_channels |= new
            self.get_logger().debug(f"channels not driven by this pilot: {sorted(new)}")

    def _on_timed_pulse(self, request: TimedPulse.Request, response: TimedPulse.Response
                        ) -> TimedPulse.Response:
        try:
            response.start_tick_us = self.hardware.timed_pulse(
                request.device, int(request.duration_us), int(request.level))
            response.success = True
        except (ValueError, DeviceBusy, ConnectionError, PinError) as exc:
            response.success = False
            response.message = str(exc)
        return response

    def _publish_imu(self, name: str) -> None:
        if not self.context.ok():  # composed in a process that is shutting down
            return
        try:
            sample = self.hardware.read_imu(name)
        except (ConnectionError, PinError, OSError) as exc:
            self.get_logger().warning(f"imu '{name}': {exc}", throttle_duration_sec=5.0)
            return
        device = self.hardware.devices[name]
        assert isinstance(device, Mpu6050)
        msg = Imu()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = device.spec.settings["frame_id"]
        msg.orientation_covariance[0] = -1.0  # no orientation estimate
        a, g = sample.accel_mps2, sample.gyro_rad_s
        msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = (
            float(a[0]), float(a[1]), float(a[2]))
        msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = (
            float(g[0]), float(g[1]), float(g[2]))
        self.imu_publisher.publish(msg)

    def _publish_diagnostics(self) -> None:
        if not self.context.ok():
            return
        status = self.hardware.status()
        link = DiagnosticStatus()
        link.name = "pilot: pigpio link"
        link.hardware_id = f"pigpio@{self.host}:{self.port}"
        link.level = DiagnosticStatus.OK if status.connected else DiagnosticStatus.ERROR
        link.message = "connected" if status.connected else (status.last_error or "disconnected")
        values = {"connects": status.connects, "link_losses": status.link_losses,
                  "deadman_trips": status.deadman_trips,
                  "command_timeouts": status.command_timeouts, **status.devices}
        link.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [link]
        self.diagnostics_publisher.publish(msg)

    def destroy_node(self) -> None:
        """Outputs to their safe state and the daemon link closed, then the node."""
        if self.hardware is not None:
            self.hardware.on_event = None
            self.hardware.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Spin until SIGINT or SIGTERM, then make the outputs safe and exit 0.

    The signals only set a flag: rclpy's own handlers would raise KeyboardInterrupt in the
    middle of a pigpio exchange (leaving an unread reply that the shutdown's safe ops then
    trip over) or shut the context down under a running timer (an IMU sample published
    after shutdown). Here the spin loop ends first, then the node closes, then rclpy."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = None
    try:
        node = PilotNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (ConfigError, DeviceSetupError, ValueError) as exc:
        print(f"pilot: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
