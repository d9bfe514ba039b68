"""Detector logics: what turns an RGB image into detections, behind one interface.

A logic is built from a model folder's ModelInformation (model.json) by the factory
registered for the model's `format`:

- `colour_blobs`: classical OpenCV colour segmentation, no weights. Each category has
  HSV ranges (parameters.hsv_ranges, default: saturated red for every category);
  each connected blob of at least `min_area_px` pixels becomes a box (category type
  "box", the default) or a point (type "point").
- `onnx`: an object detector in `model.onnx` (parameters.model_file) with a YOLOv8-style
  output `[1, 4 + classes, anchors]` (cx, cy, w, h in input pixels, then class scores)
  and input `[1, 3, resolution, resolution]` RGB in [0, 1]; run by onnxruntime (default,
  see README for the measurement) or OpenCV DNN (parameters.backend: opencv).
- `aruco`: ArUco markers (parameters.dictionary, default DICT_4X4_50), no weights;
  parameters.marker_ids maps category names to marker ids (default: every marker is the
  first category); boxes around the marker corners, or centre points for `point` categories.
- `fixed`: returns the detections listed in parameters.detections for every image
  (a stand-in model for tests and benchmarks).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from detector_node.metadata import (
    BoxDetection,
    Category,
    ClassificationDetection,
    ImageMetadata,
    ModelInformation,
    PointDetection,
    image_metadata_from_dict,
)


class DetectorLogic(Protocol):
    """Evaluates images; must be safe to call from several threads (lock inside if not)."""

    model_info: ModelInformation

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        """Detections in one RGB uint8 HxWx3 image."""
        ...

    def batch_evaluate(self, images: list[np.ndarray]) -> list[ImageMetadata]:
        """Detections for each image, in order."""
        ...


class _Base:
    def __init__(self, model_info: ModelInformation) -> None:
        self.model_info = model_info
        self.model_name = model_info.version

    def batch_evaluate(self, images: list[np.ndarray]) -> list[ImageMetadata]:
        return [self.evaluate(image) for image in images]


# OpenCV HSV: hue 0..179. Saturated red wraps around hue 0.
DEFAULT_RED_HSV = [[0, 120, 70, 10, 255, 255], [170, 120, 70, 179, 255, 255]]


class ColourBlobLogic(_Base):
    """Connected blobs of a category's HSV colour ranges, as boxes or points."""

    def __init__(self, model_info: ModelInformation) -> None:
        super().__init__(model_info)
        params = model_info.parameters
        if not model_info.categories:
            raise ValueError("colour_blobs model needs at least one category")
        ranges = params.get("hsv_ranges", {})
        self.min_area_px = int(params.get("min_area_px", 30))
        self.max_detections = int(params.get("max_detections", 50))
        self.bands: list[tuple[str, str, list[tuple[np.ndarray, np.ndarray]]]] = []
        for category in model_info.categories:
            spec = ranges.get(category.name, DEFAULT_RED_HSV)
            try:
                bounds = [(np.array(r[:3], np.uint8), np.array(r[3:], np.uint8)) for r in spec]
                if not bounds or any(len(r) != 6 for r in spec):
                    raise ValueError
            except (TypeError, ValueError) as exc:
                raise ValueError(f"parameters.hsv_ranges[{category.name!r}] must be a list of "
                                 "[h_lo, s_lo, v_lo, h_hi, s_hi, v_hi]") from exc
            self.bands.append((category.name, category.type or "box", bounds))

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        meta = ImageMetadata()
        for name, kind, bounds in self.bands:
            mask = cv2.inRange(hsv, bounds[0][0], bounds[0][1])
            for lo, hi in bounds[1:]:
                mask |= cv2.inRange(hsv, lo, hi)
            # Label only the part of the image the colour occurs in (a target is small).
            bx, by, bw, bh = cv2.boundingRect(mask)
            if bw == 0 or bh == 0:
                continue
            count, _, stats, centroids = cv2.connectedComponentsWithStats(
                mask[by:by + bh, bx:bx + bw], connectivity=8)
            if count <= 1:
                continue
            stats, centroids = stats[1:].copy(), centroids[1:] + (bx, by)
            stats[:, cv2.CC_STAT_LEFT] += bx
            stats[:, cv2.CC_STAT_TOP] += by
            keep = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= self.min_area_px)
            keep = keep[np.argsort(-stats[keep, cv2.CC_STAT_AREA])][:self.max_detections]
            x, y, w, h, area = (stats[keep, i] for i in range(5))
            # A filled disc covers pi/4 of its box: call that full confidence.
            confidence = np.clip(area / (np.pi / 4 * w * h), 0.0, 1.0)
            for i in range(len(keep)):
                if kind == "point":
                    meta.point_detections.append(PointDetection(
                        category_name=name, x=round(float(centroids[keep[i], 0]), 2),
                        y=round(float(centroids[keep[i], 1]), 2),
                        model_name=self.model_name, confidence=round(float(confidence[i]), 3)))
                else:
                    meta.box_detections.append(BoxDetection(
                        category_name=name, x=int(x[i]), y=int(y[i]), width=int(w[i]),
                        height=int(h[i]), model_name=self.model_name,
                        confidence=round(float(confidence[i]), 3)))
        return meta


