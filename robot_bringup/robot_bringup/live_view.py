"""A small live web page of the demo: the arm, the target, the spike raster, the reward
curve and the loop latency, for machines where rviz2 cannot be installed.

No rclpy here. `LiveView(snapshot, raster_png)` serves, on loopback only:
- `/`            the page (plain HTML and JavaScript, no framework, nothing fetched from
                 elsewhere); it polls the two below and redraws;
- `/state.json`  `snapshot()`: what the demo sees now (phase, cycle, arm points, target,
                 reward curve, latency percentiles, ...), plus `served` (a counter);
- `/raster.png`  `raster_png()`: the spike raster as PNG bytes.
aiohttp (already a dependency of ab_bridge's embedded server) runs it on an event loop
of its own in a daemon thread, so the demo's executor never waits for a browser.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>brainstem demo: live</title>
<style>
 body { font-family: sans-serif; margin: 12px; background: #fafafa; color: #222; }
 h1 { font-size: 18px; margin: 0 0 8px 0; }
 #status { font-family: monospace; font-size: 14px; margin-bottom: 8px; }
 .row { display: flex; gap: 12px; flex-wrap: wrap; }
 .panel { background: white; border: 1px solid #ccc; padding: 6px; }
 .panel h2 { font-size: 13px; margin: 0 0 4px 0; font-weight: normal; color: #555; }
 #raster { image-rendering: pixelated; width: 600px; height: 160px; background: black; }
</style></head>
<body>
<h1>brainstem demo: the simulated arm and the spiking brain, live</h1>
<div id="status">waiting for the demo ...</div>
<div class="row">
 <div class="panel"><h2>arm (blue), target (red), tip path (grey)</h2>
  <canvas id="arm" width="360" height="270"></canvas></div>
 <div class="panel"><h2>reward (moving average of 100 cycles) per phase</h2>
  <canvas id="reward" width="560" height="270"></canvas></div>
</div>
<div class="row">
 <div class="panel"><h2 id="raster-title">spike raster, newest on the right: joint0 (+ half, − half), then joint1</h2>
  <img id="raster" alt="spike raster"></div>
 <div class="panel"><h2>loop latency: camera frame to the command answering it (ms)</h2>
  <canvas id="latency" width="330" height="160"></canvas></div>
</div>
<script>
"use strict";
const COLOURS = {frozen_initial: "#888888", learning: "#1f77b4", retention: "#9467bd",
                 new_targets: "#ff7f0e"};
let updates = 0, lastCycle = -1, rasterBusy = false;
const trail = [], latency = [];
function world(c, w) { // world window of sim.yaml's camera: x -1..1, y -0.5..1
  const [x0, x1, y0, y1] = w;
  return ([x, y]) => [(x - x0) / (x1 - x0) * c.width, c.height - (y - y0) / (y1 - y0) * c.height];
}
function drawArm(s) {
  const c = document.getElementById("arm"), g = c.getContext("2d");
  g.fillStyle = "#f4f4f4"; g.fillRect(0, 0, c.width, c.height);
  if (!s.arm) return;
  const p = world(c, s.window_m);
  const tip = s.arm[2];
  trail.push(tip); if (trail.length > 150) trail.shift();
  g.strokeStyle = "#bbb"; g.beginPath();
  trail.forEach((q, i) => { const [x, y] = p(q); i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke();
  if (s.target) {
    const [tx, ty] = p(s.target);
    g.fillStyle = "#e00"; g.beginPath(); g.arc(tx, ty, 9, 0, 2 * Math.PI); g.fill();
  }
  g.strokeStyle = "#2b4a6f"; g.lineWidth = 7; g.lineCap = "round"; g.beginPath();
  s.arm.forEach((q, i) => { const [x, y] = p(q); i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke(); g.lineWidth = 1;
  g.fillStyle = "#222";
  s.arm.forEach(q => { const [x, y] = p(q); g.beginPath(); g.arc(x, y, 4, 0, 2 * Math.PI); g.fill(); });
}
function drawReward(s) {
  const c = document.getElementById("reward"), g = c.getContext("2d");
  g.fillStyle = "white"; g.fillRect(0, 0, c.width, c.height);
  const L = 34, B = 20, W = c.width - L - 6, H = c.height - B - 6;
  g.strokeStyle = "#ddd"; g.fillStyle = "#555"; g.font = "10px sans-serif";
  for (let v = 0; v <= 1.001; v += 0.25) {
    const y = 6 + H - v * H; g.beginPath(); g.moveTo(L, y); g.lineTo(L + W, y); g.stroke();
    g.fillText(v.toFixed(2), 2, y + 3);
  }
  const t1 = Math.max(s.t_s || 1, 1);
  g.fillText("0 s", L, c.height - 6); g.fillText(t1.toFixed(0) + " s", L + W - 30, c.height - 6);
  (s.phases || []).forEach(ph => {
    const x0 = L + ph.start_s / t1 * W;
    g.fillStyle = (COLOURS[ph.name] || "#1f77b4") + "22";
    g.fillRect(x0, 6, L + (ph.end_s ?? t1) / t1 * W - x0, H);
    g.fillStyle = "#444"; g.fillText(ph.name.replace("_", " "), x0 + 3, 16);
    g.strokeStyle = COLOURS[ph.name] || "#1f77b4"; g.lineWidth = 1.5; g.beginPath();
    ph.curve.forEach(([t, r], i) => {
      const x = L + t / t1 * W, y = 6 + H - r * H; i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke(); g.lineWidth = 1;
  });
}
function drawLatency(s) {
  if (s.loop_p50_ms != null) latency.push([s.loop_p50_ms, s.loop_p99_ms]);
  if (latency.length > 120) latency.shift();
  const c = document.getElementById("latency"), g = c.getContext("2d");
  g.fillStyle = "white"; g.fillRect(0, 0, c.width, c.height);
  const top = Math.max(10, ...latency.map(v => v[1]));
  g.fillStyle = "#555"; g.font = "10px sans-serif"; g.fillText(top.toFixed(0) + " ms", 2, 10);
  [[0, "#2ca02c", "p50"], [1, "#d62728", "p99"]].forEach(([k, colour, name], j) => {
    g.strokeStyle = colour; g.beginPath();
    latency.forEach((v, i) => {
      const x = i / 119 * (c.width - 10) + 5, y = c.height - 5 - v[k] / top * (c.height - 20);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke(); g.fillStyle = colour; g.fillText(name, c.width - 60 + 30 * j, 10);
  });
}
function fmt(v, d) { return v == null ? "-" : Number(v).toFixed(d); }
async function tick() {
  try {
    const s = await (await fetch("state.json", {cache: "no-store"})).json();
    updates += 1;
    document.body.dataset.updates = updates;
    document.body.dataset.cycle = s.cycle;
    document.body.dataset.phase = s.phase || "";
    document.getElementById("status").textContent =
      `phase ${s.phase || "-"} (${s.learning ? "learning on" : "learning off"}) | cycle ${s.cycle}` +
      ` | reward avg ${fmt(s.reward_avg, 3)} | loop p50 ${fmt(s.loop_p50_ms, 1)} ms` +
      ` p99 ${fmt(s.loop_p99_ms, 1)} ms | ${fmt(s.t_s, 0)} s | update ${updates}`;
    drawArm(s); drawReward(s); drawLatency(s);
    if (!rasterBusy && s.cycle !== lastCycle) {
      rasterBusy = true; lastCycle = s.cycle;
      const img = document.getElementById("raster");
      img.onload = img.onerror = () => { rasterBusy = false; };
      img.src = "raster.png?c=" + s.cycle;
    }
  } catch (e) {
    document.getElementById("status").textContent = "the demo is not answering (" + e + ")";
  }
  setTimeout(tick, 250);
}
tick();
</script></body></html>
"""


