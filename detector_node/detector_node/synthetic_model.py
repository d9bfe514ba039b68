"""Builds a tiny ONNX object detector that finds red regions, with its model.json.

No weights are downloaded: the graph is written with the `onnx` package's helper API.
It is a real detector in the `onnx` logic's format (YOLOv8 layout): a 1x1 convolution
scores "redness" per pixel, average pooling turns it into one score per grid cell, and
each cell's fixed box (its own square) is concatenated in front of the scores.
Used by the tests and the benchmark, and as an offline demo model.
"""

from __future__ import annotations

import json
import os

import numpy as np


def build_red_grid_onnx(resolution: int = 64, cell: int = 8) -> bytes:
    """Serialized ONNX model: input `images` [1,3,R,R] RGB in [0,1], output
    `output0` [1, 5, (R/cell)^2]: cx, cy, w, h (input pixels) and the `target` score."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if resolution % cell:
        raise ValueError(f"resolution {resolution} must be a multiple of cell {cell}")
    grid = resolution // cell
    # score = sigmoid(12 * (r - (g + b)) - 4): ~1 for saturated red, ~0 for grey or white.
    weight = np.array([12.0, -12.0, -12.0], np.float32).reshape(1, 3, 1, 1)
    bias = np.array([-4.0], np.float32)
    centres = (np.arange(grid, dtype=np.float32) + 0.5) * cell
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    boxes = np.stack([cx.ravel(), cy.ravel(), np.full(grid * grid, cell, np.float32),
                      np.full(grid * grid, cell, np.float32)]).reshape(1, 4, grid * grid)
    nodes = [
        helper.make_node("Conv", ["images", "w", "b"], ["logit"]),
        helper.make_node("AveragePool", ["logit"], ["pooled"], kernel_shape=[cell, cell],
                         strides=[cell, cell]),
        helper.make_node("Sigmoid", ["pooled"], ["score"]),
        helper.make_node("Reshape", ["score", "score_shape"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "red_grid",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, resolution, resolution])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, grid * grid])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
                     numpy_helper.from_array(boxes.astype(np.float32), "boxes"),
                     numpy_helper.from_array(np.array([1, 1, grid * grid], np.int64), "score_shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_red_grid_model(folder: str, version: str = "1.0", resolution: int = 64, cell: int = 8,
                         backend: str = "onnxruntime") -> str:
    """Write model.onnx and model.json into `folder` (created); returns the folder."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(build_red_grid_onnx(resolution, cell))
    info = {"id": f"red-grid-{version}", "host": None, "organization": "local", "project": "local",
            "version": version, "format": "onnx", "resolution": resolution,
            "categories": [{"id": "target-id", "name": "target", "type": "box"}],
            "parameters": {"conf_threshold": 0.5, "backend": backend}}
    with open(os.path.join(folder, "model.json"), "w", encoding="utf-8") as f:
        json.dump(info, f)
    return folder
