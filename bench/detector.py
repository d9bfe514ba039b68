"""Benchmark: the detector's REST /detect latency against learning-loop-node's detector,
and detections per second over the ROS topic path.

- REST: POST /detect with a 640x480 JPEG over loopback (header autoupload: disabled), the
  same trivial logic on both sides (one fixed box per image; both decode the JPEG), each
  server in its own process, requests interleaved in rounds so noise hits both alike.
  The reference runs from its own venv (.venv-bench/llnode, created here, pinned below).
- Topic: the `detector` node as its own process with the default colour-blob logic,
  fed 640x480 bgr8 frames on camera/image_raw; counts `detections` per second.

Last line: {"detect_p50_ms", "detect_p99_ms", "reference_detect_p50_ms", "topic_fps", "speedup"}.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF_VENV = os.path.join(ROOT, ".venv-bench", "llnode")
# learning-loop-node and what its detector's speed depends on, as resolved on 2026-11-23.
REF_PINS = ["learning-loop-node==0.27.0", "fastapi==0.165.0", "starlette==1.10.0",
            "uvicorn[standard]==0.54.0", "uvloop==0.23.0", "httptools==0.9.0",
            "pydantic==2.14.3", "python-multipart==0.0.34", "pillow==12.3.0",
            "python-socketio==5.18.1", "numpy==2.4.6"]
ROUNDS, PER_ROUND, WARMUP = 6, 100, 30
TOPIC_SECONDS, PUBLISH_HZ = 8.0, 200.0

REFERENCE_SERVER = '''
import sys
import uvicorn
from learning_loop_node.data_classes import BoxDetection, ImageMetadata, ImagesMetadata
from learning_loop_node.detector.detector_node import DetectorNode


class FixedLogic:
    def __init__(self, info):
        self.version = info.version

    def evaluate(self, image):
        return ImageMetadata(box_detections=[BoxDetection(
            category_name="target", x=10, y=20, width=30, height=40, model_name=self.version,
            confidence=0.9)])

    def batch_evaluate(self, images):
        return ImagesMetadata(items=[self.evaluate(i) for i in images])


class Factory:
    model_format = "fixed"

    async def build(self, info):
        return FixedLogic(info)


uvicorn.run(DetectorNode(name="bench", detector_factory=Factory()), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="warning")
'''


def progress(text: str) -> None:
    print(f"[bench/detector] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_reference_venv() -> str:
    python = os.path.join(REF_VENV, "bin", "python")
    marker = os.path.join(REF_VENV, "pins.txt")
    if os.path.exists(marker) and open(marker).read() == "\n".join(REF_PINS):
        return python
    progress(f"creating {REF_VENV} with {REF_PINS[0]} (once; takes a minute)")
    shutil.rmtree(REF_VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", REF_VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *REF_PINS], check=True)
    with open(marker, "w") as f:
        f.write("\n".join(REF_PINS))
    return python


def model_json(version: str) -> dict:
    return {"id": "bench-model", "host": "localhost", "organization": "bench", "project": "bench",
            "version": version, "format": "fixed", "resolution": None,
            "categories": [{"id": "target-id", "name": "target", "type": "box"}],
            "parameters": {"detections": {"box_detections": [
                {"category_name": "target", "x": 10, "y": 20, "width": 30, "height": 40,
                 "model_name": version, "confidence": 0.9}]}}}


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            about = requests.get(f"{url}/about", timeout=2).json()
            if about.get("model_info"):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not load its model within {timeout_s} s")


def start_ours(work: str) -> tuple[subprocess.Popen, str]:
    folder = os.path.join(work, "ours", "models", "1.0")
    os.makedirs(folder)
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(model_json("1.0"), f)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "detector_node.service", "--port", str(port), "--data-folder",
         os.path.join(work, "ours"), "--model-folder", folder],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return process, url


def start_reference(python: str, work: str) -> tuple[subprocess.Popen, str]:
    data = os.path.join(work, "reference")
    folder = os.path.join(data, "models", "1.0")
    os.makedirs(folder)
    info = model_json("1.0")
    del info["parameters"], info["format"]
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(info, f)
    os.symlink(folder, os.path.join(data, "current_model"))
    script = os.path.join(work, "reference_server.py")
    with open(script, "w") as f:
        f.write(REFERENCE_SERVER)
    port = free_port()
    env = dict(os.environ, LOOP_ORGANIZATION="bench", LOOP_PROJECT="bench",
               LOOP_HOST=f"127.0.0.1:{free_port()}",  # nothing listens: no Loop
               DATA_FOLDER=data, VERSION_CONTROL_DEFAULT="pause", SKIP_REPEAT_ON_START="1")
    for key in ("PYTHONPATH", "AMENT_PREFIX_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV"):
        env.pop(key, None)
    process = subprocess.Popen([python, script, str(port)], env=env, cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return process, url


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
                        "autoupload": "disabled", "camera_id": "bench"}
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
    processes = []
    reference_error = None
    try:
        ours, ours_url = start_ours(work)
        processes.append(ours)
        ref_url = None
        try:
            python = ensure_reference_venv()
            ref, ref_url = start_reference(python, work)
            processes.append(ref)
        except Exception as exc:  # report, keep our figures
            reference_error = f"{type(exc).__name__}: {exc}"
            progress(f"reference detector unavailable: {reference_error}")
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
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


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
