"""Training-time dataset: windows and masks, side-camera samples, split by episode."""

import math

import numpy as np
import pytest

from bc_ros.core.data.augment import TURN_LEFT, TURN_RIGHT, SideCameraConfig
from bc_ros.core.data.dataset import EpisodeDataset, split_episodes
from bc_ros.core.data.recording import MISSING, RecorderConfig
from bc_ros.core.data.store import EpisodeStore


def make_dataset(root, lengths=(5, 7), flag_tick=None, goals=False):
    """Two episodes; with ``goals`` the goal streams too: goal (e, 0, 0), achieved_goal (e, t,
    0), so a goal says which tick it was taken at."""
    cfg = RecorderConfig(dataset=str(root), image_width=8, image_height=6, state_dim=2,
                         record_executed=False, goal_topic="goal" if goals else "",
                         achieved_goal_topic="achieved_goal" if goals else "")
    store = EpisodeStore(str(root), cfg.features(), info=cfg.dataset_info())
    n_streams = len(cfg.streams)
    for e, n in enumerate(lengths):
        w = store.begin({"task": "trail"})
        for t in range(n):
            flags = np.zeros(n_streams, np.uint8)
            if flag_tick == (e, t):
                flags[cfg.streams.index("action")] = MISSING
            row = {f"image_{c}": np.full((6, 8, 3), 10 * i + t, np.uint8)
                   for i, c in enumerate(cfg.cameras)}
            row.update(state=np.array([e, t], np.float32),
                       action=np.array([1.0, 0.0, 0.0, 0.01 * t], np.float32),
                       time=t * 0.1, stamps=np.zeros(n_streams), skew=np.zeros(n_streams,
                                                                                 np.float32),
                       flags=flags)
            if goals:
                row.update(goal=np.array([e, 0, 0], np.float32),
                           achieved_goal=np.array([e, t, 0], np.float32))
            w.append(row)
        w.finish(success=True)
    return str(root)


def test_windows_are_padded_at_episode_ends_with_masks(tmp_path):
    ds = EpisodeDataset(make_dataset(tmp_path / "d"), n_obs_steps=2, horizon=3)
    assert len(ds) == 12
    first = ds[0]
    assert first["images"].shape == (2, 3, 3, 6, 8)  # (T, views, C, H, W)
    assert first["obs_mask"].tolist() == [False, True]
    assert first["state"][:, 1].tolist() == [0, 0]   # padded by repeating the first tick
    last = ds[4]                                      # tick 4 of a 5-tick episode
    assert last["action_mask"].tolist() == [True, False, False]
    np.testing.assert_allclose(last["action"][:, 3], [0.04, 0.04, 0.04])
    assert ds[5]["episode"] == 1 and ds[5]["t"] == 0  # never a window across episodes


def test_flagged_ticks_are_not_sample_centres(tmp_path):
    ds = EpisodeDataset(make_dataset(tmp_path / "d", flag_tick=(0, 2)))
    assert len(ds) == 11 and (0, 2, -1) not in ds.samples


def test_side_cameras_become_samples_with_steer_back_labels(tmp_path):
    ds = EpisodeDataset(make_dataset(tmp_path / "d"),
                        side_camera=SideCameraConfig(mode="continuous", horizon=2.0))
    assert len(ds) == 12 * 3
    by_view = {ds[i]["view"]: ds[i] for i in range(3)}     # tick 0 of episode 0, each camera
    left, center, right = by_view[0], by_view[1], by_view[2]
    assert left["images"].shape == (1, 1, 3, 6, 8) and left["images"].max() == 0
    assert right["images"].max() == 20                     # the right camera's frame
    assert center["action"][0, 3] == pytest.approx(0.0)
    assert left["action"][0, 3] == pytest.approx(-math.radians(30) / 2.0)  # turn right
    assert right["action"][0, 3] == pytest.approx(math.radians(30) / 2.0)
    assert left["label"] == TURN_RIGHT and right["label"] == TURN_LEFT
    stats = ds.stats()
    assert stats["action"]["min"][3] < -0.2 and stats["action"]["max"][3] > 0.2


