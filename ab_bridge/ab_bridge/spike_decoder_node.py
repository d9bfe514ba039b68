"""`spike_decoder`: output spikes in (`spikes`), actuator commands out (`actuator_command`).

Decodes a recorded, remote or simulated spike stream anywhere in the graph
with the same decoder as brain_session:

    ros2 run ab_bridge spike_decoder --ros-args -p decoder_mapping:=mapping.yaml
"""

from __future__ import annotations

from typing import Any

from rclpy.node import Node

from ab_bridge.decoding import DecodeError, Decoder, parse_mapping
from ab_bridge.spikes_msg import command_msg, decode_msg, hold_msg
from ab_interfaces.msg import ActuatorCommand, CycleSpikes
from node_kit import Params, run_node
from node_kit.config import load_structured


class SpikeDecoderNode(Node):
    """Decodes every CycleSpikes message into one ActuatorCommand."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("spike_decoder", **kwargs)
        params = Params(self)
        mapping_text: str = params.declare(
            "decoder_mapping", "", "Decoder mapping entries (node_id, channel, scheme, "
            "per_step_max, gain, ...): YAML file path or inline YAML.")
        self.source: str = params.declare("source", "spike_decoder",
                                          "The `source` field of published commands.",
                                          on_set=self._set_source)
        params.refuse_unknown()
        mapping = load_structured("decoder_mapping", mapping_text, default=[])
        try:
            entries = parse_mapping(mapping)
        except (DecodeError, ValueError) as error:
            raise ValueError(f"parameter 'decoder_mapping': {error}") from None
        if not entries:
            raise ValueError("parameter 'decoder_mapping' must list at least one entry")
        self.decoder = Decoder(entries)
        self.decoded_count = 0
        self.error_count = 0
        self.publisher = self.create_publisher(ActuatorCommand, "actuator_command", 10)
        self.subscription = self.create_subscription(CycleSpikes, "spikes", self.on_spikes, 10)

    def _set_source(self, value: str) -> None:
        self.source = value

    def on_spikes(self, msg: CycleSpikes) -> None:
        try:
            decoded = decode_msg(self.decoder, msg)
        except (ValueError, DecodeError) as error:
            self.error_count += 1
            self.get_logger().error(f"spikes of cycle {msg.cycle} not decoded: {error}",
                                    throttle_duration_sec=1.0)
            return
        dt_s = msg.populations[0].dt_s if msg.populations else 0.001
        command = command_msg(self.source, msg.cycle, decoded.channels, decoded.deltas, dt_s)
        command.header.stamp = msg.header.stamp
        self.publisher.publish(command)
        self.decoded_count += 1

    def destroy_node(self) -> None:
        # Whoever listens to this decoder holds when it goes away.
        if not hasattr(self, "publisher"):  # __init__ failed half-way
            super().destroy_node()
            return
        try:
            command = hold_msg(self.source, 0, self.decoder.channels, 0.001)
            command.header.stamp = self.get_clock().now().to_msg()
            self.publisher.publish(command)
        except Exception:  # the context may already be shut down
            pass
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SpikeDecoderNode, args, program="spike_decoder")


if __name__ == "__main__":
    raise SystemExit(main())
