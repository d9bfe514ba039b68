"""Detection records with the Learning Loop's JSON field names (ImageMetadata and friends).

`to_dict()` gives exactly the JSON a Learning Loop client expects from `/detect`;
`image_metadata_from_dict()` parses what a client sends to the Socket.IO `upload`
event (unknown keys are ignored, missing required keys raise ValueError naming them).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime
from typing import Any


def now_iso() -> str:
    """Creation time in the Loop's format: ISO date, '_' separator, milliseconds."""
    return datetime.now().isoformat(sep="_", timespec="milliseconds")


@dataclass(slots=True)
class BoxDetection:
    """Axis-aligned box: top-left corner and size in pixels (x right, y down)."""

    category_name: str
    x: int
    y: int
    width: int
    height: int
    model_name: str
    confidence: float
    category_id: str | None = None

    def intersection_over_union(self, other: BoxDetection) -> float:
        ix = max(0, min(self.x + self.width, other.x + other.width) - max(self.x, other.x))
        iy = max(0, min(self.y + self.height, other.y + other.height) - max(self.y, other.y))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0


@dataclass(slots=True)
class PointDetection:
    """A point (its centre) in pixels."""

    category_name: str
    x: float
    y: float
    model_name: str
    confidence: float
    category_id: str | None = None

    def distance(self, other: PointDetection) -> float:
        return math.hypot(other.x - self.x, other.y - self.y)


@dataclass(slots=True)
class Point:
    x: int
    y: int


@dataclass(slots=True)
class Shape:
    points: list[Point]


@dataclass(slots=True)
class SegmentationDetection:
    category_name: str
    shape: Shape | str
    model_name: str
    confidence: float
    category_id: str | None = None


def flat_shape(shape: Shape | str) -> str:
    """The Loop's flat form of a segmentation shape: "x1,y1,x2,y2,..." (a string stays)."""
    if isinstance(shape, str):
        return shape
    return ",".join(str(value) for p in shape.points for value in (p.x, p.y))


def shape_points(shape: Shape | str) -> list[tuple[float, float]]:
    """The (x, y) points of a shape in either form; a malformed string gives []."""
    if isinstance(shape, Shape):
        return [(float(p.x), float(p.y)) for p in shape.points]
    try:
        values = [float(v) for v in shape.split(",")] if shape else []
    except ValueError:
        return []
    return list(zip(values[0::2], values[1::2], strict=False))


@dataclass(slots=True)
class ClassificationDetection:
    category_name: str
    model_name: str
    confidence: float
    category_id: str | None = None


@dataclass(slots=True)
class ImageMetadata:
    """Everything known about one image: detections, annotations, tags, source, creation time."""

    box_detections: list[BoxDetection] = field(default_factory=list)
    point_detections: list[PointDetection] = field(default_factory=list)
    segmentation_detections: list[SegmentationDetection] = field(default_factory=list)
    classification_detections: list[ClassificationDetection] = field(default_factory=list)
    box_annotations: list[dict] = field(default_factory=list)
    point_annotations: list[dict] = field(default_factory=list)
    classification_annotation: dict | None = None
    tags: list[str] = field(default_factory=list)
    created: str | None = field(default_factory=now_iso)
    source: str | None = None
    state: str | None = None

    def __len__(self) -> int:
        return (len(self.box_detections) + len(self.point_detections)
                + len(self.segmentation_detections) + len(self.classification_detections))

    def detections(self) -> list:
        return [*self.box_detections, *self.point_detections,
                *self.segmentation_detections, *self.classification_detections]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def as_detected(self) -> None:
        """Detections in the form the Loop's detector answers with: point x/y as floats,
        segmentation shapes flattened to "x1,y1,..." strings."""
        for point in self.point_detections:
            point.x, point.y = float(point.x), float(point.y)
        for seg in self.segmentation_detections:
            seg.shape = flat_shape(seg.shape)


def _record(cls: type, data: Any, what: str):
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be an object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls)
                if f.default is MISSING and f.default_factory is MISSING}
    missing = sorted(required - data.keys())
    if missing:
        raise ValueError(f"{what} lacks {', '.join(missing)}")
    return cls(**{k: v for k, v in data.items() if k in names})