def test_split_is_by_episode_reproducible_and_disjoint():
    train, val = split_episodes(range(10), 0.2, seed=3)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == list(range(10))
    assert split_episodes(range(10), 0.2, seed=3) == (train, val)


def test_torch_loader_batches_the_samples(tmp_path):
    torch = pytest.importorskip("torch")
    ds = EpisodeDataset(make_dataset(tmp_path / "d"), n_obs_steps=2, horizon=4)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=5, shuffle=False)))
    assert batch["images"].shape == (5, 2, 3, 3, 6, 8) and batch["images"].dtype == torch.uint8
    assert batch["action"].shape == (5, 4, 4) and batch["action_mask"].dtype == torch.bool


def test_selecting_unknown_cameras_or_no_episodes_is_explained(tmp_path):
    root = make_dataset(tmp_path / "d")
    with pytest.raises(ValueError, match="cameras \\['top'\\] are not in the dataset"):
        EpisodeDataset(root, cameras=["top"])
    with pytest.raises(ValueError, match="no episodes selected"):
        EpisodeDataset(root, episodes=[99])


@pytest.mark.parametrize("strategy", ["final", "future"])
def test_hindsight_goals_are_states_reached_later_in_the_same_episode(tmp_path, strategy):
    ds = EpisodeDataset(make_dataset(tmp_path / "d"), goal_state_indices=[1],
                        goal_strategy=strategy, seed=4)
    for i in range(len(ds)):
        s = ds[i]
        n = 5 if s["episode"] == 0 else 7
        goal_t = s["goal"][0]               # state[1] is the tick index
        assert s["t"] <= goal_t <= n - 1
        if strategy == "final":
            assert goal_t == n - 1
    assert ds[3]["goal"].tolist() == ds[3]["goal"].tolist()  # reproducible per sample
    if strategy == "future":
        assert len({float(ds[0]["goal"][0])} | {float(ds[1]["goal"][0])} |
                   {float(ds[5 + k]["goal"][0]) for k in range(5)}) > 1


@pytest.mark.parametrize("k", [0, 2])
def test_hindsight_goals_from_the_achieved_goal_stream_within_k_ticks(tmp_path, k):
    ds = EpisodeDataset(make_dataset(tmp_path / "d", goals=True), goal="hindsight",
                        goal_strategy="future", goal_future_ticks=k, seed=1)
    assert ds.goal_dim == 3
    reached = []
    for i in range(len(ds)):
        s = ds[i]
        n = 5 if s["episode"] == 0 else 7
        goal_t = s["goal"][1]               # achieved_goal[1] is the tick index
        assert s["goal"][0] == s["episode"] and s["t"] <= goal_t <= n - 1
        if k:
            assert goal_t <= s["t"] + k
        reached.append(goal_t - s["t"])
    assert max(reached) > 0                 # later ticks, not only the sample's own
    stats = ds.stats()["goal"]              # the normalizer's: over the goal source
    assert np.asarray(stats["mean"]).shape == (3,)


def test_recorded_goals_are_the_goal_stream_at_the_tick(tmp_path):
    ds = EpisodeDataset(make_dataset(tmp_path / "d", goals=True), goal="recorded")
    for i in (0, 6):
        s = ds[i]
        assert s["goal"].tolist() == [s["episode"], 0, 0]
    batch = ds[[0, 6]]
    assert batch["goal"][:, 0].tolist() == [0, 1]


def test_goals_from_a_stream_that_was_not_recorded_are_refused(tmp_path):
    root = make_dataset(tmp_path / "d")
    with pytest.raises(ValueError, match="achieved_goal stream .*achieved_goal_topic"):
        EpisodeDataset(root, goal="hindsight")
    with pytest.raises(ValueError, match="goal stream .*goal_topic"):
        EpisodeDataset(root, goal="recorded")
    with pytest.raises(ValueError, match="goal must be one of"):
        EpisodeDataset(root, goal="later")
    with pytest.raises(ValueError, match="goal_future_ticks"):
        EpisodeDataset(root, goal="hindsight", goal_future_ticks=-1)