class OnnxLogic(_Base):
    """A YOLOv8-layout ONNX detector run by OpenCV DNN or onnxruntime."""

    def __init__(self, model_info: ModelInformation) -> None:
        super().__init__(model_info)
        params = model_info.parameters
        if not model_info.resolution:
            raise ValueError("onnx model needs 'resolution' in model.json")
        if not model_info.categories:
            raise ValueError("onnx model needs its categories in model.json")
        folder = model_info.model_root_path or "."
        path = os.path.join(folder, params.get("model_file", "model.onnx"))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"onnx model file {path} not found")
        self.resolution = int(model_info.resolution)
        self.conf_threshold = float(params.get("conf_threshold", model_info.conf_threshold or 0.25))
        self.nms_iou = float(params.get("nms_iou", 0.45))
        self.backend = params.get("backend", "onnxruntime")
        self.lock = threading.Lock()
        if self.backend == "opencv":
            self.net = cv2.dnn.readNetFromONNX(path)
            self._forward: Callable[[np.ndarray], np.ndarray] = self._forward_opencv
        elif self.backend == "onnxruntime":
            import onnxruntime  # optional: only when a model asks for it

            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            self.input_name = self.session.get_inputs()[0].name
            self._forward = self._forward_ort
        else:
            raise ValueError(f"parameters.backend must be 'opencv' or 'onnxruntime', got {self.backend!r}")
        self.evaluate(np.zeros((self.resolution, self.resolution, 3), np.uint8))  # fail at load, not later

    def _forward_opencv(self, blob: np.ndarray) -> np.ndarray:
        with self.lock:
            self.net.setInput(blob)
            return np.asarray(self.net.forward())

    def _forward_ort(self, blob: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input_name: blob})[0])

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        height, width = image.shape[:2]
        r = self.resolution
        blob = cv2.dnn.blobFromImage(image, 1.0 / 255.0, (r, r), swapRB=False, crop=False)
        out = self._forward(blob)
        classes = len(self.model_info.categories)
        if out.ndim != 3 or out.shape[1] != 4 + classes:
            raise ValueError(f"onnx output shape {out.shape} is not [1, 4 + {classes}, anchors]")
        pred = out[0].T  # anchors x (4 + classes)
        class_ids = np.argmax(pred[:, 4:], axis=1)
        scores = pred[np.arange(len(pred)), 4 + class_ids]
        keep = scores >= self.conf_threshold
        pred, class_ids, scores = pred[keep], class_ids[keep], scores[keep]
        meta = ImageMetadata()
        if not len(pred):
            return meta
        sx, sy = width / r, height / r
        boxes = np.stack([(pred[:, 0] - pred[:, 2] / 2) * sx, (pred[:, 1] - pred[:, 3] / 2) * sy,
                          pred[:, 2] * sx, pred[:, 3] * sy], axis=1)
        chosen = cv2.dnn.NMSBoxesBatched(boxes.tolist(), scores.tolist(), class_ids.tolist(),
                                         self.conf_threshold, self.nms_iou)
        for i in np.asarray(chosen, dtype=int).reshape(-1):
            x, y, w, h = boxes[i]
            x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
            x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
            meta.box_detections.append(BoxDetection(
                category_name=self.model_info.categories[int(class_ids[i])].name,
                x=x0, y=y0, width=x1 - x0, height=y1 - y0, model_name=self.model_name,
                confidence=round(float(scores[i]), 3)))
        return meta


