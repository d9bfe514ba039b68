"""A protocol-faithful stand-in for robot_bringup's sim_arm, for these tests only:
subscribes actuator_command (channels joint:0, joint:1, deltas), publishes
joint_states (joint0, joint1, gripper) and sim/target (PointStamped)."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import JointState

from ab_interfaces.msg import ActuatorCommand

# The nodes' channel parameters for this arm (inline YAML, as in robot_bringup/config/rl.yaml).
ARM_SENSORS = """\
- {channel: "joint:0", topic: joint_states, field: position, index: joint0, low: -0.2, high: 3.35}
- {channel: "joint:1", topic: joint_states, field: position, index: joint1, low: -2.6, high: 2.6}
- {channel: "target:x", topic: sim/target, field: point.x, low: -0.9, high: 0.9}
- {channel: "target:y", topic: sim/target, field: point.y, low: -0.9, high: 0.9}
"""
ARM_ACTUATORS = '[{channel: "joint:0", low: -0.1, high: 0.1}, {channel: "joint:1", low: -0.1, high: 0.1}]'
ARM_TOPIC_TYPES = "{joint_states: sensor_msgs/JointState, sim/target: geometry_msgs/PointStamped}"


class ArmPeer(Node):
    def __init__(self, rate_hz: float = 50.0, **kwargs) -> None:
        super().__init__("arm_peer", **kwargs)
        self.q = np.array([0.5, 0.5])
        self.target = (0.3, 0.6)
        self.commands: list[ActuatorCommand] = []
        self.create_subscription(ActuatorCommand, "actuator_command", self.on_command,
                                 QoSProfile(depth=10))
        self.joints = self.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
        self.target_pub = self.create_publisher(PointStamped, "sim/target", QoSProfile(depth=10))
        self.create_timer(1.0 / rate_hz, self.publish)

    def on_command(self, msg: ActuatorCommand) -> None:
        self.commands.append(msg)
        for name, delta in zip(msg.channels, msg.deltas, strict=False):
            if name in ("joint:0", "joint:1"):
                self.q[int(name[-1])] += delta

    def publish(self) -> None:
        msg = JointState()
        msg.name = ["joint0", "joint1", "gripper"]
        msg.position = [float(self.q[0]), float(self.q[1]), 0.0]
        self.joints.publish(msg)
        point = PointStamped()
        point.point.x, point.point.y = self.target
        self.target_pub.publish(point)
