"""Helpers shared by pilot_hw's tests."""

from __future__ import annotations

from support import free_port, wait_for  # noqa: F401 (the pilot tests import them here)