def _shape(value: Any) -> Shape | str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("points"), list):
        return Shape(points=[_record(Point, p, "shape point") for p in value["points"]])
    raise ValueError("segmentation shape must be {'points': [{x, y}...]} or a string")


def image_metadata_from_dict(data: Any) -> ImageMetadata:
    """Parse an ImageMetadata JSON object; raises ValueError naming the bad part."""
    if not isinstance(data, dict):
        raise ValueError(f"metadata must be an object, got {type(data).__name__}")
    meta = ImageMetadata()
    lists = {"box_detections": BoxDetection, "point_detections": PointDetection,
             "classification_detections": ClassificationDetection}
    for key, cls in lists.items():
        items = data.get(key) or []
        if not isinstance(items, list):
            raise ValueError(f"{key} must be a list")
        setattr(meta, key, [_record(cls, item, key[:-1]) for item in items])
    segs = data.get("segmentation_detections") or []
    if not isinstance(segs, list):
        raise ValueError("segmentation_detections must be a list")
    meta.segmentation_detections = []
    for item in segs:
        seg = _record(SegmentationDetection, item, "segmentation_detection")
        seg.shape = _shape(seg.shape)
        meta.segmentation_detections.append(seg)
    for key in ("box_annotations", "point_annotations"):
        value = data.get(key) or []
        if not isinstance(value, list):
            raise ValueError(f"{key} must be a list")
        setattr(meta, key, value)
    meta.classification_annotation = data.get("classification_annotation")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("tags must be a list of strings")
    meta.tags = list(tags)
    if "created" in data:
        meta.created = data["created"]
    meta.source = data.get("source")
    meta.state = data.get("state")
    return meta


@dataclass(slots=True)
class Category:
    id: str
    name: str
    description: str | None = None
    hotkey: str | None = None
    color: str | None = None
    point_size: int | None = None
    type: str | None = None


@dataclass(slots=True)
class ModelInformation:
    """What a model folder's model.json says (the Loop's ModelInformation), plus
    `parameters`: logic-specific settings (ours; the Loop ignores unknown keys)."""

    id: str
    host: str | None
    organization: str
    project: str
    version: str
    categories: list[Category] = field(default_factory=list)
    resolution: int | None = None
    model_root_path: str | None = None
    model_size: str | None = None
    conf_threshold: float | None = None
    format: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The Loop's ModelInformation JSON (our extras left out)."""
        data = asdict(self)
        data.pop("format")
        data.pop("parameters")
        return data

    def category_id(self, name: str) -> str | None:
        for category in self.categories:
            if category.name == name:
                return category.id
        return None

    @staticmethod
    def from_dict(data: Any) -> ModelInformation:
        if not isinstance(data, dict):
            raise ValueError("model information must be a JSON object")
        missing = [k for k in ("id", "organization", "project", "version") if k not in data]
        if missing:
            raise ValueError(f"model.json lacks {', '.join(missing)}")
        categories = data.get("categories") or []
        if not isinstance(categories, list):
            raise ValueError("model.json 'categories' must be a list")
        params = data.get("parameters") or {}
        if not isinstance(params, dict):
            raise ValueError("model.json 'parameters' must be an object")
        resolution = data.get("resolution")
        if resolution is not None and (not isinstance(resolution, int) or resolution <= 0):
            raise ValueError(f"model.json 'resolution' must be a positive integer, got {resolution!r}")
        return ModelInformation(
            id=str(data["id"]), host=data.get("host"), organization=str(data["organization"]),
            project=str(data["project"]), version=str(data["version"]),
            categories=[_record(Category, c, "category") for c in categories],
            resolution=resolution, model_size=data.get("model_size"),
            conf_threshold=data.get("conf_threshold"), format=data.get("format"),
            parameters=params)

    @staticmethod
    def load(folder: str) -> ModelInformation:
        """Read `<folder>/model.json`; raises FileNotFoundError or ValueError with the path."""
        path = os.path.join(folder, "model.json")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from exc
        try:
            info = ModelInformation.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        info.model_root_path = os.path.abspath(folder)
        return info
