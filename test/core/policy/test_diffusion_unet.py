"""The diffusion head's temporal-convolution UNet denoiser: any chunk length, the unrolled DDIM
sampler equal to diffusers' step, training, both backends and the ONNX export."""

import dataclasses

import numpy as np
import pytest
import torch

from bc_ros.core.policy.backend import OnnxRuntimeBackend
from bc_ros.core.policy.export import check_parity, export_onnx
from bc_ros.core.policy.heads import make_head
from bc_ros.core.policy.heads.base import HeadSpec
from bc_ros.core.policy.toy import mode_fraction, train_toy
from test.core.policy.test_backend import actions, observations
from test.core.policy.test_export import TOLERANCE, make_policy

UNET = {"denoiser": "unet", "unet_dims": [16, 32], "kernel": 3}


@pytest.mark.parametrize("horizon,prediction", [(1, "epsilon"), (4, "epsilon"),
                                               (10, "epsilon"), (16, "epsilon"),
                                               (4, "sample"), (16, "sample")])
def test_unrolled_ddim_matches_diffusers_step_at_any_horizon(horizon, prediction):
    torch.manual_seed(0)
    head = make_head("diffusion", HeadSpec(cond_dim=12, action_dim=3, horizon=horizon),
                     prediction=prediction, **UNET).eval()
    cond, x_T = torch.randn(5, 12), torch.randn(5, horizon * 3)
    with torch.no_grad():
        chunk = head.sample(cond, noise={"x_T": x_T})
    assert chunk.shape == (5, horizon, 3) and torch.isfinite(chunk).all()
    torch.testing.assert_close(chunk, head.sample_with_scheduler(cond, x_T), atol=1e-5,
                               rtol=1e-5)


@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_the_unet_learns_a_chunk(prediction):
    torch.manual_seed(0)
    head = make_head("diffusion", HeadSpec(cond_dim=8, action_dim=2, horizon=8),
                     prediction=prediction, **UNET)
    optim = torch.optim.Adam(head.parameters(), lr=3e-3)
    cond = torch.randn(64, 8)
    target = torch.sin(torch.linspace(0, 3, 8))[None, :, None].expand(64, 8, 2) * 0.8
    losses = []
    for _ in range(80):
        loss = head.loss(cond, target)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_unet_policy_exports_and_runs_on_onnxruntime(tmp_path, prediction):
    policy = make_policy("diffusion", prediction=prediction, **UNET)
    path = str(tmp_path / "unet.onnx")
    export_onnx(policy, path, dynamo=False)
    assert check_parity(policy, path, seed=1) < TOLERANCE
    obs = observations(5)
    eager = actions(policy, obs)
    policy.set_backend(OnnxRuntimeBackend(policy))
    np.testing.assert_allclose(actions(policy, obs), eager, atol=TOLERANCE, rtol=0)


def test_fewer_or_more_sampling_steps_can_be_set_on_a_trained_head():
    """An evaluation may change ``sample_steps`` (bench_learning --eval-set): the DDIM steps
    follow, still equal to diffusers' step."""
    torch.manual_seed(0)
    head = make_head("diffusion", HeadSpec(cond_dim=6, action_dim=2, horizon=4), **UNET).eval()
    cond, x_T = torch.randn(3, 6), torch.randn(3, 8)
    head.options = dataclasses.replace(head.options, sample_steps=25)
    head.sampling_changed()
    assert len(head.ddim) == 25
    torch.testing.assert_close(head.sample(cond, noise={"x_T": x_T}),
                               head.sample_with_scheduler(cond, x_T), atol=1e-4, rtol=1e-4)


def test_bad_unet_options_are_refused():
    with pytest.raises(ValueError, match="prediction must be epsilon or sample"):
        make_head("diffusion", HeadSpec(8, 2, 4), prediction="v")
    with pytest.raises(ValueError, match="denoiser must be mlp or unet"):
        make_head("diffusion", HeadSpec(8, 2, 4), denoiser="transformer")
    with pytest.raises(ValueError, match="kernel odd"):
        make_head("diffusion", HeadSpec(8, 2, 4), denoiser="unet", kernel=4)


@pytest.mark.slow
def test_the_unet_picks_a_mode_of_the_bimodal_toy():
    encoder, model = train_toy("diffusion", steps=600, batch=128, seed=0, **UNET)
    r = mode_fraction(encoder, model)
    assert r["near_a_mode"] >= 0.9 and min(r["left"], r["right"]) > 0.3, r
