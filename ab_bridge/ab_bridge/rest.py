"""REST client for brain runs: start, stop, IO state, contract. No rclpy.

Every request carries the API key as `x-api-key` and `Authorization: Bearer`;
the key never appears in errors, logs or repr.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import requests

API_KEY_ENV = "AB_API_KEY"


class RestError(RuntimeError):
    """A failed REST call; the message names the call and the cause (never the key)."""


def api_base(url: str) -> str:
    """The `/api` base of a server URL (appended when missing)."""
    if not url or not url.startswith(("http://", "https://")):
        raise ValueError(f"brain URL must start with http:// or https://, got {url!r}")
    base = url.rstrip("/")
    return base if base.endswith("/api") else base + "/api"


def server_root(url: str) -> str:
    """The server root (the Socket.IO URL) of a server or `/api` URL."""
    base = api_base(url)
    return base[: -len("/api")]


def resolve_api_key(explicit: str | None = None) -> str | None:
    """The API key: the explicit one when non-empty, else $AB_API_KEY, else None."""
    return explicit or os.environ.get(API_KEY_ENV) or None


def auth_headers(api_key: str | None) -> dict[str, str]:
    if not api_key:
        return {}
    return {"x-api-key": api_key, "Authorization": f"Bearer {api_key}"}


class RestClient:
    """Runs of one brain server. Thread-safe for the simple calls it makes."""

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 10.0) -> None:
        self.base_url = api_base(url)
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers.update(auth_headers(api_key))

    def __repr__(self) -> str:
        return f"RestClient({self.base_url!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              timeout_s: float | None = None) -> Any:
        url = self.base_url + path
        what = f"{method} {path}"
        try:
            response = self._session.request(method, url, json=body, timeout=self.timeout_s
                                             if timeout_s is None else timeout_s)
        except requests.RequestException as error:
            raise RestError(f"{what}: {type(error).__name__} (server {self.base_url} "
                            "unreachable?)") from None
        if response.status_code >= 400:
            detail = response.text[:200].strip()
            raise RestError(f"{what}: HTTP {response.status_code} {response.reason}"
                            + (f": {detail}" if detail else ""))
        try:
            return response.json()
        except ValueError:
            raise RestError(f"{what}: response is not JSON") from None

    @staticmethod
    def _project(project_id: str) -> str:
        if not project_id:
            raise ValueError("project_id must be non-empty")
        return quote(project_id, safe="")

    def start(self, project_id: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a run; returns the contract (with `runId`)."""
        return self._call("POST", f"/robot/{self._project(project_id)}/start", options or {})

    def stop(self, project_id: str, run_id: str | None, timeout_s: float | None = None) -> Any:
        body = {"runId": run_id} if run_id else {}
        return self._call("POST", f"/robot/{self._project(project_id)}/stop", body, timeout_s)

    def io_state(self, project_id: str) -> Any:
        return self._call("GET", f"/robot/{self._project(project_id)}/io/state")

    def contract(self, project_id: str) -> dict[str, Any]:
        return self._call("GET", f"/robot/{self._project(project_id)}/contract")

    def close(self) -> None:
        self._session.close()
