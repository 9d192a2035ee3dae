"""Every shipped training recipe builds a valid TrainConfig for every head."""

import pytest

from bc_ros.core.policy.heads.base import HEADS
from bc_ros.core.train.config import TrainConfig
from bc_ros.core.train.presets import PRESETS, load_preset


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_every_preset_builds_a_config_for_every_head(preset, head):
    cfg = TrainConfig(dataset="d", out="o", **load_preset(preset, head))
    assert cfg.head == head and cfg.horizon >= cfg.n_action_steps


def test_an_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="the presets are"):
        load_preset("bypas", "mog")
