import cv2
import numpy as np
import pytest

from detector_node import logic
from robot_bringup.arm import ArmGeometry, ArmState
from robot_bringup.camera import CameraModel, TargetSchedule, render


def red_centroid(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    mask = cv2.inRange(hsv, (0, 120, 70), (10, 255, 255)) | \
        cv2.inRange(hsv, (170, 120, 70), (179, 255, 255))
    ys, xs = np.nonzero(mask)
    assert xs.size > 0, "no red pixels in the image"
    return np.array([xs.mean(), ys.mean()])


def test_pixel_and_world_coordinates_are_inverse():
    camera = CameraModel()
    points = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    assert np.allclose(camera.pixel_to_world(camera.world_to_pixel(points)), points)


@pytest.mark.parametrize("target", [(0.45, 0.55), (-0.5, 0.2), (0.0, 0.85)])
def test_the_red_disc_is_the_only_saturated_thing_and_sits_on_the_target(target):
    camera = CameraModel()
    arm = ArmState(ArmGeometry())
    image = render(camera, arm.points(), arm.gripper, target, 0.06)
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    centre = camera.pixel_to_world(red_centroid(image))
    assert np.hypot(*(centre - np.asarray(target))) < 0.02


def test_without_a_target_nothing_is_red():
    camera = CameraModel()
    arm = ArmState()
    image = render(camera, arm.points(), 0.0, None, 0.06)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    assert int(hsv[..., 1].max()) < 120


def test_the_detectors_colour_blob_logic_finds_the_target():
    import detector_node.logic as logic
    camera = CameraModel()
    image = render(camera, ArmState().points(), 1.0, (0.45, 0.55), 0.06)
    result = logic.build_logic(logic.builtin_model()).evaluate(
        cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    boxes = [b for b in result.box_detections if b.category_name == "target"]
    assert len(boxes) == 1
    b = boxes[0]
    centre = camera.pixel_to_world(np.array([b.x + b.width / 2, b.y + b.height / 2]))
    assert np.hypot(*(centre - np.array([0.45, 0.55]))) < 0.03


def test_the_schedule_visits_positions_in_turn_and_set_overrides():
    schedule = TargetSchedule(ArmGeometry(), period_s=1.0, positions_m=[(0.1, 0.5), (0.2, 0.6)])
    assert np.allclose(schedule.update(0.0), (0.1, 0.5))
    assert np.allclose(schedule.update(0.5), (0.1, 0.5))
    assert np.allclose(schedule.update(1.0), (0.2, 0.6))
    assert np.allclose(schedule.update(2.1), (0.1, 0.5))
    schedule.set((0.3, 0.3))
    assert np.allclose(schedule.update(2.2), (0.3, 0.3))
    with pytest.raises(ValueError, match="finite"):
        schedule.set((float("nan"), 0.0))


def test_random_targets_are_reachable_and_seeded():
    geometry = ArmGeometry()
    a = TargetSchedule(geometry, 0.0, seed=3)
    b = TargetSchedule(geometry, 0.0, seed=3)
    for _ in range(50):
        p, q = a.next(), b.next()
        assert np.allclose(p, q)
        assert np.hypot(*p) < geometry.reach_m and p[1] >= 0.1


@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.03, 0.0), (0.0, -0.04)])
def test_a_tip_on_the_target_does_not_move_where_the_target_is_seen(offset):
    """The arm reaching the target must not hide part of the disc: the detector's box
    (and with it the reward's target and the brain's error input) stays on the target
    whatever part of it the tip, the gripper or the forearm covers."""
    from robot_bringup.arm import inverse_kinematics

    camera = CameraModel()
    target = np.array([0.45, 0.55])
    joints = inverse_kinematics(ArmGeometry(), target + np.asarray(offset))
    image = render(camera, ArmState(ArmGeometry(), joints).points(), 0.0, target, 0.06)
    result = logic.build_logic(logic.builtin_model()).evaluate(
        cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    boxes = [b for b in result.box_detections if b.category_name == "target"]
    assert len(boxes) == 1
    b = boxes[0]
    centre = camera.pixel_to_world(np.array([b.x + b.width / 2, b.y + b.height / 2]))
    assert np.hypot(*(centre - target)) < 0.01
