"""Export of every head: the ONNX graph (both exporters) and the TorchScript trace give eager
PyTorch's actions on the same observation and noise; noise in, the same chunk out; the
unrolled samplers match the reference ones (diffusers' DDIM step, nn.GRU)."""

import numpy as np
import pytest
import torch

from bc_ros.core.data.stats import feature_stats
from bc_ros.core.policy.encoders import EncoderConfig
from bc_ros.core.policy.export import (ExportedPolicy, check_parity, example_inputs, export_onnx,
                                       export_torchscript)
from bc_ros.core.policy.heads import HEADS
from bc_ros.core.policy.policy import Policy, PolicyConfig

ALL_HEADS = sorted(HEADS)
TINY = EncoderConfig(channels=(8, 8), keypoints=8, view_dim=16, state_dim_out=8, embed_dim=32)
# Options that put every random input to use (the defaults are subsets: a mean, no top-k).
NOISY = {"gaussian": {"sample_noise": True}, "mog": {"low_noise_eval": False},
         "ar": {"temperature": 0.7, "top_k": 5}, "cvae": {}, "diffusion": {}}
# float32 through a different runtime: observed max differences were 0 to 1.5e-6 (diffusion,
# 10 steps); 1e-4 of actions whose scale is ~1 leaves room for other CPUs' kernels.
TOLERANCE = 1e-4


def make_policy(head, **options):
    """A tiny fitted policy: 2 views of 32x32, a state of 3, chunks of 4 actions of 2."""
    torch.manual_seed(0)
    opts = {"hidden": 32, **({"bins": 32} if head == "ar" else {}), **options}
    policy = Policy(PolicyConfig(head=head, head_options=opts, encoder=TINY,
                                 cameras=["left", "right"], image_size=(32, 32), state_dim=3,
                                 action_names=["vx", "yaw_rate"], n_obs_steps=2, horizon=4,
                                 n_action_steps=2))
    rng = np.random.default_rng(0)
    policy.normalizer.fit({"state": feature_stats(rng.normal(1.0, 2.0, (200, 3))),
                           "action": feature_stats(rng.normal(0.5, 3.0, (200, 2)))})
    if head == "cvae":   # as after training: the latent bank holds posterior means
        policy.train()
        policy.head.loss(torch.randn(64, 32), torch.randn(64, 4, 2))
    return policy.eval()


@pytest.mark.parametrize("head", ALL_HEADS)
def test_dynamo_onnx_export_matches_eager_with_the_same_noise(head, tmp_path):
    policy = make_policy(head, **NOISY[head])
    path = str(tmp_path / "policy.onnx")
    assert export_onnx(policy, path, dynamo=True) == "dynamo"
    noise = [f"noise_{n}" for n in policy.head.noise_spec(1)]
    assert ExportedPolicy(path).input_names == ["images", "state"] + noise
    assert noise, "a sampling head must take its randomness as inputs"
    for seed in (0, 1):
        assert check_parity(policy, path, seed) < TOLERANCE


@pytest.mark.parametrize("head", ALL_HEADS)
def test_torchscript_onnx_export_and_trace_match_eager(head, tmp_path):
    policy = make_policy(head)
    onnx_path, ts_path = str(tmp_path / "policy.onnx"), str(tmp_path / "policy.pt")
    assert export_onnx(policy, onnx_path, dynamo=False) == "torchscript"
    export_torchscript(policy, ts_path)
    assert check_parity(policy, onnx_path, seed=2) < TOLERANCE
    assert check_parity(policy, ts_path, seed=2) < TOLERANCE


@pytest.mark.parametrize("head", ALL_HEADS)
def test_the_same_noise_gives_the_same_chunk(head):
    policy = make_policy(head, **NOISY[head])
    cond = policy.encode(*(v for k, v in example_inputs(policy, batch=3).items()
                           if k in ("images", "state")))
    noise = policy.head.draw_noise(3, torch.Generator().manual_seed(5))
    first = policy.head.sample(cond, noise=noise)
    assert first.shape == (3, 4, 2) and torch.isfinite(first).all()
    assert torch.equal(first, policy.head.sample(cond, noise=noise))
    # A seeded generator is the same as drawing the noise from it.
    assert torch.equal(first, policy.head.sample(cond, torch.Generator().manual_seed(5)))


def test_export_refuses_a_policy_without_statistics(tmp_path):
    policy = Policy(make_policy("gaussian").config)
    with pytest.raises(RuntimeError, match="no statistics"):
        export_onnx(policy, str(tmp_path / "p.onnx"))


