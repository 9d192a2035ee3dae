"""Calibration scores replay held-out episodes through the ensemble as the policy node scores
live observations. The policies answer constant actions (last layer zeroed, the normalizer's offset
set), so the expected score is known exactly."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bc_ros.core.dagger.calibration import ensemble_scores  # noqa: E402
from bc_ros.core.dagger.uncertainty import calibrate_threshold, request_rate  # noqa: E402
from bc_ros.core.data.recording import RecorderConfig  # noqa: E402
from bc_ros.core.data.stats import feature_stats  # noqa: E402
from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.core.policy.checkpoint import save_checkpoint  # noqa: E402
from bc_ros.core.policy.encoders import EncoderConfig  # noqa: E402
from bc_ros.core.policy.policy import Policy, PolicyConfig  # noqa: E402

LOW, HIGH = [-1.0, -1.5, -1.0, -1.5], [3.0, 1.5, 1.0, 1.5]
SMALL = EncoderConfig(channels=(8,), keypoints=4, view_dim=8, state_dim_out=8, embed_dim=16)


def constant_policy(path, action, image_size=(8, 6)):
    cfg = PolicyConfig(head="gaussian", head_options={"hidden": 8}, encoder=SMALL,
                       cameras=["center"], image_size=image_size, state_dim=8,
                       state_names=[f"odometry_{i}" for i in range(8)],
                       action_names=["vx", "vy", "vz", "yaw_rate"], command_type="twist_stamped",
                       robot="drone")
    policy = Policy(cfg)
    rng = np.random.default_rng(0)
    policy.normalizer.fit({"state": feature_stats(rng.normal(size=(50, 8))),
                           "action": feature_stats(rng.normal(size=(50, 4)))})
    policy.normalizer.action_scale.fill_(1.0)
    policy.normalizer.action_offset.copy_(torch.tensor(action, dtype=torch.float32))
    last = [m for m in policy.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    save_checkpoint(policy, str(path))
    return str(path)


def store_with(root, lengths):
    cfg = RecorderConfig(dataset=str(root), image_width=8, image_height=6, state_dim=8,
                         record_executed=False)
    store = EpisodeStore(cfg.dataset, cfg.features(), info=cfg.dataset_info())
    n = len(cfg.streams)
    for length in lengths:
        w = store.begin({"task": "trail"})
        for t in range(length):
            row = {f"image_{c}": np.full((6, 8, 3), 10 * t, np.uint8) for c in cfg.cameras}
            row.update(state=np.full(8, t, np.float32), action=np.zeros(4, np.float32),
                       time=t * 0.1, stamps=np.zeros(n), skew=np.zeros(n, np.float32),
                       flags=np.zeros(n, np.uint8))
            w.append(row)
        w.finish(success=True)
    return str(root)


def test_scores_are_the_members_disagreement_at_every_tick_of_whole_episodes(tmp_path):
    members = [constant_policy(tmp_path / "a.pt", [1.0, 0.0, 0.0, 0.0]),
               constant_policy(tmp_path / "b.pt", [1.0, 0.0, 0.0, 0.0]),
               constant_policy(tmp_path / "c.pt", [1.0, 0.0, 0.0, 0.6])]
    data = store_with(tmp_path / "held_out", [4, 3, 5])
    scores = ensemble_scores(members, data, [0, 1, 2], LOW, HIGH)
    expected = np.std([0.0, 0.0, 0.6]) / ((HIGH[3] - LOW[3]) / 2) / 4   # the node's formula
    assert scores.shape == (12,) and scores == pytest.approx(expected, rel=1e-5)
    # max_ticks stops after the episode that reaches it (whole episodes: history stays right)
    assert len(ensemble_scores(members, data, [2, 0, 1], LOW, HIGH, max_ticks=6)) == 9


def test_bad_ensembles_and_episodes_are_refused(tmp_path):
    a = constant_policy(tmp_path / "a.pt", [0.0] * 4)
    data = store_with(tmp_path / "held_out", [3])
    with pytest.raises(ValueError, match="at least 2 checkpoints"):
        ensemble_scores([a], data, [0], LOW, HIGH)
    with pytest.raises(ValueError, match=r"episodes \[7\] are not in"):
        ensemble_scores([a, a], data, [0, 7], LOW, HIGH)
    other = constant_policy(tmp_path / "big.pt", [0.0] * 4, image_size=(16, 12))
    with pytest.raises(Exception, match="image_size"):
        ensemble_scores([a, other], data, [0], LOW, HIGH)


def test_a_threshold_calibrated_on_held_out_scores_hits_its_target_there():
    rng = np.random.default_rng(3)
    held_out = rng.gamma(2.0, 0.05, size=3000)      # skewed, like disagreement scores
    for target in (0.02, 0.1, 0.3):
        assert request_rate(held_out, calibrate_threshold(held_out, target)) == \
            pytest.approx(target, abs=1 / 3000)
