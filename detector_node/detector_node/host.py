"""Hosting the detector: `ServiceThread` runs a DetectorService and its REST + Socket.IO
API on an asyncio loop in a thread (how the ROS node hosts it); `main` runs them as a
plain process (`python -m detector_node.service`, the `detector_service` executable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from typing import Any

import socketio
from aiohttp import web

from detector_node.rest import add_routes, guard_middleware
from detector_node.service import DetectorService, ServiceConfig
from detector_node.sio import register_events
from node_kit.loop_thread import LoopThread

log = logging.getLogger("detector_node.service")


def build_app(service: DetectorService, bound_host: str | None = None
              ) -> tuple[web.Application, socketio.AsyncServer]:
    """The REST routes and Socket.IO server (path `/ws/socket.io`, also `/socket.io`)."""
    app = web.Application(client_max_size=service.config.max_request_bytes,
                          middlewares=[guard_middleware(service, bound_host)])
    # python-socketio's own same-origin check stays on (as in the Loop's detector); the
    # guard adds the Host check that same-origin cannot give under DNS rebinding.
    sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=64 * 1024 * 1024)
    sio.attach(app, socketio_path="ws/socket.io")
    app.router.add_route("*", "/socket.io/", sio.handle_request)
    add_routes(app, service)
    register_events(service, sio)
    return app, sio


class ServiceThread:
    """Runs a DetectorService (and, with serve_http, its API) on an asyncio loop in a thread."""

    def __init__(self, config: ServiceConfig, host: str = "127.0.0.1", port: int = 8004,
                 serve_http: bool = True) -> None:
        self.service = DetectorService(config)
        self.host, self.port, self.serve_http = host, port, serve_http
        self._host_thread = LoopThread("detector-service")
        self._runner: web.AppRunner | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._host_thread.loop

    def start(self, timeout_s: float = 30.0) -> None:
        """Serve; returns once serving, raises the start-up error here."""
        self._host_thread.start(self._startup, timeout_s)

    async def _startup(self) -> None:
        try:
            await self.service.start()
            if self.serve_http:
                self._runner, self.port = await start_site(self.service, self.host, self.port)
        except BaseException:
            await self.service.close()
            raise

    def call(self, coro, timeout_s: float = 30.0):
        """Run a coroutine on the service loop from another thread and return its result."""
        return self._host_thread.call(coro, timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        try:
            self._host_thread.stop(self._shutdown, timeout_s)
        except Exception:
            log.exception("detector service did not shut down cleanly")

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await stop_site(self._runner)
        await self.service.close()


SIO_KEY = web.AppKey("sio", socketio.AsyncServer)


async def start_site(service: DetectorService, host: str, port: int) -> tuple[web.AppRunner, int]:
    app, sio = build_app(service, host)
    app[SIO_KEY] = sio
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]


async def stop_site(runner: web.AppRunner) -> None:
    """Disconnect Socket.IO clients, then close the server (requests get 2 s to finish)."""
    sio = runner.app[SIO_KEY]
    try:
        if sio.eio.sockets:
            await asyncio.wait_for(sio.eio.disconnect(), 2.0)  # every client, every namespace
        await asyncio.wait_for(sio.shutdown(), 2.0)
    except Exception as exc:
        log.warning("Socket.IO clients did not disconnect cleanly: %s", exc)
    await runner.cleanup()


def config_from_env(**overrides) -> ServiceConfig:
    """A ServiceConfig from the reference's environment variables, then overrides."""
    env = os.environ
    host = env.get("LOOP_HOST") or env.get("HOST")
    loop_url = None
    if host:
        loop_url = host if host.startswith("http") else \
            f"http{'s' if 'learning-loop.ai' in host else ''}://{host}/api"
    values: dict[str, Any] = {
        "data_folder": env.get("DATA_FOLDER", "/tmp/detector_node"),
        "loop_url": loop_url,
        "organization": env.get("LOOP_ORGANIZATION") or env.get("ORGANIZATION") or "",
        "project": env.get("LOOP_PROJECT") or env.get("PROJECT") or "",
        "min_uncertain": float(env.get("MIN_UNCERTAIN_THRESHOLD", "0.3")),
        "max_uncertain": float(env.get("MAX_UNCERTAIN_THRESHOLD", "0.6")),
        "max_outbox_items": int(env.get("MAX_OUTBOX_SIZE", "1000")),
        "version_control": "pause" if env.get("VERSION_CONTROL_DEFAULT", "").lower() == "pause"
        else "follow_loop",
        "api_key": env.get("DETECTOR_API_KEY") or None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ServiceConfig(**values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Learning-Loop-compatible detector (no ROS).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8004)
    parser.add_argument("--data-folder")
    parser.add_argument("--model-folder")
    parser.add_argument("--logic")
    parser.add_argument("--loop-url", help="Loop API base, e.g. http://127.0.0.1:8080/api")
    parser.add_argument("--organization")
    parser.add_argument("--project")
    parser.add_argument("--upload-interval-s", type=float)
    parser.add_argument("--max-outbox-items", type=int)
    parser.add_argument("--version-control", choices=["follow_loop", "pause"])
    parser.add_argument("--model-poll-interval-s", type=float)
    parser.add_argument("--api-key", help="require this API key (default: $DETECTOR_API_KEY; "
                        "none = open); prefer the environment variable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_env(
        data_folder=args.data_folder, model_folder=args.model_folder, logic=args.logic,
        loop_url=args.loop_url, organization=args.organization, project=args.project,
        upload_interval_s=args.upload_interval_s, max_outbox_items=args.max_outbox_items,
        version_control=args.version_control, model_poll_interval_s=args.model_poll_interval_s,
        api_key=args.api_key)

    async def serve() -> None:
        try:
            service = DetectorService(config)
        except ValueError as exc:
            parser.exit(2, f"detector_service: error: {exc}\n")
        await service.start()
        runner, port = await start_site(service, args.host, args.port)
        print(json.dumps({"listening": f"http://{args.host}:{port}", "port": port}), flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await stop_site(runner)
        await service.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()