def test_unrolled_ddim_matches_diffusers_step():
    head = make_policy("diffusion").head
    cond = torch.randn(6, 32)
    x_T = torch.randn(6, 8)
    torch.testing.assert_close(head.sample(cond, noise={"x_T": x_T}),
                               head.sample_with_scheduler(cond, x_T), atol=1e-5, rtol=1e-5)


def test_ar_decodes_only_the_executed_steps_and_they_are_the_same_actions():
    policy = make_policy("ar")
    head = policy.head
    assert head.steps_needed == 2         # n_action_steps 2 of a chunk of 4, nothing else reads
    cond, u = torch.randn(4, 32), torch.rand(4, head.n)
    with torch.no_grad():
        prefix = head.sample(cond, noise={"u": u})
        head.steps_needed = 0
        full = head.sample(cond, noise={"u": u})
    torch.testing.assert_close(prefix[:, :2], full[:, :2])
    torch.testing.assert_close(prefix[:, 2:], prefix[:, 1:2].expand(4, 2, 2))
    policy.set_inference(chunk_candidates=3)     # coherent chunks compare the whole plan
    assert head.steps_needed == 4


def test_ar_tokens_follow_the_teacher_forced_distribution():
    """Each sampled token is the bin where its uniform falls in the CDF that nn.GRU (the
    training path) gives after the earlier tokens: the hand-run GRU cell is the same GRU."""
    head = make_policy("ar").head
    head.steps_needed = 0                 # the whole chunk
    cond, u = torch.randn(4, 32), torch.rand(4, head.n)
    with torch.no_grad():
        tokens = head.tokenize(head.sample(cond, noise={"u": u}).reshape(4, -1))   # (4, n)
        start = torch.full((4, 1), head.options.bins)
        x = head.token(torch.cat([start, tokens[:, :-1]], 1)) + head.position.weight
        x = torch.cat([x, cond.unsqueeze(1).expand(4, head.n, -1)], -1)
        h, _ = head.gru(x, head.init(cond).tanh().unsqueeze(0))
        cdf = torch.softmax(head.out(h), -1).cumsum(-1)                            # (4, n, bins)
    upper = cdf.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    lower = torch.where(tokens > 0, cdf.gather(-1, (tokens - 1).clamp(min=0).unsqueeze(-1))
                        .squeeze(-1), torch.zeros_like(upper))
    assert (lower <= u + 1e-5).all() and (u < upper + 1e-5).all()


def test_a_goal_conditioned_policy_normalizes_its_goal_in_every_backend(tmp_path):
    """The goal enters as the goal topic carries it (metres) and is normalized inside: eager,
    the ONNX export and the onnxruntime backend agree, and the goal changes the action."""
    from bc_ros.core.policy.backend import OnnxRuntimeBackend
    from test.core.policy.test_backend import observations

    torch.manual_seed(0)
    policy = Policy(PolicyConfig(head="gaussian", encoder=TINY, cameras=["left", "right"],
                                 image_size=(32, 32), state_dim=3, goal_dim=3,
                                 action_names=["vx", "yaw_rate"], n_obs_steps=2, horizon=4,
                                 n_action_steps=2))
    rng = np.random.default_rng(0)
    policy.normalizer.fit({"state": feature_stats(rng.normal(1.0, 2.0, (200, 3))),
                           "action": feature_stats(rng.normal(0.5, 3.0, (200, 2))),
                           "goal": feature_stats(rng.normal(0.5, 0.1, (200, 3)))})
    policy.eval()
    mean = policy.normalizer.normalize("goal", torch.tensor([[0.5, 0.5, 0.5]]))
    assert float(mean.abs().max()) < 0.5          # the goal's statistics were taken
    path = str(tmp_path / "goal.onnx")
    export_onnx(policy, path, dynamo=False)
    assert check_parity(policy, path, seed=1) < TOLERANCE
    obs = observations(4)
    goals = [np.array([0.4, 0.6, 0.5], np.float32), np.array([0.7, 0.3, 0.5], np.float32)]

    def run():
        out = []
        for goal in goals:
            policy.reset()
            out.append([policy.select_action(images, state, goal) for images, state in obs])
        return np.array(out)

    eager = run()
    assert not np.allclose(eager[0], eager[1])    # the goal matters
    policy.set_backend(OnnxRuntimeBackend(policy))
    np.testing.assert_allclose(run(), eager, atol=TOLERANCE, rtol=0)
    policy.set_backend(None)
    with pytest.raises(ValueError, match="given no goal"):
        policy.reset()
        policy.select_action(*obs[0])
