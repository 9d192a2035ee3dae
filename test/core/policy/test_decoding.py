"""The AR head's chunk decoded a step per tick (``decoding.py``): the same actions as the chunk
decoded at once, on eager PyTorch and onnxruntime; a planning tick decodes one step's tokens;
asking for the queued actions (publish_chunk) decodes the rest then, and they are the ones the
next ticks send."""

import numpy as np
import pytest
import torch

from test.core.policy.test_backend import actions, observations
from test.core.policy.test_export import NOISY, TOLERANCE, make_policy


def count_decoded_tokens(head):
    """Wrap ``head.decode_tokens`` to record how many tokens each call decodes."""
    calls, inner = [], head.decode_tokens

    def counted(gi, hidden, prev, u):
        calls.append(gi.shape[1])
        return inner(gi, hidden, prev, u)

    head.decode_tokens = counted
    return calls


def test_a_step_per_tick_gives_the_actions_of_the_whole_chunk_decoded_at_once():
    policy = make_policy("ar", **NOISY["ar"])      # chunks of 4, 2 executed; 2 actions a step
    assert policy.decodes_per_tick()
    obs = observations(9, seed=4)
    calls = count_decoded_tokens(policy.head)
    per_tick = actions(policy, obs)
    assert calls == [2] * 9          # every tick decodes its own step's two tokens, no more
    policy.head.incremental = False  # the chunk's executed steps decoded at the planning tick
    calls.clear()
    at_once = actions(policy, obs)
    assert calls == [4] * 5          # ticks 0, 2, 4, 6, 8 plan: 2 steps of 2 tokens each
    np.testing.assert_array_equal(per_tick, at_once)


def test_coherent_candidates_and_ensembling_decode_whole_chunks():
    policy = make_policy("ar")
    policy.set_inference(chunk_candidates=3)
    assert not policy.decodes_per_tick()
    policy.set_inference(chunk_candidates=1)
    policy.config.temporal_ensemble = 0.1
    assert not policy.decodes_per_tick()


def test_onnxruntime_decodes_a_step_per_tick_with_eagers_actions():
    from bc_ros.core.policy.backend import OnnxRuntimeBackend

    pytest.importorskip("onnxruntime")
    policy = make_policy("ar", **NOISY["ar"])
    obs = observations(7, seed=5)
    eager = actions(policy, obs)
    policy.set_backend(OnnxRuntimeBackend(policy))
    assert policy.backend.decodes and policy.decodes_per_tick()
    assert {"decode_begin", "decode_step"} <= set(policy.backend.parity)
    assert max(policy.backend.parity.values()) <= TOLERANCE
    np.testing.assert_allclose(actions(policy, obs), eager, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_the_queued_actions_are_decoded_when_asked_and_are_what_the_next_ticks_send(backend):
    from bc_ros.core.policy.backend import make_backend

    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")
    policy = make_policy("ar", **NOISY["ar"])
    policy.set_inference(n_action_steps=4)
    policy.set_backend(make_backend(backend, policy))
    obs = observations(4, seed=6)
    policy.reset()
    g = torch.Generator().manual_seed(0)
    first = policy.select_action(*obs[0], generator=g)
    queued = policy.queued_actions()          # publish_chunk: the plan, now
    assert queued.shape == (3, 2)
    later = np.stack([policy.select_action(*o, generator=g) for o in obs[1:]])
    np.testing.assert_array_equal(later, queued)
    np.testing.assert_allclose(np.vstack([first, later]), actions(policy, obs), atol=0, rtol=0)
