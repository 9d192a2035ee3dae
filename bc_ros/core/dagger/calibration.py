"""Scores for calibrating the robot-gated threshold (ROS-free; torch).

``ensemble_scores`` replays held-out recorded episodes (e.g. demonstrations no member trained on)
through an ensemble exactly as ``policy_node`` scores a live observation: one ``PolicyRunner`` per
checkpoint (history, action chunks, a generator seeded with ``seed``), reset at each episode
start, and at every tick the disagreement of the members' raw actions over half the command range
(``ensemble_disagreement`` with ``half_range_scale``). A tick where a member's action is not finite
gets no score, as in the node. ``calibrate_threshold`` then turns the scores into the threshold
that a target fraction of them exceeds.
"""

from __future__ import annotations

import numpy as np

from bc_ros.core.dagger.uncertainty import half_range_scale, observation_score


def ensemble_scores(checkpoints: list[str], dataset: str, episodes: list[int], low, high, *,
                    max_ticks: int = 0, seed: int = 0) -> np.ndarray:
    """Disagreement of ``checkpoints`` (>= 2) at every tick of ``episodes`` of the store at
    ``dataset``, whole episodes in the order given until ``max_ticks`` scores (0: all).
    Returns the scores (N,) float64."""
    import torch

    from bc_ros.core.data.store import EpisodeStore
    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.policy.runner import PolicyRunner, RunnerConfig

    if len(checkpoints) < 2:
        raise ValueError(f"an ensemble needs at least 2 checkpoints, got {checkpoints}")
    if not episodes:
        raise ValueError("no held-out episodes to score")
    runners = []
    for path in checkpoints:     # every member must fit the first one's inputs and outputs
        expect = None if not runners else {k: runners[0].policy.config.spec()[k] for k in
                                           ("cameras", "image_size", "state_dim", "action_names")}
        policy, _ = load_checkpoint(path, expect)
        runners.append(PolicyRunner(policy, RunnerConfig(low=list(low), high=list(high)),
                                    generator=torch.Generator().manual_seed(seed)))
    c = runners[0].policy.config
    scale = half_range_scale(low, high)
    store = EpisodeStore(dataset)
    known = {e["index"] for e in store.episodes}
    missing = sorted(set(episodes) - known)
    if missing:
        raise ValueError(f"episodes {missing} are not in {dataset}")
    scores: list[float] = []
    for index in episodes:
        data = store.read(index)
        for r in runners:
            r.reset()
        for t in range(len(data["action"])):
            obs = {"images": {cam: data[f"image_{cam}"][t] for cam in c.cameras},
                   "state": data["state"][t] if c.state_dim else None}
            score = observation_score([r.act(obs).raw for r in runners], scale)
            if score is not None:
                scores.append(score)
        if max_ticks and len(scores) >= max_ticks:
            break
    return np.asarray(scores, dtype=np.float64)
