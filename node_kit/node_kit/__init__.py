"""What every brainstem node shares: `run_node` (one node per process, clean exit on
SIGINT and SIGTERM) and `Params` (parameters that are live or read-only, never
"set" and ignored; unknown ones refused with the close match named); and, imported on
its own, `node_kit.socketio_overrides` (python-socketio internals, pinned)."""

from node_kit.params import ParameterError, Params
from node_kit.process import ignore_signals, run_node

__all__ = ["Params", "ParameterError", "ignore_signals", "run_node"]
