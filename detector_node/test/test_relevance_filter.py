"""The relevance filter decides `autoupload: filtered` as the Learning Loop detector does
(assertions ported from the reference's inbox_filter tests)."""

from __future__ import annotations

import pytest

from detector_node.metadata import (
    BoxDetection,
    ClassificationDetection,
    ImageMetadata,
    Point,
    PointDetection,
    SegmentationDetection,
    Shape,
    image_metadata_from_dict,
)
from detector_node.relevance import CamObservationHistory, RelevanceFilter


def box(confidence: float, x: int = 0, y: int = 0, w: int = 100, h: int = 100) -> BoxDetection:
    return BoxDetection(category_name="dirt", x=x, y=y, width=w, height=h, category_id="xyz",
                        model_name="test_model", confidence=confidence)


def boxes(*items: BoxDetection) -> ImageMetadata:
    return ImageMetadata(box_detections=list(items))


def point(x: float, y: float, confidence: float = 0.3) -> PointDetection:
    return PointDetection(category_name="point", x=x, y=y, model_name="xyz",
                          confidence=confidence, category_id="some_id")


def test_uncertain_band_and_similar_boxes():
    history = CamObservationHistory()
    assert history.get_causes_to_upload(boxes(box(0.3))) == ["uncertain"]
    assert len(history.recent_observations) == 1
    assert history.get_causes_to_upload(boxes(box(0.3))) == []  # similar: only refreshed
    assert len(history.recent_observations) == 1
    assert history.get_causes_to_upload(boxes(box(0.29))) == []  # below the band, similar
    assert history.get_causes_to_upload(boxes(box(0.61))) == []  # above the band, similar
    assert len(history.recent_observations) == 1


def test_a_dissimilar_box_is_remembered_too():
    history = CamObservationHistory()
    history.get_causes_to_upload(boxes(box(0.3)))
    history.get_causes_to_upload(boxes(box(0.35, x=0, y=20, w=10, h=10)))
    assert len(history.recent_observations) == 2


def test_observations_are_forgotten_after_an_hour():
    history = CamObservationHistory()
    assert history.get_causes_to_upload(boxes(box(0.3))) == ["uncertain"]
    seen = history.recent_observations[0].last_seen_s
    history.forget_old_detections(now_s=seen + 30 * 60)
    assert len(history.recent_observations) == 1
    history.forget_old_detections(now_s=seen + 61 * 60)
    assert len(history.recent_observations) == 0


def test_detections_parsed_from_json():
    meta = image_metadata_from_dict({"box_detections": [
        {"category_name": "dirt", "x": 1366, "y": 1017, "width": 37, "height": 24,
         "model_name": "w", "category_id": "some_id", "confidence": 0.3},
        {"category_name": "obstacle", "x": 0, "y": 0, "width": 37, "height": 24,
         "model_name": "w", "category_id": "some_id", "confidence": 0.35},
        {"category_name": "dirt", "x": 1479, "y": 862, "width": 14, "height": 11,
         "model_name": "w", "category_id": "some_id", "confidence": 0.2}]})
    assert CamObservationHistory().get_causes_to_upload(meta) == ["uncertain"]


def test_every_segmentation_is_a_cause():
    history = CamObservationHistory()
    meta = image_metadata_from_dict({"segmentation_detections": [
        {"category_name": "seg", "category_id": "some_id", "model_name": "w", "confidence": 0.3,
         "shape": {"points": [{"x": 193, "y": 876}, {"x": 602, "y": 193}, {"x": 121, "y": 8}]}}]})
    assert isinstance(meta.segmentation_detections[0].shape, Shape)
    assert history.get_causes_to_upload(meta) == ["segmentation_detection"]
    again = ImageMetadata(segmentation_detections=[SegmentationDetection(
        category_name="seg", shape=Shape(points=[Point(x=105, y=205), Point(x=305, y=405)]),
        model_name="w", confidence=0.3)])
    assert history.get_causes_to_upload(again) == ["segmentation_detection"]


def test_similar_points_are_ignored():
    history = CamObservationHistory()
    assert history.get_causes_to_upload(ImageMetadata(point_detections=[point(100, 100)])) == ["uncertain"]
    assert history.get_causes_to_upload(ImageMetadata(point_detections=[point(104, 98)])) == []
    assert len(history.recent_observations) == 1
    assert history.get_causes_to_upload(ImageMetadata(point_detections=[point(130, 100)])) == ["uncertain"]


def test_uncertain_classification_is_a_cause():
    meta = ImageMetadata(classification_detections=[
        ClassificationDetection(category_name="c", model_name="m", confidence=0.5)])
    assert CamObservationHistory().get_causes_to_upload(meta) == ["uncertain"]


HIGH_BOX = BoxDetection(category_name="dirt", x=0, y=0, width=100, height=100, category_id="xyz",
                        confidence=0.9, model_name="test_model")
HIGH_POINT = PointDetection(category_name="point", x=100, y=100, category_id="xyz", confidence=0.9,
                            model_name="test_model")
LOW_POINT = PointDetection(category_name="point", x=100, y=100, category_id="xyz", confidence=0.3,
                           model_name="test_model")


@pytest.mark.parametrize("meta, causes", [
    (ImageMetadata(box_detections=[HIGH_BOX] * 40, point_detections=[HIGH_POINT] * 40),
     ["unexpected_observations_count"]),
    (ImageMetadata(box_detections=[HIGH_BOX], point_detections=[HIGH_POINT]), []),
    (ImageMetadata(box_detections=[HIGH_BOX] * 40, point_detections=[LOW_POINT] * 40),
     ["uncertain", "unexpected_observations_count"]),
    (ImageMetadata(box_detections=[HIGH_BOX], point_detections=[LOW_POINT]), ["uncertain"]),
])
def test_unexpected_observations_count(meta, causes):
    assert RelevanceFilter().causes(meta, "0:0:0:0") == causes


def test_histories_are_per_camera():
    relevance = RelevanceFilter()
    assert relevance.causes(boxes(box(0.4)), "front") == ["uncertain"]
    assert relevance.causes(boxes(box(0.4)), "front") == []
    assert relevance.causes(boxes(box(0.4)), "rear") == ["uncertain"]
    assert relevance.causes(boxes(box(0.4)), None) == ["uncertain"]


def test_thresholds_are_configurable():
    relevance = RelevanceFilter(min_uncertain=0.5, max_uncertain=0.7)
    assert relevance.causes(boxes(box(0.4)), "c") == []
    assert relevance.causes(boxes(box(0.6, x=300)), "c") == ["uncertain"]


def test_bad_metadata_is_named():
    with pytest.raises(ValueError, match="box_detection lacks"):
        image_metadata_from_dict({"box_detections": [{"category_name": "x"}]})
    with pytest.raises(ValueError, match="tags"):
        image_metadata_from_dict({"tags": "a,b"})
