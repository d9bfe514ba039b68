"""A second process for round-trip tests.

    python echo_peer.py msg  PKG/msg/Name   # republishes `echo_in` on `echo_out`
    python echo_peer.py srv  PKG/srv/Name   # serves `echo_srv`: sample(Response) for sample(Request)

Prints "ready" once its endpoints exist.
"""

import sys

import rclpy
from interface_samples import message_class, sample
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSProfile, ReliabilityPolicy


def main() -> None:
    kind, type_name = sys.argv[1], sys.argv[2]
    cls = message_class(type_name)
    rclpy.init()
    node = rclpy.create_node("echo_peer")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    if kind == "msg":
        publisher = node.create_publisher(cls, "echo_out", qos)
        node.create_subscription(cls, "echo_in", publisher.publish, qos)
    else:
        # Answer with the sample response only when the request arrived intact,
        # so the client's one comparison checks both directions.
        node.create_service(
            cls, "echo_srv",
            lambda request, response: sample(cls.Response, seed=7)
            if request == sample(cls.Request) else response)
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
