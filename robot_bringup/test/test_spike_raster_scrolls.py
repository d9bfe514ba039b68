import numpy as np
import pytest

from robot_bringup.raster import SEPARATOR, SPIKE, SpikeRaster


def test_newest_cycle_is_on_the_right_and_populations_stack():
    raster = SpikeRaster(history_steps=10)
    a = np.zeros((4, 3), np.uint8)
    a[3, 0] = 1
    b = np.ones((4, 2), np.uint8)
    raster.add([("joint0", a), ("joint1", b)])
    image = raster.image()
    assert image.shape == (3 + 1 + 2, 10)
    assert image[0, -1] == SPIKE and image[0, -2] == 0
    assert (image[3] [-4:] == SEPARATOR).all()
    assert (image[4:, -4:] == SPIKE).all() and (image[4:, :-4] == 0).all()
    raster.add([("joint0", np.zeros((4, 3), np.uint8)), ("joint1", np.zeros((4, 2), np.uint8))])
    assert raster.image()[0, -5] == SPIKE  # scrolled left by one cycle
    assert raster.cycles == 2 and raster.spikes == 9


def test_a_new_population_keeps_the_history_of_the_others():
    raster = SpikeRaster(history_steps=6)
    raster.add([("a", np.ones((2, 2), np.uint8))])
    raster.add([("a", np.zeros((2, 2), np.uint8)), ("b", np.ones((2, 1), np.uint8))])
    image = raster.image()
    assert image.shape == (4, 6)
    assert (image[:2, 2:4] == SPIKE).all()
    assert (image[3, -2:] == SPIKE).all()


def test_inconsistent_timesteps_are_refused():
    raster = SpikeRaster(history_steps=6)
    with pytest.raises(ValueError, match="same"):
        raster.add([("a", np.ones((2, 2))), ("b", np.ones((3, 2)))])
