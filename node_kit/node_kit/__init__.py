"""What every brainstem node shares.

- `run_node` (one node per process, clean exit on SIGINT and SIGTERM) and `Params`
  (parameters that are live or read-only, never "set" and ignored; unknown ones refused
  with the close match named);
- `node_kit.config`: structured configuration in a string parameter (inline YAML or a
  YAML file's path), read one way;
- `node_kit.diagnostics`: the node's health on /diagnostics, built one way;
- `node_kit.loop_thread`: an asyncio loop in a thread (start, serve, call, bounded stop);
- `node_kit.checks`: close matches ("did you mean") and the loopback Host/Origin guard;
- `node_kit.socketio_overrides`: python-socketio internals, pinned.

`loop_thread` and `checks` need no ROS; `Params` and `run_node` load rclpy when first
used, so importing a ROS-free submodule does not.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Params", "ParameterError", "first_signal_only", "ignore_signals", "run_node",
           "stop_on_signals"]

_LAZY = {"Params": "node_kit.params", "ParameterError": "node_kit.params",
         "run_node": "node_kit.process", "first_signal_only": "node_kit.signals",
         "ignore_signals": "node_kit.signals", "stop_on_signals": "node_kit.signals"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'node_kit' has no attribute {name!r}")
