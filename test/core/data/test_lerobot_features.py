"""What an export holds, under which names, as ``lerobot.py`` tells it before writing anything
(benchmarks/check_lerobot_load.py states its expectations with these): the same as the export."""

import json
import os

from bc_ros.core.data.lerobot import (episode_task, export_lerobot, exported_episodes,
                                      lerobot_features, video_key)
from bc_ros.core.data.store import EpisodeStore
from test.core.data.test_lerobot import make_store


def test_features_names_and_episodes_are_the_exported_ones(tmp_path):
    root = make_store(tmp_path / "src", tasks=("go left", ""))
    store = EpisodeStore(root)
    store.meta["episodes"].append({"index": 9, "length": 0, "task": "empty"})  # empty: left out
    summary = export_lerobot(root, str(tmp_path / "out"))
    with open(os.path.join(summary["out"], "meta/info.json")) as f:
        info = json.load(f)

    features = lerobot_features(store)
    assert list(features) == list(info["features"])
    for key, ft in info["features"].items():
        assert features[key] == (dict(ft, info=None) if ft["dtype"] == "video" else ft), key
    assert [video_key(c) for c in summary["cameras"]] == [
        k for k, ft in info["features"].items() if ft["dtype"] == "video"]

    episodes = exported_episodes(store.episodes)
    assert [e["index"] for e in episodes] == [0, 1]
    assert [episode_task(e) for e in episodes] == summary["tasks"] == ["go left", "default task"]