class ArucoLogic(_Base):
    """ArUco markers as boxes (or centre points), category by marker id."""

    def __init__(self, model_info: ModelInformation) -> None:
        super().__init__(model_info)
        params = model_info.parameters
        if not model_info.categories:
            raise ValueError("aruco model needs at least one category")
        name = params.get("dictionary", "DICT_4X4_50")
        if not str(name).startswith("DICT_") or not hasattr(cv2.aruco, name):
            raise ValueError(f"parameters.dictionary {name!r} is no cv2.aruco dictionary")
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
        self.detector = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())
        self.kinds = {c.name: c.type or "box" for c in model_info.categories}
        self.by_id: dict[int, str] = {}
        for category, ids in params.get("marker_ids", {}).items():
            if category not in self.kinds:
                raise ValueError(f"parameters.marker_ids names unknown category {category!r}")
            self.by_id.update({int(i): category for i in ids})
        self.default = None if self.by_id else model_info.categories[0].name
        self.lock = threading.Lock()

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        with self.lock:
            corners, ids, _ = self.detector.detectMarkers(gray)
        meta = ImageMetadata()
        if ids is None:
            return meta
        for quad, marker in zip(corners, ids.reshape(-1), strict=True):
            name = self.by_id.get(int(marker), self.default)
            if name is None:
                continue
            pts = quad.reshape(-1, 2)
            if self.kinds[name] == "point":
                cx, cy = pts.mean(axis=0)
                meta.point_detections.append(PointDetection(
                    category_name=name, x=round(float(cx), 2), y=round(float(cy), 2),
                    model_name=self.model_name, confidence=1.0))
            else:
                x, y, w, h = cv2.boundingRect(pts.astype(np.float32))
                meta.box_detections.append(BoxDetection(
                    category_name=name, x=int(x), y=int(y), width=int(w), height=int(h),
                    model_name=self.model_name, confidence=1.0))
        return meta


class FixedLogic(_Base):
    """Returns parameters.detections (an ImageMetadata JSON) for every image."""

    def __init__(self, model_info: ModelInformation) -> None:
        super().__init__(model_info)
        self.template = model_info.parameters.get("detections", {})
        image_metadata_from_dict(self.template)  # validate now

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        meta = image_metadata_from_dict(self.template)
        meta.tags = []
        for detection in meta.detections():
            detection.model_name = self.model_name
        return meta


LOGIC_FACTORIES: dict[str, Callable[[ModelInformation], DetectorLogic]] = {
    "colour_blobs": ColourBlobLogic,
    "onnx": OnnxLogic,
    "aruco": ArucoLogic,
    "fixed": FixedLogic,
}


def build_logic(model_info: ModelInformation, default_format: str = "colour_blobs") -> DetectorLogic:
    """The logic for a model, by its model.json `format` (or `default_format` when it names none)."""
    fmt = model_info.format or default_format
    factory = LOGIC_FACTORIES.get(fmt)
    if factory is None:
        raise ValueError(f"unknown model format {fmt!r}: expected one of {sorted(LOGIC_FACTORIES)}")
    return factory(model_info)


BUILTIN_FORMATS = ("colour_blobs", "aruco")


def builtin_model(fmt: str = "colour_blobs") -> ModelInformation:
    """The model used when no model folder is given, version 'builtin': red `target`
    blobs (colour_blobs) or any 4x4 ArUco `marker` (aruco)."""
    if fmt not in BUILTIN_FORMATS:
        raise ValueError(f"logic {fmt!r} needs a model folder with model.json; only "
                         f"{', '.join(BUILTIN_FORMATS)} have a built-in model")
    name = "target" if fmt == "colour_blobs" else "marker"
    return ModelInformation(id=f"builtin-{fmt}", host=None, organization="local",
                            project="local", version="builtin", format=fmt,
                            categories=[Category(id=name, name=name, type="box")])


def annotate(image: np.ndarray, meta: ImageMetadata) -> np.ndarray:
    """A copy of the RGB image with boxes, points and labels drawn (for rviz)."""
    out = image.copy()
    for box in meta.box_detections:
        cv2.rectangle(out, (box.x, box.y), (box.x + box.width, box.y + box.height), (0, 255, 0), 2)
        cv2.putText(out, f"{box.category_name} {box.confidence:.2f}", (box.x, max(12, box.y - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 0), 1, cv2.LINE_AA)
    for point in meta.point_detections:
        centre = (int(round(point.x)), int(round(point.y)))
        cv2.drawMarker(out, centre, (0, 255, 255), cv2.MARKER_CROSS, 14, 2)
        cv2.putText(out, point.category_name, (centre[0] + 8, centre[1] - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
    for i, c in enumerate(meta.classification_detections):
        cv2.putText(out, f"{c.category_name} {c.confidence:.2f}", (6, 18 + 16 * i),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    return out


__all__ = ["ClassificationDetection", "DetectorLogic", "annotate", "build_logic", "builtin_model"]
