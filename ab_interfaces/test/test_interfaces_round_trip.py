"""Every ab_interfaces message and service survives a real rclpy round trip,
in one process and between two processes over DDS."""

from __future__ import annotations

import pathlib

import pytest
import rclpy
from interface_samples import message_class, sample
from rclpy.qos import QoSProfile, ReliabilityPolicy

HERE = pathlib.Path(__file__).parent
INTERFACES = pathlib.Path(__file__).resolve().parents[1]
MESSAGES = sorted(f"ab_interfaces/msg/{p.stem}" for p in (INTERFACES / "msg").glob("*.msg"))
SERVICES = sorted(f"ab_interfaces/srv/{p.stem}" for p in (INTERFACES / "srv").glob("*.srv"))
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def test_every_interface_file_is_listed():
    assert len(MESSAGES) >= 12 and len(SERVICES) >= 5
    cmake = (INTERFACES / "CMakeLists.txt").read_text()
    for name in MESSAGES + SERVICES:
        kind, stem = name.split("/")[1:]
        assert f'"{kind}/{stem}.{kind}"' in cmake


def _publish_until_received(executor, spin_until, node, msg, topic_out, topic_in):
    cls = type(msg)
    received = []
    node.create_subscription(cls, topic_in, received.append, QOS)
    publisher = node.create_publisher(cls, topic_out, QOS)

    def delivered() -> bool:
        if not received:
            publisher.publish(msg)  # repeat until discovery has matched the peers
        return bool(received)

    assert spin_until(executor, delivered, timeout_s=20), f"no {cls.__name__} came back"
    return received[0]


@pytest.mark.parametrize("type_name", MESSAGES)
def test_message_round_trips_in_one_process(type_name, executor, spin_until, ros_context):

    node = rclpy.create_node("round_trip", context=ros_context)
    executor.add_node(node)
    msg = sample(message_class(type_name))
    assert _publish_until_received(executor, spin_until, node, msg, "loop", "loop") == msg


@pytest.mark.parametrize("type_name", SERVICES)
def test_service_round_trips_in_one_process(type_name, executor, spin_until, ros_context):

    cls = message_class(type_name)
    node = rclpy.create_node("round_trip", context=ros_context)
    executor.add_node(node)
    seen = []

    def serve(request, response):
        seen.append(request)
        return sample(cls.Response, seed=7)

    node.create_service(cls, "srv", serve)
    client = node.create_client(cls, "srv")
    assert spin_until(executor, client.service_is_ready)
    future = client.call_async(sample(cls.Request))
    assert spin_until(executor, future.done)
    assert seen == [sample(cls.Request)]
    assert future.result() == sample(cls.Response, seed=7)


def _start_peer(start_process, kind, type_name):
    peer = start_process(["python", str(HERE / "echo_peer.py"), kind, type_name])
    assert peer.stdout.readline().strip() == "ready", peer.stdout.read()
    return peer


@pytest.mark.parametrize("type_name", MESSAGES)
def test_message_round_trips_between_processes(type_name, executor, spin_until, ros_context,
                                               start_process):

    _start_peer(start_process, "msg", type_name)
    node = rclpy.create_node("round_trip", context=ros_context)
    executor.add_node(node)
    msg = sample(message_class(type_name))
    assert _publish_until_received(executor, spin_until, node, msg, "echo_in", "echo_out") == msg


@pytest.mark.parametrize("type_name", SERVICES)
def test_service_round_trips_between_processes(type_name, executor, spin_until, ros_context,
                                               start_process):

    cls = message_class(type_name)
    _start_peer(start_process, "srv", type_name)
    node = rclpy.create_node("round_trip", context=ros_context)
    executor.add_node(node)
    client = node.create_client(cls, "echo_srv")
    assert spin_until(executor, client.service_is_ready, timeout_s=20)
    future = client.call_async(sample(cls.Request))
    assert spin_until(executor, future.done)
    assert future.result() == sample(cls.Response, seed=7)


def test_samples_differ_from_defaults():
    # Guards the round-trip tests: a sample equal to the default would pass vacuously.
    for name in MESSAGES:
        cls = message_class(name)
        assert sample(cls) != cls(), name
