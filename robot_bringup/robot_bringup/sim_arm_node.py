"""`sim_arm`: the simulated 2-joint arm, its camera and its target.

Takes `actuator_command` deltas (channels `joint:0`, `joint:1`, `gripper`),
publishes `joint_states`, `joint_motion` (for each command it applies that is not
its own: the joints just before and after it, with the command's cycle), the camera image `camera/image_raw` (bgr8), rviz
`markers` in the fixed frame `world` (no TF), and the target's true position on
`sim/target`. The target moves every `target_period_s`, on the `sim_arm/next_target`
service, on a button press (`gpio/edges` from pilot_hw), or when the
`target_xy_m` parameter is set. The arm's hardware parts go through pilot_hw:
when the tip reaches the target the sim closes the gripper and lights the LED by
publishing the `gripper` and `led` channels on `actuator_command` (pilot maps
them to a servo and an LED on the (virtual) Pi).
"""

from __future__ import annotations

import math
import time

import numpy as np
from geometry_msgs.msg import Point, PointStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import ColorRGBA
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from ab_interfaces.msg import ActuatorCommand, GpioEdge, JointMotion
from node_kit import Params, run_node
from node_kit.checks import require_length
from robot_bringup.arm import GRIPPER_CHANNEL, ArmGeometry, ArmState
from robot_bringup.camera import TargetSchedule, declare_camera, render

JOINT_NAMES = ("joint0", "joint1", "gripper")
LED_CHANNEL = "led"
SOURCE = "sim_arm"


def image_msg(image: np.ndarray, stamp, frame_id: str) -> Image:
    """A bgr8 sensor_msgs/Image of an (H, W, 3) uint8 array."""
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = "bgr8"
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = image.tobytes()
    return msg


