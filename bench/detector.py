"""Benchmark: the detector's REST /detect latency against learning-loop-node's detector,
and detections per second over the ROS topic path.

- REST: POST /detect with a 640x480 JPEG over loopback (header autoupload: disabled), the
  same trivial logic on both sides (one fixed box per image; both decode the JPEG), each
  server in its own process, requests interleaved in rounds so noise hits both alike.
  The reference runs from its own venv (.venv-ref/llnode via scripts/refvenv.py, pinned in
  detector_node/test/llnode_reference.py).
- Topic: the `detector` node as its own process with the default colour-blob logic,
  fed 640x480 bgr8 frames on camera/image_raw; counts `detections` per second.

Last line: {"detect_p50_ms", "detect_p99_ms", "reference_detect_p50_ms", "topic_fps", "speedup"}.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The detector's test helpers, and the suite's shared ones they use (tests/support.py).
sys.path[:0] = [os.path.join(ROOT, "detector_node", "test"), os.path.join(ROOT, "tests")]
# The reference's pins, venv (.venv-ref/llnode) and offline start-up, shared with the
# compatibility suite (detector_node/test/test_learning_loop_compat.py).
from llnode_reference import (  # noqa: E402
    REF_PINS,
    model_json,
    reference_python,
    start_ours,
    start_reference,
    stop,
)

ROUNDS, PER_ROUND, WARMUP = 6, 100, 30
TOPIC_SECONDS, PUBLISH_HZ = 8.0, 200.0


def progress(text: str) -> None:
    print(f"[bench/detector] {text}", flush=True)


def start_servers(work: str) -> tuple[list[subprocess.Popen], str, str | None, str | None]:
    """Ours and the reference, both configured by the reference's environment (offline Loop,
    version control paused, the same fixed-detections model)."""
    info = model_json("1.0")
    os.makedirs(os.path.join(work, "ours"))
    ours, ours_url, _ = start_ours(os.path.join(work, "ours"), info, VERSION_CONTROL_DEFAULT="pause")
    try:
        progress(f"reference: {REF_PINS[0]} from .venv-ref/llnode (made once; about 2 min)")
        python = reference_python()
        os.makedirs(os.path.join(work, "ref"))
        ref, ref_url, _ = start_reference(python, os.path.join(work, "ref"), info,
                                          VERSION_CONTROL_DEFAULT="pause", SKIP_REPEAT_ON_START="1")
    except Exception as exc:  # report, keep our figures
        error = f"{type(exc).__name__}: {exc}"
        progress(f"reference detector unavailable: {error}")
        return [ours], ours_url, None, error
    return [ours, ref], ours_url, ref_url, None


class DetectClient:
    """A keep-alive HTTP/1.1 client with the multipart body built once, so the figures are the
    server's time plus loopback, not the client library's."""

    def __init__(self, url: str, jpeg: bytes) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        boundary = "benchboundary7d1f"
        self.body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"frame.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + \
            jpeg + f"\r\n--{boundary}--\r\n".encode()
        self.headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                        "autoupload": "disabled", "camera-id": "bench"}
        self.url = url

    def latencies_ms(self, count: int) -> list[float]:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            self.connection.request("POST", "/detect", self.body, self.headers)
            response = self.connection.getresponse()
            payload = response.read()
            times.append((time.perf_counter() - start) * 1e3)
            if response.status != 200 or len(json.loads(payload)["box_detections"]) != 1:
                raise RuntimeError(f"{self.url}/detect answered {response.status}: {payload[:200]!r}")
        return times

    def close(self) -> None:
        self.connection.close()


def test_frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 200, (480, 640, 3), dtype=np.uint8)  # textured: a realistic JPEG size
    frame = cv2.GaussianBlur(frame, (5, 5), 0)
    cv2.circle(frame, (320, 240), 40, (0, 0, 255), -1)
    return frame


def bench_rest(work: str) -> tuple[list[float], list[float] | None, str | None]:
    ok, buf = cv2.imencode(".jpg", test_frame(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = buf.tobytes()
    progress(f"test image: 640x480 JPEG, {len(jpeg)} bytes")
    processes, ours_url, ref_url, reference_error = start_servers(work)
    try:
        ours_ms: list[float] = []
        ref_ms: list[float] = []
        a = DetectClient(ours_url, jpeg)
        b = DetectClient(ref_url, jpeg) if ref_url else None
        a.latencies_ms(WARMUP)
        if b:
            b.latencies_ms(WARMUP)
        for r in range(ROUNDS):
            ours_ms += a.latencies_ms(PER_ROUND)
            if b:
                ref_ms += b.latencies_ms(PER_ROUND)
            progress(f"round {r + 1}/{ROUNDS}: ours p50 {np.median(ours_ms):.2f} ms"
                     + (f", reference p50 {np.median(ref_ms):.2f} ms" if ref_ms else ""))
        a.close()
        if b:
            b.close()
        return ours_ms, ref_ms or None, reference_error
    finally:
        for process in processes:
            stop(process)


def bench_topic(work: str) -> float:
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from ab_interfaces.msg import Detections

    exe = os.path.join(ROOT, "install", "detector_node", "lib", "detector_node", "detector")
    args = [exe] if os.path.exists(exe) else [sys.executable, "-m", "detector_node.detector_node"]
    detector = subprocess.Popen(
        [*args, "--ros-args", "-p", "serve_http:=false", "-p", "autoupload:=disabled",
         "-p", "publish_annotated:=false", "-p", f"data_folder:={os.path.join(work, 'topic')}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = Node("bench_camera", context=context)
        frame = test_frame()
        msg = Image(height=480, width=640, encoding="bgr8", is_bigendian=0, step=640 * 3)
        msg.data = frame.tobytes()
        publisher = node.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
        stamps: list[float] = []
        node.create_subscription(Detections, "detections",
                                 lambda m: stamps.append(time.monotonic()) if m.boxes else None, 10)
        node.create_timer(1.0 / PUBLISH_HZ, lambda: publisher.publish(msg))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 60
        while not stamps and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        if not stamps:
            raise TimeoutError("no detections from the detector node within 60 s")
        progress(f"topic path: first detection, measuring {TOPIC_SECONDS:.0f} s "
                 f"(frames offered at {PUBLISH_HZ:.0f} Hz)")
        start = time.monotonic()
        stamps.clear()
        while time.monotonic() - start < TOPIC_SECONDS:
            executor.spin_once(timeout_sec=0.01)
        fps = len(stamps) / (time.monotonic() - start)
        executor.shutdown()
        node.destroy_node()
        return fps
    finally:
        context.try_shutdown()
        detector.terminate()
        try:
            detector.wait(10)
        except subprocess.TimeoutExpired:
            detector.kill()


def main() -> None:
    work = tempfile.mkdtemp(prefix="bench_detector_")
    try:
        ours_ms, ref_ms, ref_error = bench_rest(work)
        p50, p99 = float(np.percentile(ours_ms, 50)), float(np.percentile(ours_ms, 99))
        print(f"ours      /detect: n={len(ours_ms)} p50 {p50:.2f} ms  p90 "
              f"{np.percentile(ours_ms, 90):.2f} ms  p99 {p99:.2f} ms")
        ref_p50 = None
        if ref_ms:
            ref_p50 = float(np.percentile(ref_ms, 50))
            print(f"reference /detect: n={len(ref_ms)} p50 {ref_p50:.2f} ms  p90 "
                  f"{np.percentile(ref_ms, 90):.2f} ms  p99 {np.percentile(ref_ms, 99):.2f} ms "
                  f"(learning-loop-node 0.27.0, FastAPI + uvicorn[standard])")
        else:
            print(f"reference /detect: not measured ({ref_error})")
        fps = bench_topic(work)
        print(f"topic path: {fps:.1f} detections/s (640x480 bgr8, colour-blob logic, own process)")
        result = {"detect_p50_ms": round(p50, 3), "detect_p99_ms": round(p99, 3),
                  "reference_detect_p50_ms": round(ref_p50, 3) if ref_p50 else None,
                  "topic_fps": round(fps, 1),
                  "speedup": round(ref_p50 / p50, 2) if ref_p50 else None}
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
