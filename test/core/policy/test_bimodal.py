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


def test_mog_winner_takes_all_picks_a_mode_on_both_sides():
    encoder, model = train_toy("mog", steps=1000, batch=128, seed=0, hidden=64, loss="wta")
    r = mode_fraction(encoder, model)
    assert r["near_a_mode"] >= 0.9, r
    assert min(r["left"], r["right"]) > 0.3, r


def test_mog_winner_takes_all_trains_only_the_nearest_component():
    """A sample pulls the component whose mean is nearest to it, and no other (so components
    stay apart), and teaches the weights to name that component."""
    import torch

    from bc_ros.core.policy.heads.base import HeadSpec, make_head

    torch.manual_seed(0)
    head = make_head("mog", HeadSpec(cond_dim=4, action_dim=2, horizon=3), num_modes=3,
                     hidden=8, loss="wta")
    cond = torch.randn(1, 4)
    _, mean, _ = head._params(cond)
    nearest = 1
    action = mean[0, nearest].detach().view(1, 3, 2) + 0.01
    logits, mean, std = head._params(cond)
    mean.retain_grad()
    head._params = lambda c: (logits, mean, std)     # the same tensors, to read their grads
    head.loss(cond, action).backward()
    moved = mean.grad.abs().sum(-1)[0]                                     # (K,)
    assert moved[nearest] > 0 and moved[0] == 0 and moved[2] == 0
    with pytest.raises(ValueError, match="loss must be nll or wta"):
        make_head("mog", HeadSpec(cond_dim=4, action_dim=2, horizon=3), loss="mse")
