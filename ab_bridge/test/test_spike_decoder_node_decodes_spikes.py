"""spike_decoder: CycleSpikes in, ActuatorCommand out; bad bundles are skipped with an error."""

from __future__ import annotations

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter

from ab_bridge.decoding import Decoder
from ab_bridge.spike_decoder_node import SpikeDecoderNode
from ab_bridge.spikes_msg import cycle_msg
from ab_interfaces.msg import ActuatorCommand, CycleSpikes

MAPPING = """
- {node_id: left, channel: "wheel:left", scheme: bipolarScalar, per_step_max: 0.5}
- {node_id: right, channel: "wheel:right", scheme: booleanThreshold, threshold: 3, gain: 2}
- {node_id: right, channel: "wheel:left", scheme: addition, per_step_max: 0.001, clamp: [0, 0.002]}
"""


def test_decodes_each_bundle_like_the_core_decoder(ros_context, executor, spin_until,
                                                   ros_namespace):
    node = SpikeDecoderNode(context=ros_context, namespace=ros_namespace,
                        parameter_overrides=[Parameter("decoder_mapping", value=MAPPING)])
    probe = rclpy.create_node("probe", context=ros_context, namespace=ros_namespace)
    executor.add_node(node)
    executor.add_node(probe)
    commands: list[ActuatorCommand] = []
    probe.create_subscription(ActuatorCommand, "actuator_command", commands.append, 10)
    publisher = probe.create_publisher(CycleSpikes, "spikes", 10)
    rng = np.random.default_rng(3)
    rasters = [("left", (rng.random((10, 12)) < 0.3).astype(np.uint8)),
               ("right", (rng.random((10, 6)) < 0.4).astype(np.uint8))]
    bundle = cycle_msg("recorded", 7, rasters, 0.002)

    # A bundle whose bitmap does not match its shape is refused, the node goes on.
    broken = cycle_msg("recorded", 6, rasters, 0.002)
    broken.populations[0].bitmap = broken.populations[0].bitmap[:-1]
    publisher.publish(broken)
    assert spin_until(executor, lambda: node.error_count == 1)

    assert spin_until(executor, lambda: publisher.publish(bundle) or commands, timeout_s=10)
    command = commands[0]
    assert command.cycle == 7 and command.source == "spike_decoder"
    assert list(command.channels) == ["wheel:left", "wheel:right"]
    assert command.step_count == 10 and command.step_dt_s == pytest.approx(0.002)
    expected = Decoder(_yaml(MAPPING)).decode_rows(
        [{"t": t, "id": pid, "bits": r[t].tolist()} for t in range(10) for pid, r in rasters])
    np.testing.assert_array_equal(np.array(command.deltas).reshape(2, 10), expected.deltas)
    assert node.error_count == 1


def test_needs_a_mapping(ros_context):
    with pytest.raises(ValueError, match="'decoder_mapping'"):
        SpikeDecoderNode(context=ros_context)


@pytest.mark.timeout(60)
def test_runs_as_a_process_with_ros_args(executor, spin_until, ros_context, start_process,
                                         installed_executable, tmp_path, ros_namespace):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("- {node_id: p, channel: 'joint:0', scheme: addition}\n")
    start_process([installed_executable("spike_decoder"), "--ros-args",
                   "-p", f"decoder_mapping:={mapping}", "-p", "source:=remote_decoder",
                   "-r", f"__ns:={ros_namespace}"])
    probe = rclpy.create_node("probe3", context=ros_context, namespace=ros_namespace)
    executor.add_node(probe)
    commands: list[ActuatorCommand] = []
    probe.create_subscription(ActuatorCommand, "actuator_command", commands.append, 10)
    publisher = probe.create_publisher(CycleSpikes, "spikes", 10)
    bundle = cycle_msg("x", 3, [("p", np.ones((4, 5), np.uint8))], 0.001)
    assert spin_until(executor, lambda: publisher.publish(bundle) or commands, timeout_s=30)
    assert commands[0].source == "remote_decoder"
    assert list(commands[0].deltas) == pytest.approx([0.05] * 4)


def _yaml(text: str):
    import yaml

    return yaml.safe_load(text)
