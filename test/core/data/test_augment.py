"""Side-camera labels: sign and magnitude of the steer-back correction, discrete classes."""

import math

import numpy as np
import pytest

from bc_ros.core.data.augment import (STRAIGHT, TURN_LEFT, TURN_RIGHT, SideCameraConfig,
                                      augmented_label, discrete_label, steer_back_correction)

DRONE = ("vx", "vy", "vz", "yaw_rate")


def test_left_camera_label_turns_right_by_yaw_over_horizon():
    label = augmented_label([1.5, 0.0, 0.0, 0.1], DRONE, math.radians(30), 0.0, horizon=2.0)
    assert label[3] == pytest.approx(0.1 - math.radians(30) / 2.0)  # -0.26 rad/s: a right turn
    assert label[:3].tolist() == [1.5, 0.0, 0.0]


def test_right_camera_label_turns_left_symmetrically():
    left = steer_back_correction(DRONE, math.radians(30), 0.0, 2.0)
    right = steer_back_correction(DRONE, math.radians(-30), 0.0, 2.0)
    np.testing.assert_allclose(left, -right)
    assert right[3] > 0


def test_lateral_offset_slides_back_when_the_robot_can_strafe():
    c = steer_back_correction(DRONE, 0.0, 0.2, horizon=1.0)
    assert c[1] == pytest.approx(-0.2) and c[3] == 0.0


def test_lateral_offset_becomes_heading_for_a_robot_that_cannot_strafe():
    c = steer_back_correction(("vx", "yaw_rate"), 0.0, 0.5, horizon=1.0, forward_speed=1.0)
    assert c[1] == pytest.approx(-math.atan2(0.5, 1.0))


def test_longer_horizon_means_gentler_correction_and_limits_hold():
    gentle = steer_back_correction(DRONE, 0.5, 0.0, 4.0)[3]
    sharp = steer_back_correction(DRONE, 0.5, 0.0, 1.0)[3]
    assert abs(gentle) == pytest.approx(abs(sharp) / 4)
    label = augmented_label([0, 0, 0, -1.4], DRONE, 0.5, 0.0, 0.5, low=[-1] * 4, high=[1] * 4)
    assert label[3] == -1.0


def test_discrete_labels_follow_giusti():
    assert discrete_label(math.radians(30)) == TURN_RIGHT
    assert discrete_label(0.0) == STRAIGHT
    assert discrete_label(math.radians(-30)) == TURN_LEFT


def test_bad_settings_are_explained():
    with pytest.raises(ValueError, match="mode='sideways'"):
        SideCameraConfig(mode="sideways")
    with pytest.raises(ValueError, match="needs a yaw_rate"):
        steer_back_correction(("vx", "vy", "vz"), 0.5, 0.0, 1.0)
