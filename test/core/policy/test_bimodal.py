"""The lesson of the seed, as a unit test: on demonstrations that pass a point half on the left,
half on the right, the Gaussian head goes between the modes, the multimodal heads pick one."""

import pytest

from bc_ros.core.policy.heads import HEADS
from bc_ros.core.policy.toy import mode_fraction, train_toy

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("head", sorted(HEADS))
def test_multimodal_heads_pick_a_mode_and_gaussian_averages(head):
    encoder, model = train_toy(head, steps=1000, batch=128, seed=0, hidden=64)
    r = mode_fraction(encoder, model)
    if head == "gaussian":
        assert r["near_a_mode"] < 0.1 and r["mean_abs_lateral"] < 0.3, r  # straight ahead
    else:
        assert r["near_a_mode"] >= 0.9, r
        assert min(r["left"], r["right"]) > 0.3, r  # both modes, not one collapsed