class SimArmNode(Node):
    """The simulated arm: commands in; joints, camera, markers and target out."""

    def __init__(self, **kwargs) -> None:
        super().__init__("sim_arm", **kwargs)
        params = Params(self)
        lengths = require_length("link_lengths_m", params.declare(
            "link_lengths_m", [0.5, 0.4], "Upper arm and forearm lengths (m).", low=0.01,
            high=10.0), 2)
        joint_min = require_length("joint_min_rad", params.declare(
            "joint_min_rad", [-0.2, -2.6], "Lower joint limits (rad)."), 2)
        joint_max = require_length("joint_max_rad", params.declare(
            "joint_max_rad", [math.pi + 0.2, 2.6], "Upper joint limits (rad)."), 2)
        max_delta = params.declare(
            "max_delta_rad", 0.5, "Largest joint change one command may make (rad).", low=1e-6,
            high=10.0)
        initial = require_length("initial_joints_rad", params.declare(
            "initial_joints_rad", [math.pi / 2, 0.8], "Joint angles at start (rad)."), 2)
        try:
            self.geometry = ArmGeometry(tuple(lengths), tuple(joint_min), tuple(joint_max),
                                        max_delta)
        except ValueError as error:
            raise ValueError(f"parameters link_lengths_m/joint_min_rad/joint_max_rad: "
                             f"{error}") from None
        self.initial_joints_rad = np.array(initial, dtype=float)
        self.arm = ArmState(self.geometry, self.initial_joints_rad)
        self.camera = declare_camera(params)
        self.camera_frame = params.declare(
            "camera.frame_id", "camera", "frame_id of the camera images.")
        camera_hz = params.declare(
            "camera.rate_hz", 30.0, "Camera frames per second.", low=0.1, high=1000.0)
        joint_hz = params.declare(
            "joint_state_rate_hz", 50.0, "joint_states per second.", low=0.1, high=1000.0)
        marker_hz = params.declare(
            "marker_rate_hz", 10.0, "rviz markers per second.", low=0.1, high=100.0)
        period = params.declare(
            "target.period_s", 8.0, "Seconds between target moves (0: only on request).", low=0.0,
            high=1e6)
        mode = params.declare(
            "target.mode", "random",
            "'random': random reachable points; 'list': target.positions_m in turn.")
        if mode not in ("random", "list"):
            raise ValueError(f"parameter 'target.mode' must be 'random' or 'list', got {mode!r}")
        flat = params.declare(
            "target.positions_m", [0.45, 0.5, -0.45, 0.5],
            "Target positions for mode 'list', flat x0, y0, x1, y1, ... (m).")
        if len(flat) % 2 or not flat:
            raise ValueError(f"parameter 'target.positions_m' needs x, y pairs, got "
                             f"{list(flat)!r}")
        positions = [flat[i:i + 2] for i in range(0, len(flat), 2)] if mode == "list" else []
        self.target_radius_m = params.declare(
            "target.radius_m", 0.06, "Radius of the red target disc (m).", low=0.005, high=1.0)
        seed = params.declare(
            "seed", 0, "Seed of the random target positions.", low=0, high=2**31 - 1)
        self.grasp_radius_m = params.declare(
            "grasp_radius_m", 0.08, "Tip-to-target distance that counts as reached (m).", low=0.0,
            high=10.0)
        self.hardware_commands = params.declare(
            "hardware_commands", True,
            "Publish gripper/led channels on actuator_command for pilot_hw.")
        self.button_device = params.declare(
            "button_device", "button", "pilot_hw input device whose press moves the target.")
        self.button_press_level = params.declare(
            "button_press_level", 0,
            "gpio/edges level of a press (0 for a button to ground with pull-up).", low=0, high=1)
        try:
            self.schedule = TargetSchedule(self.geometry, period, positions, seed)
        except ValueError as error:
            raise ValueError(f"parameter 'target.positions_m': {error}") from None
        params.declare(
            "target_xy_m", [0.0, 0.0],
            "Set at runtime to move the target to (x, y) m (the value at start is ignored).",
            on_set=self._set_target)
        params.refuse_unknown()

        reliable = QoSProfile(depth=10)
        self.joint_publisher = self.create_publisher(JointState, "joint_states",
                                                     qos_profile_sensor_data)
        self.image_publisher = self.create_publisher(Image, "camera/image_raw",
                                                     qos_profile_sensor_data)
        self.marker_publisher = self.create_publisher(MarkerArray, "markers", reliable)
        # Reliable: each message is the only record of what one brain cycle did.
        self.motion_publisher = self.create_publisher(JointMotion, "joint_motion",
                                                      QoSProfile(depth=50))
        self.target_publisher = self.create_publisher(PointStamped, "sim/target", reliable)
        self.command_publisher = self.create_publisher(ActuatorCommand, "actuator_command",
                                                       reliable)
        self.create_subscription(ActuatorCommand, "actuator_command", self.on_command, reliable)
        self.create_subscription(GpioEdge, "gpio/edges", self.on_edge, reliable)
        self.create_service(Trigger, "sim_arm/next_target", self.on_next_target)
        self.create_timer(1.0 / joint_hz, self.publish_joints)
        self.create_timer(1.0 / camera_hz, self.publish_image)
        self.create_timer(1.0 / marker_hz, self.publish_markers)
        self.commands_applied = 0
        self.frames_published = 0
        self.last_frame_stamp_ns = 0
        self.reached = False
        self.led_on = False
        self._warned_channels: set[str] = set()
        self.get_logger().info(
            f"sim arm: links {lengths} m, camera {self.camera.width_px}x{self.camera.height_px} "
            f"at {camera_hz} Hz, "
            f"target every {period} s")

    def reset(self) -> None:
        """Back to the start: initial joints, open gripper, the target schedule from its start."""
        self.arm = ArmState(self.geometry, self.initial_joints_rad)
        self.schedule.reset()
        self.reached = False

    def now_s(self) -> float:
        return time.monotonic()

    def target(self) -> np.ndarray:
        return self.schedule.update(self.now_s())

    def on_command(self, msg: ActuatorCommand) -> None:
        before = self.positions()
        try:
            unknown = self.arm.apply(list(msg.channels), np.asarray(msg.deltas, dtype=float),
                                     int(msg.step_count))
        except ValueError as error:
            self.get_logger().warning(f"actuator_command from {msg.source!r} ignored: {error}",
                                      throttle_duration_sec=5.0)
            return
        self.commands_applied += 1
        if msg.source != SOURCE:
            # The new joints go out at once, and what this command did (joint_motion):
            # whoever judges it sees its effect, and only its effect.
            motion = JointMotion(source=msg.source, cycle=msg.cycle, name=list(JOINT_NAMES),
                                 position_before=before, position_after=self.positions())
            motion.header.stamp = self.get_clock().now().to_msg()
            self.motion_publisher.publish(motion)
            self.publish_joints()
        for name in set(unknown) - self._warned_channels - {LED_CHANNEL}:
            self._warned_channels.add(name)
            self.get_logger().info(f"channel {name!r} is not part of the arm; ignored")

    def on_edge(self, msg: GpioEdge) -> None:
        if msg.device == self.button_device and msg.level == self.button_press_level:
            self.schedule.next()
            self.get_logger().info(f"button: target moved to {self.schedule.position.round(3)}")

    def on_next_target(self, request, response):
        position = self.schedule.next()
        response.success = True
        response.message = f"target at ({position[0]:.3f}, {position[1]:.3f}) m"
        return response

    def _set_target(self, value) -> None:
        try:
            self.schedule.set(list(value))
        except TypeError as error:
            raise ValueError(str(error)) from None

    def positions(self) -> list[float]:
        """joint0, joint1 (rad) and the gripper (0 open .. 1 closed), as JOINT_NAMES."""
        return [float(v) for v in self.arm.joints_rad] + [float(self.arm.gripper)]

    def publish_joints(self) -> None:
        stamp = self.get_clock().now().to_msg()
        msg = JointState()
        msg.header.stamp = stamp
        msg.name = list(JOINT_NAMES)
        msg.position = self.positions()
        self.joint_publisher.publish(msg)
        target = self.target()
        point = PointStamped()
        point.header.stamp = stamp
        point.header.frame_id = "world"
        point.point.x, point.point.y = float(target[0]), float(target[1])
        self.target_publisher.publish(point)
        self._update_hardware(target)

    def _update_hardware(self, target: np.ndarray) -> None:
        reached = bool(np.hypot(*(self.arm.end_effector() - target)) <= self.grasp_radius_m)
        if reached == self.reached:
            return
        self.reached = reached
        if not self.hardware_commands:
            return
        msg = ActuatorCommand()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.source = SOURCE
        msg.channels = [GRIPPER_CHANNEL, LED_CHANNEL]
        msg.step_count = 1
        msg.step_dt_s = 0.0
        grip_goal = 1.0 if reached else 0.0
        msg.deltas = [grip_goal - self.arm.gripper, 1.0 if reached else -1.0]
        self.command_publisher.publish(msg)

    def publish_image(self) -> None:
        image = render(self.camera, self.arm.points(), self.arm.gripper, self.target(),
                       self.target_radius_m)
        now = self.get_clock().now()
        self.image_publisher.publish(image_msg(image, now.to_msg(), self.camera_frame))
        self.frames_published += 1
        self.last_frame_stamp_ns = now.nanoseconds

    def publish_markers(self) -> None:
        stamp = self.get_clock().now().to_msg()
        points = self.arm.points()
        target = self.target()

        def marker(marker_id: int, kind: int, rgba: tuple[float, float, float, float],
                   scale: float) -> Marker:
            m = Marker()
            m.header.frame_id = "world"
            m.header.stamp = stamp
            m.ns = "sim_arm"
            m.id = marker_id
            m.type = kind
            m.action = Marker.ADD
            m.pose.orientation.w = 1.0
            m.scale.x = m.scale.y = m.scale.z = scale
            m.color = ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])
            return m

        links = marker(0, Marker.LINE_STRIP, (0.35, 0.27, 0.24, 1.0), 0.04)
        links.points = [Point(x=float(p[0]), y=float(p[1])) for p in points]
        joints = marker(1, Marker.SPHERE_LIST, (0.15, 0.15, 0.15, 1.0), 0.06)
        joints.points = [Point(x=float(p[0]), y=float(p[1])) for p in points[:2]]
        tip = marker(2, Marker.SPHERE, (0.1, 0.8, 0.2, 1.0) if self.reached
                     else (0.5, 0.5, 0.5, 1.0), 0.05)
        tip.pose.position = Point(x=float(points[2][0]), y=float(points[2][1]))
        goal = marker(3, Marker.CYLINDER, (1.0, 0.0, 0.0, 0.9), 2 * self.target_radius_m)
        goal.scale.z = 0.01
        goal.pose.position = Point(x=float(target[0]), y=float(target[1]))
        self.marker_publisher.publish(MarkerArray(markers=[links, joints, tip, goal]))


def main(args: list[str] | None = None) -> int:
    return run_node(SimArmNode, args, program="sim_arm")


if __name__ == "__main__":
    raise SystemExit(main())
