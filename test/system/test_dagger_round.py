"""One small DAgger round over ROS 2 in the drone sim per gating (beta, uncertainty, human): it
collects with the policy and the expert, stores the episode with who drove each tick, retrains and
hot-swaps the new checkpoint(s)."""

import json

import numpy as np
import pytest

pytest.importorskip("rclpy")

from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.sessions.dagger import DaggerRunConfig, run_dagger  # noqa: E402
from bc_ros.sessions.recording import record_with_expert  # noqa: E402

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


def control_of(store):
    return np.concatenate([store.read(e["index"])["control"] for e in store.episodes])


def test_an_uncertainty_round_requests_help_labels_only_the_expert_and_swaps_the_ensemble(
        tmp_path):
    """Two members trained in parallel on demo 0; the threshold calibrated on demo 1 (held
    out); the robot asks for help; only the expert's ticks become labels; the retrained pair is
    hot-swapped and the threshold recalibrated. The policy node runs on onnxruntime."""
    demos = str(tmp_path / "demos")
    record_with_expert("drone", "trail", 2, demos, image_size=(32, 32), rate_hz=1000.0,
                       quiet=True)
    cfg = DaggerRunConfig(robot="drone", task="trail", demos=demos, out=str(tmp_path / "run"),
                          rounds=1, episodes_per_round=1, eval_episodes=0,
                          train={**TINY, "episodes": [0]}, image_size=[32, 32],
                          gating="uncertainty", ensemble_size=2, target_request_rate=0.2,
                          calibration_ticks=100, agree_ticks=2, agree_tol=0.3,
                          policy_backend="onnxruntime")   # the members' scores too, and swaps
    messages = []
    summary = run_dagger(cfg, progress=messages.append)
    assert not any("keeping the previous policy" in m for m in messages)
    cal0, cal1 = summary["calibrations"]["0"], summary["calibrations"]["1"]
    assert cal0["ticks"] >= 100 and cal0["held_out_rate"] == pytest.approx(0.2, abs=0.01)
    one = summary["rounds"][1]
    assert one["mode"] == "uncertainty" and one["threshold"] == cal0["threshold"]
    assert one["requests_per_episode"] >= 1 and 0.0 < one["request_rate"] <= 1.0
    control = control_of(EpisodeStore(str(tmp_path / "run" / "dagger_data")))
    assert {0, 1} <= set(control.tolist())
    assert one["expert_labels_added"] == int((control == 0).sum())   # only the expert's ticks
    run = tmp_path / "run" / "round_1"
    assert summary["checkpoint"] == str(run / "last.pt")
    assert summary["ensemble"] == [str(run / "member_1" / "last.pt")]
    member = json.loads((run / "member_1" / "train_config.json").read_text())
    assert member["seed"] == 1 and member["label_control"] == [0]


def test_a_human_round_labels_the_simulated_humans_interventions(tmp_path):
    demos = str(tmp_path / "demos")
    record_with_expert("drone", "trail", 1, demos, image_size=(32, 32), rate_hz=1000.0,
                       quiet=True)
    rule = {"engage_lateral": 0.3, "engage_heading": 0.3, "release_lateral": 0.15,
            "release_heading": 0.15, "release_ticks": 2}
    cfg = DaggerRunConfig(robot="drone", task="trail", demos=demos, out=str(tmp_path / "run"),
                          rounds=1, episodes_per_round=1, eval_episodes=0, train=TINY,
                          image_size=[32, 32], gating="human", human=rule, context_ticks=2)
    messages = []
    summary = run_dagger(cfg, progress=messages.append)
    assert not any("keeping the previous policy" in m for m in messages)
    one = summary["rounds"][1]
    assert one["mode"] == "human" and one["interventions_per_episode"] >= 1
    assert one["requests_per_episode"] == 0 and one["threshold"] is None
    data = EpisodeStore(str(tmp_path / "run" / "dagger_data"))
    control = control_of(data)
    assert {0, 1} <= set(control.tolist())          # the human and the policy both drove
    from bc_ros.core.data.control import context_from_control
    kept = (control == 0) | context_from_control(control, 2)
    assert one["expert_labels_added"] == int(kept.sum()) > int((control == 0).sum())
    trained = json.loads((tmp_path / "run" / "round_1" / "train_config.json").read_text())
    assert trained["label_control"] == [0] and trained["label_context_ticks"] == 2
    assert summary["checkpoint"].endswith("round_1/last.pt")