class LiveView:
    """The live page's server on 127.0.0.1 (port 0: any free one), in a thread of its own."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]],
                 raster_png: Callable[[], bytes], host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the live view serves loopback only, got host {host!r}")
        self.snapshot = snapshot
        self.raster_png = raster_png
        self.host = host
        self.port = port
        self.served = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self, timeout_s: float = 10.0) -> str:
        """Start serving; returns the page's address. Raises OSError when it cannot bind."""
        self._thread = threading.Thread(target=self._serve, name="live_view", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise OSError("the live view did not start in time")
        if self._error is not None:
            raise OSError(f"the live view could not start: {self._error}")
        return self.url

    def _serve(self) -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def page(_request):
            return web.Response(text=PAGE, content_type="text/html")

        async def state(_request):
            try:
                body = dict(self.snapshot())
            except Exception as error:  # the page shows it; the demo goes on
                return web.json_response({"error": f"{type(error).__name__}: {error}"},
                                         status=500)
            self.served += 1
            body["served"] = self.served
            return web.Response(text=json.dumps(body), content_type="application/json",
                                headers={"Cache-Control": "no-store"})

        async def raster(_request):
            try:
                data = self.raster_png()
            except Exception as error:
                return web.Response(status=500, text=f"{type(error).__name__}: {error}")
            return web.Response(body=data, content_type="image/png",
                                headers={"Cache-Control": "no-store"})

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/state.json", state)
        app.router.add_get("/raster.png", raster)

        async def begin() -> None:
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]

        try:
            loop.run_until_complete(begin())
        except BaseException as error:  # reported by start()
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
