"""One small DAgger round over ROS 2 in the drone sim: it collects with the policy and the expert
mixed, stores the episode with who drove each tick, retrains and hot-swaps the new checkpoint."""

import json

import pytest

pytest.importorskip("rclpy")

from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.dagger_session import DaggerRunConfig, run_dagger  # noqa: E402
from bc_ros.recording_session import record_with_expert  # noqa: E402

pytestmark = pytest.mark.slow

TINY = {"steps": 3, "batch_size": 8, "val_every": 3, "save_every": 3, "cameras": ["center"],
        "use_state": False, "threads": 1,
        "encoder": {"channels": [8], "keypoints": 4, "view_dim": 8, "embed_dim": 16}}


def test_a_round_adds_labelled_episodes_and_hot_swaps(tmp_path):
    demos = str(tmp_path / "demos")
    record_with_expert("drone", "trail", 1, demos, image_size=(32, 32), rate_hz=1000.0,
                       quiet=True)
    cfg = DaggerRunConfig(robot="drone", task="trail", demos=demos, out=str(tmp_path / "run"),
                          rounds=1, episodes_per_round=1, beta=0.5, eval_episodes=0,
                          train=TINY, image_size=[32, 32])
    messages = []
    summary = run_dagger(cfg, progress=messages.append)
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
    one = summary["rounds"][1]
    assert one["episodes"] == 1 and one["beta"] == 0.5
    assert 0.2 < one["autonomous_fraction"] < 0.8          # beta 0.5: both drove
    data = EpisodeStore(str(tmp_path / "run" / "dagger_data"))
    (episode,) = data.episodes
    assert episode["source"] == "dagger" and episode["round"] == 1
    assert one["expert_labels_added"] == episode["length"]  # beta: every tick is labelled
    control = data.read(0)["control"]
    assert set(control.tolist()) <= {0, 1} and 0 in control and 1 in control
    assert summary["checkpoint"].endswith("round_1/last.pt")  # swapped in
    assert not any("keeping the previous policy" in m for m in messages)
    logged = json.loads((tmp_path / "run" / "rounds.json").read_text())
    assert len(logged["rounds"]) == 2
    assert (tmp_path / "run" / "dagger.png").exists()
