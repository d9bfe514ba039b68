"""Helpers of the end-to-end tests: free ports, node executables, a tiny Learning Loop."""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from support import free_port, wait_for  # noqa: F401 (the e2e tests import them here)

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "robot_bringup" / "config"


def executable(package: str, name: str) -> str:
    """The installed node executable (make setup builds it)."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) + \
            [str(REPO / "install" / package)]:
        path = Path(prefix) / "lib" / package / name
        if path.is_file():
            return str(path)
    raise FileNotFoundError(f"no executable {package}/{name}: run make setup")


class FakeLoop:
    """A Learning Loop that takes image uploads (multipart `files`) on
    /{organization}/projects/{project}/images and remembers every image id it got."""

    FILENAME = re.compile(rb'filename="image_([^"]+)\.jpg"')

    def __init__(self) -> None:
        self.accepting = False
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()
        loop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # model queries: this Loop has no models
                self.send_response(404)
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.endswith("/images"):
                    self.send_response(404)
                elif not loop.accepting:
                    self.send_response(503)
                else:
                    with loop.lock:
                        loop.received.update(unquote(m.decode())
                                             for m in loop.FILENAME.findall(body))
                    self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
