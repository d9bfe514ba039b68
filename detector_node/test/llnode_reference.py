"""learning-loop-node's detector, run for comparison (the compatibility suite, bench/detector.py).

`reference_python()` gives the python of `.venv-ref/llnode` (scripts/refvenv.py, made once,
pinned below); `start_reference()` runs its `DetectorNode` offline in its own process: a
fixed test model behind a `current_model` link in `DATA_FOLDER`, `LOOP_HOST` at a closed
loopback port, `LOOP_ORGANIZATION`/`LOOP_PROJECT` set. The reference's logic answers the
detections written in the model's `model.json` (`parameters.detections`), as our `fixed`
logic does, so both servers answer the same model with the same detections.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from refvenv import reference_python as _reference_python  # noqa: E402
from support import free_port  # noqa: E402

# learning-loop-node 0.27.0 (the version of the issue) and what its detector runs on,
# as pip resolved them on 2026-11-23. Made once: about 2 min on the shared 2-core machine.
REF_PINS = ["learning-loop-node==0.27.0", "fastapi==0.165.0", "starlette==1.10.0",
            "uvicorn[standard]==0.54.0", "uvloop==0.23.0", "httptools==0.9.0",
            "pydantic==2.14.3", "python-multipart==0.0.34", "pillow==12.3.0",
            "python-socketio==5.18.1", "numpy==2.4.6"]
ORG, PROJECT = "zauberzeug", "demo"

REFERENCE_SERVER = '''
import json
import os
import sys

import uvicorn
from dacite import from_dict
from learning_loop_node.data_classes import ImageMetadata, ImagesMetadata
from learning_loop_node.detector.detector_node import DetectorNode


class FixedLogic:
    """The detections of parameters.detections in model.json, for every image."""

    def __init__(self, info):
        with open(os.path.join(info.model_root_path, "model.json"), encoding="utf-8") as f:
            self.detections = json.load(f).get("parameters", {}).get("detections", {})

    def evaluate(self, image):
        return from_dict(data_class=ImageMetadata, data=json.loads(json.dumps(self.detections)))

    def batch_evaluate(self, images):
        return ImagesMetadata(items=[self.evaluate(i) for i in images])


class Factory:
    model_format = "fixed"

    async def build(self, info):
        return FixedLogic(info)


uvicorn.run(DetectorNode(name="reference", detector_factory=Factory()), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="warning")
'''


def reference_python() -> Path:
    return _reference_python("llnode", REF_PINS)


def model_json(version: str, detections: dict | None = None) -> dict:
    """A model both servers load: our `fixed` format; the reference reads the same file."""
    info = {"id": f"model-{version}", "host": "localhost", "organization": ORG, "project": PROJECT,
            "version": version, "format": "fixed", "resolution": None,
            "categories": [{"id": "target-id", "name": "target", "type": "box"}]}
    info["parameters"] = {"detections": detections if detections is not None else {
        "box_detections": [{"category_name": "target", "x": 10, "y": 20, "width": 30, "height": 40,
                            "model_name": version, "confidence": 0.9, "category_id": "target-id"}]}}
    return info


def prepare_data_folder(data: str, info: dict) -> str:
    """`<data>/models/<version>/model.json` and the `current_model` link to it."""
    folder = os.path.join(data, "models", info["version"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.json"), "w", encoding="utf-8") as f:
        json.dump(info, f)
    os.symlink(folder, os.path.join(data, "current_model"))
    return folder


def offline_env(data: str, **extra: str) -> dict[str, str]:
    """The reference's environment: a Loop at a loopback port where nothing listens (unless
    `extra` names a LOOP_HOST)."""
    env = dict(os.environ, LOOP_ORGANIZATION=ORG, LOOP_PROJECT=PROJECT,
               LOOP_HOST=f"127.0.0.1:{free_port()}", DATA_FOLDER=data)
    env.update(extra)
    for key in ("PYTHONPATH", "AMENT_PREFIX_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV"):
        env.pop(key, None)
    return env


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {url} exited with {process.returncode}")
        try:
            about = requests.get(f"{url}/about", timeout=2).json()
            if about.get("model_info") and about.get("operation_mode") == "idle":
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not load its model within {timeout_s} s")


def start_reference(python: str | Path, work: str, info: dict, *, log_path: str | None = None,
                    **env: str) -> tuple[subprocess.Popen, str, str]:
    """Run the reference detector with model `info`; returns (process, url, data folder)."""
    data = os.path.join(work, "reference")
    prepare_data_folder(data, info)
    script = os.path.join(work, "reference_server.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(REFERENCE_SERVER)
    port = free_port()
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([str(python), script, str(port)], env=offline_env(data, **env),
                               cwd=work, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return process, url, data


def start_ours(work: str, info: dict, *, log_path: str | None = None,
               **env: str) -> tuple[subprocess.Popen, str, str]:
    """Run ours as a plain process, configured by the same environment as the reference."""
    data = os.path.join(work, "ours")
    prepare_data_folder(data, info)
    port = free_port()
    environment = offline_env(data, **env)
    environment["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    environment["AMENT_PREFIX_PATH"] = os.environ.get("AMENT_PREFIX_PATH", "")
    environment["LD_LIBRARY_PATH"] = os.environ.get("LD_LIBRARY_PATH", "")
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "detector_node.service", "--port", str(port)],
                               env=environment, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return process, url, data


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
