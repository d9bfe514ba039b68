"""brain_session as a ROS node against the protocol server: topics in, spikes and commands
out, rewards and deviations forwarded, services, diagnostics, hold on loss and stop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from protocol_server import ProtocolServer
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32MultiArray

from ab_bridge.brain_session_node import BrainSessionNode
from ab_bridge.spikes_msg import command_msg, hold_msg, raster_of
from ab_interfaces.msg import ActuatorCommand, CycleSpikes, Deviation, Reward
from ab_interfaces.srv import StartRun, StopRun

SECRET = "sk-node-secret-42"
MAPPING = """
- {node_id: joint0, channel: "joint:0", scheme: bipolarSplit, per_step_max: 0.01}
- {node_id: joint1, channel: "joint:1", scheme: bipolarSplit, per_step_max: 0.01, invert: true}
"""
INPUTS = """
camera: {topic: camera/image_raw, type: sensor_msgs/Image, format: jpeg}
joints: {topic: joint_states, type: sensor_msgs/JointState}
target: {topic: target, type: std_msgs/Float32MultiArray}
"""


@pytest.fixture
def server():
    srv = ProtocolServer(api_key=SECRET).start()
    yield srv
    srv.stop()


def _node(ros_context, server, tmp_path, namespace, **extra):
    overrides = [Parameter("url", value=server.url), Parameter("api_key", value=SECRET),
                 Parameter("decoder_mapping", value=MAPPING), Parameter("inputs", value=INPUTS),
                 Parameter("policies_dir", value=str(tmp_path / "policies")),
                 Parameter("reconnect_delay_s", value=0.1),
                 Parameter("reconnect_delay_max_s", value=0.4),
                 Parameter("diagnostics_period_s", value=0.2)]
    overrides += [Parameter(k, value=v) for k, v in extra.items()]
    return BrainSessionNode(context=ros_context, parameter_overrides=overrides, namespace=namespace)


@pytest.mark.timeout(90)
def test_session_node_bridges_a_run(server, ros_context, executor, spin_until, tmp_path,
                                    ros_namespace):
    # `server` first: it is torn down after the node, so the node closes its link itself.
    node = _node(ros_context, server, tmp_path, ros_namespace, auto_start=True)
    probe = rclpy.create_node("probe", context=ros_context, namespace=ros_namespace)
    executor.add_node(node)
    executor.add_node(probe)
    spikes, commands, diagnostics = [], [], []
    probe.create_subscription(CycleSpikes, "spikes", spikes.append, 10)
    probe.create_subscription(ActuatorCommand, "actuator_command", commands.append, 10)
    probe.create_subscription(DiagnosticArray, "diagnostics", diagnostics.append, 10)
    image_pub = probe.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    joints_pub = probe.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
    target_pub = probe.create_publisher(Float32MultiArray, "target", qos_profile_sensor_data)
    reward_pub = probe.create_publisher(Reward, "reward", 10)
    deviation_pub = probe.create_publisher(Deviation, "deviation", 10)

    assert spin_until(executor, lambda: "run-1" in server.joined, timeout_s=20)
    assert (tmp_path / "policies" / "_contract.json").is_file()

    pixels = np.zeros((24, 32, 3), np.uint8)
    pixels[:, :16] = (255, 0, 0)
    image = Image(height=24, width=32, encoding="bgr8", step=96, data=pixels.tobytes())
    joints = JointState(name=["a", "b"], position=[0.1, 0.2], velocity=[0.0, -1.0])
    target = Float32MultiArray(data=[0.5])

    def inputs_arrived() -> bool:
        image_pub.publish(image)
        joints_pub.publish(joints)
        target_pub.publish(target)
        return all(node.latest.get(i) is not None for i in ("camera", "joints", "target"))

    assert spin_until(executor, inputs_arrived, timeout_s=10)
    server.emit_need(1, [{"id": "camera", "kind": "Image"}, {"id": "joints", "kind": "JointState"},
                         {"id": "target", "kind": "Scalar"}])
    assert spin_until(executor, lambda: len(server.received_of("io:chunk")) == 3), (
        [name for name, _ in server.received], node.session.stats.chunks_sent,
        node.session.stats.errors, node.session.stats.last_error, node.session._link.connected,
        node.session.deferred_cycle)
    chunks = {c["inputId"]: c for c in server.received_of("io:chunk")}
    decoded = cv2.imdecode(np.frombuffer(chunks["camera"]["data"], np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (24, 32, 3) and decoded[12, 4, 0] > 200 and decoded[12, 28, 0] < 50
    assert np.frombuffer(chunks["joints"]["data"], "<f4").tolist() == pytest.approx(
        [0.1, 0.2, 0.0, -1.0])
    assert chunks["joints"]["meta"]["names"] == ["a", "b"]
    # The joint input also goes out as periodic robot:state.
    assert spin_until(executor, lambda: server.received_of("robot:state"))
    assert server.received_of("robot:state")[-1]["state"]["q"] == pytest.approx([0.1, 0.2])
    assert np.frombuffer(chunks["target"]["data"], "<f4").tolist() == [0.5]

    joint0 = np.zeros((8, 16), np.uint8)
    joint0[:, :3] = 1                      # +3 per step
    joint1 = np.zeros((8, 16), np.uint8)
    joint1[:4, 8:10] = 1                   # -2 for 4 steps, inverted: +2
    server.emit_cycle(1, {"joint0": joint0, "joint1": joint1})
    assert spin_until(executor, lambda: spikes and any(c.cycle == 1 for c in commands))
    assert [p.population_id for p in spikes[0].populations] == ["joint0", "joint1"]
    np.testing.assert_array_equal(raster_of(spikes[0].populations[0]), joint0)
    command = next(c for c in commands if c.cycle == 1)
    assert list(command.channels) == ["joint:0", "joint:1"] and command.step_count == 8
    deltas = np.array(command.deltas).reshape(2, 8)
    np.testing.assert_allclose(deltas[0], 0.03)
    np.testing.assert_allclose(deltas[1], [0.02] * 4 + [0.0] * 4)
    assert command.step_dt_s == pytest.approx(0.001)

    reward_pub.publish(Reward(cycle=1, global_reward=0.8, layer_ids=["hidden_to_joint1"],
                              layer_rewards=[3.0]))
    deviation_pub.publish(Deviation(cycle=1, feedback_id="arm_error", values=[-2.0] * 8))
    assert spin_until(executor, lambda: server.received_of("learn:reward")
                      and len(server.received_of("io:chunk")) == 4)
    assert server.received_of("learn:reward")[0]["byLayer"] == {
        "hidden_to_joint0": 0.8, "hidden_to_joint1": 1.0}
    assert np.allclose(np.frombuffer(server.received_of("io:chunk")[-1]["data"], "<f4"), -1.0)

    assert spin_until(executor, lambda: any(
        {kv.key: kv.value for kv in d.status[0].values}.get("cycles") == "1"
        for d in diagnostics))
    assert diagnostics[-1].status[0].message.startswith("connected")

    # An image that cannot be converted is reported when served; the session goes on.
    bad = Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8))

    def bad_image_arrived() -> bool:
        image_pub.publish(bad)
        return node.latest.get("camera").encoding == "yuv422"

    assert spin_until(executor, bad_image_arrived, timeout_s=10)
    server.emit_need(2, [{"id": "camera", "kind": "Image"}])
    assert spin_until(executor, lambda: "image encoding 'yuv422' not supported"
                      in node.session.stats.last_error)

    # Server dies mid-run: actuators get a hold, the node reconnects on its own.
    holds_before = sum(1 for c in commands if not any(c.deltas))
    server.stop()
    assert spin_until(executor, lambda: sum(1 for c in commands if not any(c.deltas))
                      > holds_before)
    hold = commands[-1]
    assert list(hold.channels) == ["joint:0", "joint:1"] and list(hold.deltas) == [0.0, 0.0]
    server.start()
    assert spin_until(executor, lambda: server.joined.count("run-1") >= 2, timeout_s=20)

    # stop_run: hold again, REST stop with the run id.
    client = probe.create_client(StopRun, "brain_session/stop_run")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(StopRun.Request())
    assert spin_until(executor, future.done)
    assert future.result().success and future.result().run_id == "run-1"
    assert spin_until(executor, lambda: commands[-1].deltas and not any(commands[-1].deltas)
                      and len(commands) > 2)
    assert any(call[1].endswith("/stop") and call[3] == {"runId": "run-1"}
               for call in server.rest_calls)

    # The last cycle's reward arriving after the stop (every phase end of the demo) is
    # counted and shown in diagnostics, not reported as an error.
    errors_before = node.session.stats.errors
    reward_pub.publish(Reward(cycle=7, global_reward=0.5))
    assert spin_until(executor, lambda: node.session.stats.rewards_without_run == 1)
    assert spin_until(executor, lambda: {kv.key: kv.value for kv in diagnostics[-1].status[0]
                                         .values}.get("rewards_without_run") == "1")
    assert node.session.stats.errors == errors_before
    assert len(server.received_of("learn:reward")) == 1


def _start_run_client(ros_context, server, tmp_path, namespace, executor, **extra):
    """A session node (with `extra` parameters) and a client of its start_run service, both
    on `executor`."""
    node = _node(ros_context, server, tmp_path, namespace, **extra)
    probe = rclpy.create_node("start_probe", context=ros_context, namespace=namespace)
    executor.add_node(node)
    executor.add_node(probe)
    client = probe.create_client(StartRun, "brain_session/start_run")
    assert client.wait_for_service(timeout_sec=5)
    return client


@pytest.mark.timeout(60)
def test_start_run_service_and_bad_options(server, ros_context, executor, spin_until, tmp_path,
                                           ros_namespace):
    client = _start_run_client(ros_context, server, tmp_path, ros_namespace, executor)
    future = client.call_async(StartRun.Request(options_json="[1, 2"))
    assert spin_until(executor, future.done)
    assert not future.result().success and "options_json" in future.result().message
    future = client.call_async(StartRun.Request(options_json='{"mode": "train"}'))
    assert spin_until(executor, future.done)
    assert future.result().success and future.result().run_id == "run-1"
    start_call = next(c for c in server.rest_calls if c[1].endswith("/start"))
    assert start_call[3] == {"mode": "train"}
    future = client.call_async(StartRun.Request())
    assert spin_until(executor, future.done)
    assert not future.result().success and "already running" in future.result().message


@pytest.mark.timeout(60)
def test_run_options_are_the_defaults_of_a_start_request(server, ros_context, executor,
                                                         spin_until, tmp_path, ros_namespace):
    # brain.yaml's camera pace ({"pace": "inputs"}) must survive the demo's start requests,
    # which name only learning and seed; a key the request names wins.
    client = _start_run_client(ros_context, server, tmp_path, ros_namespace, executor,
                               run_options='{"pace": "inputs", "learning": true}')
    future = client.call_async(StartRun.Request(options_json='{"learning": false, "seed": 4}'))
    assert spin_until(executor, future.done)
    assert future.result().success, future.result().message
    start_call = next(c for c in server.rest_calls if c[1].endswith("/start"))
    assert start_call[3] == {"pace": "inputs", "learning": False, "seed": 4}


def test_bad_parameters_name_the_parameter(ros_context, tmp_path):
    with pytest.raises(ValueError, match="'run_options'.*JSON object"):
        BrainSessionNode(context=ros_context, parameter_overrides=[
            Parameter("run_options", value='["pace", "inputs"]')])
    with pytest.raises(ValueError, match="'url'"):
        BrainSessionNode(context=ros_context, parameter_overrides=[Parameter("url", value="ftp://x")])
    with pytest.raises(ValueError, match="'decoder_mapping'.*unknown scheme"):
        BrainSessionNode(context=ros_context, parameter_overrides=[
            Parameter("decoder_mapping", value="[{node_id: a, channel: b, scheme: nope}]")])
    with pytest.raises(ValueError, match="'decoder_mapping'.*'missing.yaml' not found"):
        BrainSessionNode(context=ros_context, parameter_overrides=[
            Parameter("decoder_mapping", value="missing.yaml")])
    with pytest.raises(ValueError, match="'inputs'.*not valid YAML"):
        BrainSessionNode(context=ros_context, parameter_overrides=[
            Parameter("inputs", value="cam: {topic: [")])
    with pytest.raises(ValueError, match="'inputs'.*unsupported type"):
        BrainSessionNode(context=ros_context, parameter_overrides=[
            Parameter("inputs", value="cam: {topic: c, type: sensor_msgs/Imu}")])


@pytest.mark.timeout(90)
def test_runs_as_a_process_key_from_environment_never_printed(
        server, executor, spin_until, ros_context, start_process, installed_executable, tmp_path,
        ros_namespace):
    import os
    import pathlib
    import signal

    env = dict(os.environ, AB_API_KEY=SECRET, RCUTILS_LOGGING_SEVERITY="DEBUG")
    example = pathlib.Path(__file__).resolve().parents[1] / "config" \
        / "brain_session.example.yaml"
    child = start_process([installed_executable("brain_session"), "--ros-args",
                           "--params-file", str(example), "-r", f"__ns:={ros_namespace}",
                           "-p", f"url:={server.url}", "-p", "auto_start:=true",
                           # Inline YAML: quoted, so ROS passes it as one string.
                           "-p", """decoder_mapping:='[{node_id: joint0, channel: "joint:0"}]'""",
                           "--log-level", "debug"], env=env)
    probe = rclpy.create_node("probe4", context=ros_context, namespace=ros_namespace)
    executor.add_node(probe)
    commands: list[ActuatorCommand] = []
    probe.create_subscription(ActuatorCommand, "actuator_command", commands.append, 10)
    assert spin_until(executor, lambda: "run-1" in server.joined, timeout_s=30)
    assert server.connects[-1]["auth"] == {"token": SECRET, "apiKey": SECRET}
    # The example params file's inputs were taken: the node listens to their topics.
    assert spin_until(executor, lambda: probe.count_subscribers("camera/image_raw") == 1
                      and probe.count_subscribers("target") == 1)

    cycles = iter(range(5, 1000))

    def cycle_published() -> bool:
        # A new cycle each try: a repeated cycle number is dropped as out of order.
        server.emit_cycle(next(cycles), {"joint0": np.ones((8, 16), np.uint8)})
        return spin_until(executor, lambda: any(c.cycle >= 5 for c in commands), timeout_s=1)

    assert spin_until(executor, cycle_published, timeout_s=30)
    # Cycles are published on the realtime thread, possibly before the executor has
    # finished the start (and logged it): a diagnostics message counting the cycle
    # comes from the executor once it is free again.
    diagnostics: list[DiagnosticArray] = []
    probe.create_subscription(DiagnosticArray, "diagnostics", diagnostics.append, 10)
    assert spin_until(executor, lambda: any(
        {kv.key: kv.value for kv in d.status[0].values}.get("cycles", "0") != "0"
        for d in diagnostics), timeout_s=30)
    child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=30)
    assert "run run-1 started" in output
    assert SECRET not in output



def test_a_session_without_a_mapping_publishes_empty_commands() -> None:
    """No decoder mapping: every cycle's command names no channel (it used to fail)."""
    command = command_msg("brain_session", 7, [], np.zeros((0, 20)), 0.001)
    assert (command.cycle, command.channels, command.step_count, list(command.deltas)) == \
        (7, [], 20, [])
    hold = hold_msg("brain_session", 0, [], 0.001)
    assert (hold.channels, hold.step_count) == ([], 1)
    command = command_msg("x", 1, ["a", "b"], np.arange(6.0), 0.001)   # flat, channel-major
    assert command.step_count == 3 and list(command.deltas) == [0, 1, 2, 3, 4, 5]


def test_a_command_s_deltas_are_the_checked_list_s_values_and_bytes() -> None:
    """command_msg hands the deltas over as an array of doubles (the message takes it as it
    is): the same message, and the same serialized bytes, as the value-checked list."""
    from rclpy.serialization import serialize_message

    deltas = np.array([[0.0, -0.5, 1e-300, np.inf], [3.25, -0.0, 2.0 ** 60, -7.0]])
    for given in (deltas, deltas.T.copy().T, deltas.astype(np.float32), deltas.ravel()):
        fast = command_msg("x", 3, ["a", "b"], given, 0.001)
        checked = ActuatorCommand(source="x", cycle=3, channels=["a", "b"], step_count=4,
                                  step_dt_s=0.001)
        checked.deltas = np.asarray(given, dtype=np.float64).reshape(2, -1).ravel().tolist()
        assert fast == checked
        assert serialize_message(fast) == serialize_message(checked)
    # (and a check that tells two messages apart: one delta differs)
    checked.deltas = [0.0, -0.5, 1e-300, np.inf, 3.25, 0.0, 2.0 ** 60, -7.5]
    assert serialize_message(fast) != serialize_message(checked)
