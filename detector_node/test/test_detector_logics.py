"""Detector logics: colour blobs find the simulated camera's red disc; the ONNX logic runs a
real (tiny, built here) ONNX detector on both backends; bad model folders are named."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from dn_helpers import red_disc_bgr, write_fixed_model

from detector_node.images import (
    ImageError,
    decode_image,
    encode_jpeg,
    image_from_dict,
    rgb_from_ros,
)
from detector_node.logic import annotate, build_logic, builtin_model
from detector_node.metadata import Category, ModelInformation
from detector_node.synthetic_model import write_red_grid_model


def rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_colour_blobs_find_the_red_disc():
    logic = build_logic(builtin_model())
    meta = logic.evaluate(rgb(red_disc_bgr(centre=(200, 150), radius=30)))
    assert len(meta.box_detections) == 1
    found = meta.box_detections[0]
    assert found.category_name == "target"
    assert abs(found.x + found.width / 2 - 200) <= 2 and abs(found.y + found.height / 2 - 150) <= 2
    assert abs(found.width - 61) <= 2 and abs(found.height - 61) <= 2
    assert found.confidence > 0.9


def test_colour_blobs_see_nothing_on_a_plain_or_blue_scene():
    logic = build_logic(builtin_model())
    plain = np.full((240, 320, 3), 170, np.uint8)
    assert len(logic.evaluate(plain)) == 0
    blue = plain.copy()
    cv2.circle(blue, (100, 100), 30, (0, 0, 255), -1)  # RGB: blue
    assert len(logic.evaluate(blue)) == 0


def test_colour_blobs_points_and_custom_ranges():
    info = ModelInformation(
        id="x", host=None, organization="o", project="p", version="2.0", format="colour_blobs",
        categories=[Category(id="g", name="green", type="point")],
        parameters={"hsv_ranges": {"green": [[50, 120, 70, 70, 255, 255]]}, "min_area_px": 10})
    image = np.full((200, 200, 3), 170, np.uint8)
    cv2.circle(image, (50, 60), 10, (0, 255, 0), -1)
    cv2.circle(image, (150, 140), 12, (0, 255, 0), -1)
    meta = build_logic(info).evaluate(image)
    assert sorted((round(p.x), round(p.y)) for p in meta.point_detections) == [(50, 60), (150, 140)]
    assert all(p.model_name == "2.0" for p in meta.point_detections)


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_onnx_detector_finds_red(tmp_path, backend):
    folder = write_red_grid_model(str(tmp_path / "m"), version="3.1", resolution=64, cell=8,
                                  backend=backend)
    logic = build_logic(ModelInformation.load(folder))
    image = np.full((480, 640, 3), 170, np.uint8)
    image[120:240, 160:320] = (255, 0, 0)  # RGB red: exactly grid cells 2..3 x 2..3 of 8
    meta = logic.evaluate(image)
    assert meta.box_detections, "the red region must be detected"
    xs = [b.x for b in meta.box_detections] + [b.x + b.width for b in meta.box_detections]
    ys = [b.y for b in meta.box_detections] + [b.y + b.height for b in meta.box_detections]
    assert min(xs) >= 150 and max(xs) <= 330 and min(ys) >= 110 and max(ys) <= 250
    assert all(b.category_name == "target" and b.model_name == "3.1" for b in meta.box_detections)
    assert len(logic.evaluate(np.full((480, 640, 3), 170, np.uint8))) == 0


def test_onnx_backends_agree(tmp_path):
    image = np.full((240, 320, 3), 170, np.uint8)
    cv2.circle(image, (100, 100), 40, (255, 0, 0), -1)
    results = []
    for backend in ("onnxruntime", "opencv"):
        folder = write_red_grid_model(str(tmp_path / backend), backend=backend)
        meta = build_logic(ModelInformation.load(folder)).evaluate(image)
        results.append(sorted((b.x, b.y, b.width, b.height) for b in meta.box_detections))
    assert results[0] == results[1] and results[0]


def test_bad_model_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError):
        ModelInformation.load(str(tmp_path))
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="model.json is not valid JSON"):
        ModelInformation.load(str(tmp_path))
    (tmp_path / "model.json").write_text(json.dumps({"id": "a", "organization": "o", "project": "p"}))
    with pytest.raises(ValueError, match="lacks version"):
        ModelInformation.load(str(tmp_path))
    (tmp_path / "model.json").write_text(json.dumps(
        {"id": "a", "organization": "o", "project": "p", "version": "1", "format": "nope"}))
    with pytest.raises(ValueError, match="unknown model format 'nope'"):
        build_logic(ModelInformation.load(str(tmp_path)))
    (tmp_path / "model.json").write_text(json.dumps(
        {"id": "a", "organization": "o", "project": "p", "version": "1", "format": "onnx",
         "resolution": 64, "categories": [{"id": "t", "name": "t"}]}))
    with pytest.raises(FileNotFoundError, match="model.onnx"):
        build_logic(ModelInformation.load(str(tmp_path)))


def test_fixed_logic_returns_its_detections(tmp_path):
    folder = write_fixed_model(str(tmp_path / "f"), "1.1")
    meta = build_logic(ModelInformation.load(folder)).evaluate(np.zeros((10, 10, 3), np.uint8))
    assert [b.category_name for b in meta.box_detections] == ["some_category_name"]
    assert meta.box_detections[0].model_name == "1.1"
    assert len(meta) == 4


def test_images_decode_and_reject():
    bgr = red_disc_bgr(320, 240, (100, 100), 20)
    ok, png = cv2.imencode(".png", bgr)
    decoded = decode_image(png.tobytes())
    assert decoded.shape == (240, 320, 3) and tuple(decoded[100, 100]) == (255, 0, 0)  # RGB
    ok, jpg = cv2.imencode(".jpg", bgr)
    assert np.array_equal(decode_image(jpg.tobytes()),
                          cv2.cvtColor(cv2.imdecode(jpg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    with pytest.raises(ImageError, match="not an image"):
        decode_image(b"plain text, not pixels")
    with pytest.raises(ImageError, match="corrupt"):
        decode_image(jpg.tobytes()[:300])
    with pytest.raises(ImageError, match="too large"):
        decode_image(jpg.tobytes(), max_pixels=1000)
    with pytest.raises(ImageError, match="needs"):
        image_from_dict({"bytes": b"\0" * 10, "dtype": "uint8", "shape": [2, 2, 3]})
    with pytest.raises(ImageError, match="unknown image format"):
        image_from_dict({"format": "tiff", "bytes": b""})
    array, raw = image_from_dict({"bytes": bgr.tobytes(), "dtype": "uint8", "shape": list(bgr.shape)})
    assert raw is None and array.shape == bgr.shape


def test_ros_image_fields_convert():
    bgr = red_disc_bgr(64, 48, (32, 24), 10)
    padded = np.zeros((48, 64 * 3 + 8), np.uint8)  # a step with row padding
    padded[:, :64 * 3] = bgr.reshape(48, -1)
    out = rgb_from_ros(64, 48, "bgr8", 64 * 3 + 8, padded.tobytes())
    assert np.array_equal(out, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert np.array_equal(rgb_from_ros(64, 48, "rgb8", 192, out.tobytes()), out)
    with pytest.raises(ImageError, match="unsupported image encoding"):
        rgb_from_ros(64, 48, "32FC1", 256, b"\0" * 256 * 48)
    with pytest.raises(ImageError, match="bytes"):
        rgb_from_ros(64, 48, "bgr8", 192, b"\0" * 100)


def test_annotate_draws_on_a_copy():
    image = rgb(red_disc_bgr(320, 240, (100, 100), 20))
    meta = build_logic(builtin_model()).evaluate(image)
    drawn = annotate(image, meta)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    assert os.environ is not None


def test_aruco_markers_are_found_by_id():
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    image = np.full((300, 400), 255, np.uint8)
    image[40:140, 50:150] = cv2.aruco.generateImageMarker(dictionary, 7, 100)
    image[150:250, 250:350] = cv2.aruco.generateImageMarker(dictionary, 3, 100)
    image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    meta = build_logic(builtin_model("aruco")).evaluate(image)
    assert sorted((b.x, b.y) for b in meta.box_detections) == [(50, 40), (250, 150)]
    info = ModelInformation(id="a", host=None, organization="o", project="p", version="1",
                            format="aruco", categories=[Category(id="t", name="goal", type="point")],
                            parameters={"marker_ids": {"goal": [3]}})
    meta = build_logic(info).evaluate(image)
    [goal] = meta.point_detections
    assert goal.category_name == "goal" and abs(goal.x - 299.5) <= 1 and abs(goal.y - 199.5) <= 1
    info.parameters = {"dictionary": "DICT_NOPE"}
    with pytest.raises(ValueError, match="dictionary"):
        build_logic(info)


def test_jpeg_variants_decode_like_the_loop():
    """EXIF orientation applied (as the reference's PIL exif_transpose), gray and CMYK JPEGs."""
    import io

    from PIL import Image as PILImage

    rgb = cv2.cvtColor(red_disc_bgr(320, 240, (60, 60), 20), cv2.COLOR_BGR2RGB)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, "JPEG", exif=exif.tobytes())
    rotated = decode_image(buf.getvalue())
    assert rotated.shape == (320, 240, 3)
    assert rotated[60, 240 - 61].tolist()[0] > 200, "the red disc moved with the rotation"
    for mode in ("L", "CMYK"):
        buf = io.BytesIO()
        PILImage.fromarray(rgb).convert(mode).save(buf, "JPEG")
        assert decode_image(buf.getvalue()).shape == (240, 320, 3)
    assert decode_image(encode_jpeg(rgb)).shape == (240, 320, 3)