@pytest.mark.parametrize("mode", ["off", "continuous"])
def test_batched_indexing_equals_one_by_one(tmp_path, mode):
    ds = EpisodeDataset(make_dataset(tmp_path / "d"), n_obs_steps=2, horizon=3,
                        side_camera=SideCameraConfig(mode=mode), goal_state_indices=[1],
                        goal_strategy="future")
    idx = [0, 5, len(ds) - 1, 3]
    batch = ds[idx]
    for b, i in enumerate(idx):
        one = ds[i]
        for key in ("images", "state", "obs_mask", "action", "action_mask", "goal"):
            np.testing.assert_allclose(batch[key][b], one[key], err_msg=key, rtol=1e-6)
        assert batch["label"][b] == one["label"] and batch["episode"][b] == one["episode"]


def test_dagger_data_keeps_only_the_ticks_the_expert_labelled(tmp_path):
    cfg = RecorderConfig(dataset=str(tmp_path / "d"), image_width=8, image_height=6, state_dim=2,
                         record_executed=False, record_control=True)
    store = EpisodeStore(cfg.dataset, cfg.features(), info=cfg.dataset_info())
    n_streams = len(cfg.streams)
    control = [1, 1, 0, 0, 0, 2, 1, 1]          # policy, expert takeover, hold, policy again
    w = store.begin({"task": "trail"})
    for t, c in enumerate(control):
        row = {f"image_{cam}": np.zeros((6, 8, 3), np.uint8) for cam in cfg.cameras}
        row.update(state=np.array([0, t], np.float32), action=np.zeros(4, np.float32),
                   time=t * 0.1, stamps=np.zeros(n_streams), skew=np.zeros(n_streams, np.float32),
                   flags=np.zeros(n_streams, np.uint8), control=c)
        w.append(row)
    w.finish(success=True)
    ds = EpisodeDataset(cfg.dataset, label_control=[0])
    assert [ds[i]["t"] for i in range(len(ds))] == [2, 3, 4]
    assert len(EpisodeDataset(cfg.dataset)) == 8
    # with a context window of 1 (and 5: clipped at the episode start), the ticks before the
    # takeover too
    assert [ds_t["t"] for ds_t in EpisodeDataset(cfg.dataset, label_control=[0],
                                                 label_context_ticks=1)] == [1, 2, 3, 4]
    assert len(EpisodeDataset(cfg.dataset, label_control=[0], label_context_ticks=5)) == 5
    with pytest.raises(ValueError, match="label_context_ticks=2 needs label_control"):
        EpisodeDataset(cfg.dataset, label_context_ticks=2)
    with pytest.raises(ValueError, match="needs a dataset recorded with record_control"):
        EpisodeDataset(make_dataset(tmp_path / "plain"), label_control=[0])


def test_concatenated_datasets_batch_in_the_order_asked(tmp_path):
    from bc_ros.core.data.dataset import ConcatEpisodes
    a = EpisodeDataset(make_dataset(tmp_path / "a", lengths=(5,)))
    b = EpisodeDataset(make_dataset(tmp_path / "b", lengths=(7,)))
    both = ConcatEpisodes([a, b])
    assert len(both) == 12
    batch = both.get_batch([11, 0, 6, 4])
    assert batch["t"].tolist() == [6, 0, 1, 4]
    np.testing.assert_array_equal(batch["images"][0], b.get_batch([6])["images"][0])
    assert int(both.stats()["action"]["count"]) == 12
    other = EpisodeDataset(make_dataset(tmp_path / "c", lengths=(5,)), n_obs_steps=2)
    with pytest.raises(ValueError, match="does not match"):
        ConcatEpisodes([a, other])
