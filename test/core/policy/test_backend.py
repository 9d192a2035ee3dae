"""The onnxruntime backend of ``select_action``: every head gives eager PyTorch's actions tick
after tick (history of 2 steps, chunk queue, temporal ensembling) from the same seeded
generator; a wrong backend name or an unfitted policy is refused clearly."""

import numpy as np
import pytest
import torch

from bc_ros.core.policy.backend import BACKENDS, OnnxRuntimeBackend, make_backend
from bc_ros.core.policy.runner import PolicyRunner, RunnerConfig
from test.core.policy.test_export import ALL_HEADS, NOISY, TOLERANCE, make_policy

pytest.importorskip("onnxruntime")


def observations(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
             rng.normal(1.0, 2.0, 3).astype(np.float32)) for _ in range(n)]


def actions(policy, obs, seed=0):
    policy.reset()
    g = torch.Generator().manual_seed(seed)
    return np.stack([policy.select_action(images, state, generator=g) for images, state in obs])


@pytest.mark.parametrize("head", ALL_HEADS)
def test_onnxruntime_ticks_match_eager_ticks(head):
    policy = make_policy(head, **NOISY[head])
    obs = observations(7)
    eager = actions(policy, obs)
    policy.set_backend(make_backend("onnxruntime", policy))
    assert isinstance(policy.backend, OnnxRuntimeBackend)
    assert max(policy.backend.parity.values()) <= TOLERANCE
    fast = actions(policy, obs)
    np.testing.assert_allclose(fast, eager, atol=TOLERANCE, rtol=0)
    # the generator drives the noise: another seed, other actions (stochastic heads)
    if head in ("mog", "ar", "diffusion", "gaussian"):
        assert not np.allclose(actions(policy, obs, seed=1), fast)
    policy.set_backend(make_backend("torch", policy))
    assert policy.backend is None
    np.testing.assert_allclose(actions(policy, obs), eager, atol=0, rtol=0)


@pytest.mark.parametrize("head", ALL_HEADS)
def test_coherent_chunk_candidates_match_eager(head):
    """chunk_candidates: the backend draws the K candidates in one exported batch, from the same
    generator, and the policy keeps the same one as on eager PyTorch."""
    policy = make_policy(head, **NOISY[head])
    policy.config.chunk_candidates = 4
    obs = observations(9, seed=2)
    eager = actions(policy, obs)
    policy.set_backend(OnnxRuntimeBackend(policy))
    assert set(policy.backend.parity) == {"step", "chunk", "chunk_k"}
    np.testing.assert_allclose(actions(policy, obs), eager, atol=TOLERANCE, rtol=0)


def test_temporal_ensembling_through_the_runner_matches():
    policy = make_policy("diffusion")
    policy.config.temporal_ensemble = 0.1
    obs = observations(6, seed=3)

    def run():
        runner = PolicyRunner(policy, RunnerConfig(low=[-50.0, -50.0], high=[50.0, 50.0]),
                              generator=torch.Generator().manual_seed(4))
        runner.reset()
        return np.stack([runner.act({"images": {"left": im[0], "right": im[1]},
                                     "state": st}).command for im, st in obs])

    eager = run()
    policy.set_backend(OnnxRuntimeBackend(policy))
    np.testing.assert_allclose(run(), eager, atol=TOLERANCE, rtol=0)


def test_bad_backend_and_unfitted_policy_are_refused():
    policy = make_policy("gaussian")
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime"):
        make_backend("tensorrt", policy)
    assert BACKENDS == ("torch", "onnxruntime")
    from bc_ros.core.policy.policy import Policy
    with pytest.raises(RuntimeError, match="no statistics"):
        OnnxRuntimeBackend(Policy(policy.config))


@pytest.mark.parametrize("options", [{"choice": "argmax"}, {"choice": "argmax",
                                                             "low_noise_eval": False}])
def test_mog_with_its_likeliest_component_runs_on_onnxruntime(options):
    """The bypass preset's MoG (choice argmax) draws no component: its exported graph has no
    such input, and the backend must not feed one (it did: onnxruntime refused the load)."""
    policy = make_policy("mog", **options)
    obs = observations(5)
    eager = actions(policy, obs)
    policy.set_backend(make_backend("onnxruntime", policy))
    np.testing.assert_allclose(actions(policy, obs), eager, atol=TOLERANCE, rtol=0)
