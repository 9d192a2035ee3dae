import numpy as np
import pytest

from bc_ros.core.teleop import JoyMapper, KeyboardTeleop, TeleopConfig


def test_joy_needs_the_deadman_held():
    joy = JoyMapper(TeleopConfig())
    axes = [0.0, 1.0, 0.0, -0.5, 0.2]
    buttons = [0] * 8
    command, engaged = joy(axes, buttons)
    assert not engaged and not command.any()
    buttons[4] = 1
    command, engaged = joy(axes, buttons)
    assert engaged
    assert command.tolist() == pytest.approx([1.5, 0.0, 0.1, -0.5])


def test_joy_deadzone_and_short_messages():
    joy = JoyMapper(TeleopConfig())
    command, _ = joy([0.0, 0.03, 0.0, 0.0, 0.0], [0, 0, 0, 0, 1])
    assert not command.any()
    with pytest.raises(ValueError, match="axes"):
        joy([0.0, 0.0], [0, 0, 0, 0, 1])


def test_keyboard_press_lasts_key_hold_then_stops():
    kb = KeyboardTeleop(TeleopConfig(key_hold=0.3))
    assert kb.press("w", now=0.0) and kb.press("e", now=0.0)
    assert kb.command(0.1).tolist() == pytest.approx([1.5, 0.0, 0.0, -1.0])
    assert not kb.command(0.4).any()
    assert not kb.press("z", now=0.5)


def test_keyboard_space_toggles_engaged_and_x_stops():
    kb = KeyboardTeleop(TeleopConfig())
    kb.press(" ", 0.0)
    assert kb.engaged
    kb.press("a", 0.0)
    kb.press("x", 0.1)
    assert not kb.command(0.15).any()
    kb.press(" ", 0.2)
    assert not kb.engaged


def test_config_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="scales"):
        TeleopConfig(action_names=["vx", "vy", "vz"])
    assert np.all(np.asarray(TeleopConfig().scales) > 0)
