"""`pilot`: Raspberry Pi devices (through a pigpio daemon) as ROS topics and services.

Builds its devices from a devices YAML (`devices`: inline, or a file's path),
drives outputs from `actuator_command` channels, publishes input edges on
`gpio/edges` and IMU samples on `imu`, serves `pilot/timed_pulse`, and reports
the daemon link on `diagnostics`. Outputs go to their safe state on shutdown,
SIGTERM, exceptions, a lost link (reconnecting), and - through a dead-man
script inside the daemon - when this process is killed.

    ros2 run pilot_hw pilot --ros-args -p devices:=sim_devices.yaml -p port:=8888
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Imu

from ab_interfaces.msg import ActuatorCommand, GpioEdge
from ab_interfaces.srv import TimedPulse
from node_kit import Params, run_node
from node_kit.diagnostics import ERROR, OK, Diagnostics, Status
from pilot_hw.backends import PinError
from pilot_hw.config import load_devices
from pilot_hw.devices import DeviceBusy, InputEvent, Mpu6050
from pilot_hw.hardware import DeviceSetupError, PilotHardware

RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _deadman_problem(deadman_ms: int, heartbeat_s: float) -> str:
    if deadman_ms and deadman_ms < 2 * heartbeat_s * 1000:
        return (f"parameter 'deadman_timeout_ms' ({deadman_ms}) must be at least "
                f"2 x heartbeat_period_s ({heartbeat_s} s), or 0")
    return ""


def _reconnect_problem(period_s: float, max_period_s: float) -> str:
    if max_period_s < period_s:
        return (f"parameter 'reconnect_max_period_s' ({max_period_s}) must be at least "
                f"reconnect_period_s ({period_s})")
    return ""


class PilotNode(Node):
    """Devices of one Raspberry Pi, through its pigpio daemon."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pilot", **kwargs)
        self.hardware: PilotHardware | None = None
        params = Params(self)
        self.host: str = params.declare("host", "127.0.0.1",
                                        "Host of the pigpio daemon (or virtual Pi).")
        self.port: int = params.declare("port", 8888, "Port of the pigpio daemon.",
                                        low=1, high=65535)
        devices: str = params.declare(
            "devices", "", "The devices: inline YAML, or the path of a devices YAML (see "
            "pilot_hw/config/*.yaml).")
        heartbeat_s: float = params.declare(
            "heartbeat_period_s", 0.1, "Period of the dead-man heartbeat and link check.",
            low=0.005, high=10.0, on_set=self._set_heartbeat_period)
        deadman_ms: int = params.declare(
            "deadman_timeout_ms", 500, "Outputs go safe inside the daemon this long after "
            "heartbeats stop (0: no dead-man script); setting it re-arms the script.",
            low=0, high=60000, on_set=self._set_deadman_timeout)
        command_timeout_s: float = params.declare(
            "command_timeout_s", 0.5, "An output goes to its safe value when no "
            "actuator_command names its channel for this long (a device's own "
            "command_timeout_s in the devices YAML wins).",
            low=0.01, high=3600.0, on_set=self._set_command_timeout)
        reconnect_s: float = params.declare(
            "reconnect_period_s", 0.5, "Seconds before the first retry to reach the daemon; "
            "each failed try doubles it, up to reconnect_max_period_s.",
            low=0.01, high=60.0, on_set=self._set_reconnect_period)
        reconnect_max_s: float = params.declare(
            "reconnect_max_period_s", 5.0, "Longest wait between tries to reach the daemon.",
            low=0.01, high=600.0, on_set=self._set_reconnect_max_period)
        diagnostics_s: float = params.declare(
            "diagnostics_period_s", 1.0, "Seconds between diagnostics messages.",
            low=0.01, high=60.0, on_set=self._set_diagnostics_period)
        params.refuse_unknown()
        problem = _deadman_problem(deadman_ms, heartbeat_s) or _reconnect_problem(
            reconnect_s, reconnect_max_s)
        if problem:
            raise ValueError(problem)

        try:
            self.config = load_devices(devices)
        except ValueError as exc:
            self.get_logger().fatal(str(exc))
            raise

        self.edge_publisher = self.create_publisher(GpioEdge, "gpio/edges", RELIABLE_10)
        self.imu_publisher = self.create_publisher(Imu, "imu", qos_profile_sensor_data)
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
        self.diagnostics = Diagnostics(self, self.health, diagnostics_s, qos=RELIABLE_10)
        self.diagnostics_timer = self.diagnostics.timer
        self.get_logger().info(
            f"pilot: {len(self.config.devices)} device(s), channels "
            f"{sorted(self.hardware.channels) or '(none)'}, pigpio at {self.host}:{self.port}")

    # Live parameters (node_kit.Params): a ValueError refuses the value with its message.
    def _set_heartbeat_period(self, value: float) -> None:
        problem = _deadman_problem(self.hardware.deadman_timeout_ms, value)
        if problem:
            raise ValueError(problem)
        self.hardware.heartbeat_period_s = value

    def _set_deadman_timeout(self, value: int) -> None:
        problem = _deadman_problem(value, self.hardware.heartbeat_period_s)
        if problem:
            raise ValueError(problem)
        try:
            self.hardware.set_deadman_timeout_ms(value)
        except (ConnectionError, PinError, RuntimeError) as exc:
            raise ValueError(f"could not re-arm the dead-man script: {exc}") from exc

    def _set_command_timeout(self, value: float) -> None:
        self.hardware.command_timeout_s = value

    def _set_reconnect_period(self, value: float) -> None:
        problem = _reconnect_problem(value, self.hardware.reconnect_max_period_s)
        if problem:
            raise ValueError(problem)
        self.hardware.reconnect_period_s = value

    def _set_reconnect_max_period(self, value: float) -> None:
        problem = _reconnect_problem(self.hardware.reconnect_period_s, value)
        if problem:
            raise ValueError(problem)
        self.hardware.reconnect_max_period_s = value

    def _set_diagnostics_period(self, value: float) -> None:
        self.diagnostics.set_period(value)

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

    def health(self) -> Status:
        status = self.hardware.status()
        return Status(
            "pilot: pigpio link", OK if status.connected else ERROR,
            "connected" if status.connected else (status.last_error or "disconnected"),
            hardware_id=f"pigpio@{self.host}:{self.port}",
            values={"connects": status.connects, "link_losses": status.link_losses,
                    "deadman_trips": status.deadman_trips,
                    "command_timeouts": status.command_timeouts, **status.devices})

    def destroy_node(self) -> None:
        """Outputs to their safe state and the daemon link closed, then the node."""
        if self.hardware is not None:
            self.hardware.on_event = None
            self.hardware.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """SIGINT and SIGTERM end the spin loop, then the node makes its outputs safe (node_kit:
    rclpy's own handlers would raise KeyboardInterrupt inside a pigpio exchange, or shut the
    context down under a running timer)."""
    return run_node(PilotNode, args, program="pilot")


if __name__ == "__main__":
    raise SystemExit(main())
