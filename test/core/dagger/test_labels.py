"""HG-DAgger label masks from per-tick control sources, context windows, episode summaries."""

import numpy as np
import pytest

from bc_ros.core.dagger.labels import (context_mask, hg_dagger_mask, intervention_segments,
                                       summarize_episode)

P, E, H, B, S = "policy", "expert", "hold", "blend", "stop"
#            0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
EPISODE = [P, P, P, P, E, E, S, E, H, H, B, P, P, E, E, H]


def test_only_expert_ticks_are_labelled():
    assert np.flatnonzero(hg_dagger_mask(EPISODE)).tolist() == [4, 5, 7, 13, 14]


def test_segments_run_from_takeover_to_handback_through_stops_and_holds():
    assert intervention_segments(EPISODE) == [(4, 10), (13, 16)]
    assert intervention_segments([S, S, E, P]) == [(2, 3)]     # a stop while autonomous
    assert intervention_segments([P, B, P]) == []


def test_context_window_keeps_k_ticks_before_each_takeover():
    assert np.flatnonzero(context_mask(EPISODE, 2)).tolist() == [2, 3, 11, 12]
    mask = hg_dagger_mask(EPISODE, context_ticks=2)
    assert np.flatnonzero(mask).tolist() == [2, 3, 4, 5, 7, 11, 12, 13, 14]


def test_context_window_is_clipped_at_the_start_and_at_the_previous_intervention():
    # takeover at 1 (only one tick before it), the second at 13 (window stops at the hand-back 10)
    episode = [P, E, E, H, P, P, P, P, P, P, B, P, P, E]
    episode[4:10] = [E] * 6
    assert intervention_segments(episode) == [(1, 10), (13, 14)]
    assert np.flatnonzero(context_mask(episode, 5)).tolist() == [0, 10, 11, 12]
    assert not context_mask(episode, 0).any()


def test_summary_counts_interventions_switches_and_autonomy():
    s = summarize_episode(EPISODE)
    assert (s.ticks, s.interventions, s.handbacks, s.context_switches) == (16, 2, 1, 3)
    assert (s.expert_ticks, s.autonomous_ticks, s.stop_ticks) == (5, 6, 1)
    assert s.autonomous_fraction == pytest.approx(6 / 16)
    empty = summarize_episode([])
    assert empty.ticks == 0 and empty.autonomous_fraction == 0.0


def test_sources_stored_as_bytes_are_accepted():
    stored = np.array([s.encode() for s in EPISODE])         # as h5py returns strings
    np.testing.assert_array_equal(hg_dagger_mask(stored), hg_dagger_mask(EPISODE))


def test_unknown_source_and_bad_window_are_rejected():
    with pytest.raises(ValueError, match=r"unknown control source 'human' at tick 1"):
        hg_dagger_mask([P, "human"])
    with pytest.raises(ValueError, match="context_ticks=-1"):
        hg_dagger_mask(EPISODE, context_ticks=-1)
