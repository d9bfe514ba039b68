"""The relevance filter behind `autoupload: filtered` (the Learning Loop's rules).

Per camera id an observation history remembers box and point detections for
`forget_after_s` (3600 s). A detection similar to a remembered one (same category and
IoU >= 0.5 for boxes, closer than 10 px for points) only refreshes it; a new one is
remembered and, if its confidence lies in [min_uncertain, max_uncertain], marks the
image `uncertain`. Classifications in that band also mark `uncertain`; any segmentation
adds `segmentation_detection`; 80 or more detections add `unexpected_observations_count`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from detector_node.metadata import (
    BoxDetection,
    ClassificationDetection,
    ImageMetadata,
    PointDetection,
    SegmentationDetection,
)

IOU_SIMILAR = 0.5
POINT_SIMILAR_PX = 10.0
UNEXPECTED_OBSERVATIONS = 80


@dataclass(slots=True)
class Observation:
    detection: BoxDetection | PointDetection
    last_seen_s: float = field(default_factory=time.monotonic)


class CamObservationHistory:
    """Recent observations of one camera."""

    def __init__(self, min_uncertain: float = 0.3, max_uncertain: float = 0.6,
                 forget_after_s: float = 3600.0) -> None:
        self.min_uncertain = min_uncertain
        self.max_uncertain = max_uncertain
        self.forget_after_s = forget_after_s
        self.recent_observations: list[Observation] = []

    def forget_old_detections(self, now_s: float | None = None) -> None:
        now_s = time.monotonic() if now_s is None else now_s
        self.recent_observations = [o for o in self.recent_observations
                                    if now_s - o.last_seen_s <= self.forget_after_s]

    def _similar(self, detection: BoxDetection | PointDetection) -> list[Observation]:
        found = []
        for obs in self.recent_observations:
            other = obs.detection
            if type(other) is not type(detection) or other.category_name != detection.category_name:
                continue
            if isinstance(detection, BoxDetection):
                if detection.intersection_over_union(other) >= IOU_SIMILAR:
                    found.append(obs)
            elif detection.distance(other) < POINT_SIMILAR_PX:
                found.append(obs)
        return found

    def get_causes_to_upload(self, meta: ImageMetadata) -> list[str]:
        causes: set[str] = set()
        now_s = time.monotonic()
        for detection in meta.detections():
            if isinstance(detection, SegmentationDetection):
                causes.add("segmentation_detection")
                continue
            uncertain = self.min_uncertain <= detection.confidence <= self.max_uncertain
            if isinstance(detection, ClassificationDetection):
                if uncertain:
                    causes.add("uncertain")
                continue
            similar = self._similar(detection)
            if similar:
                for obs in similar:
                    obs.last_seen_s = now_s
                continue
            self.recent_observations.append(Observation(detection, now_s))
            if uncertain:
                causes.add("uncertain")
        return sorted(causes)


class RelevanceFilter:
    """Decides which images `filtered` autoupload keeps, with one history per camera."""

    def __init__(self, min_uncertain: float = 0.3, max_uncertain: float = 0.6,
                 forget_after_s: float = 3600.0) -> None:
        self.min_uncertain = min_uncertain
        self.max_uncertain = max_uncertain
        self.forget_after_s = forget_after_s
        self.histories: dict[str | None, CamObservationHistory] = {}

    def set_thresholds(self, min_uncertain: float, max_uncertain: float) -> None:
        """A new 'uncertain' band, for the cameras seen so far and new ones."""
        if not 0.0 <= min_uncertain <= max_uncertain <= 1.0:
            raise ValueError(f"need 0 <= min_uncertain <= max_uncertain <= 1, got {min_uncertain}, "
                             f"{max_uncertain}")
        self.min_uncertain, self.max_uncertain = min_uncertain, max_uncertain
        for history in self.histories.values():
            history.min_uncertain, history.max_uncertain = min_uncertain, max_uncertain

    def causes(self, meta: ImageMetadata, camera_id: str | None) -> list[str]:
        """Why the image is worth uploading ([] if it is not); remembers its detections."""
        for history in self.histories.values():
            history.forget_old_detections()
        history = self.histories.get(camera_id)
        if history is None:
            history = self.histories[camera_id] = CamObservationHistory(
                self.min_uncertain, self.max_uncertain, self.forget_after_s)
        causes = history.get_causes_to_upload(meta)
        if len(meta) >= UNEXPECTED_OBSERVATIONS:
            causes.append("unexpected_observations_count")
        return causes
