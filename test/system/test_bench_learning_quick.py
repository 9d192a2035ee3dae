"""benchmarks/bench_learning.py --quick: demonstrations recorded over ROS 2 (clean and
noise-injected), a head trained with the task's preset, its kept checkpoints evaluated into a
curve, and the figures written; a finished run is evaluated again with other inference options
but never trained over with another config."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_quick_learning_curve_writes_the_curve_and_the_result(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_learning.py"), "reach_around",
           "--quick", "--heads", "mog", "--data", str(tmp_path / "data"),
           "--runs", str(tmp_path / "runs"), "--json-dir", str(tmp_path / "figures")]
    env = {**os.environ, "BC_ROS_BENCH_DOMAIN": os.environ.get("ROS_DOMAIN_ID", "0")}
    subprocess.run(cmd, check=True, env=env, timeout=600, capture_output=True)
    figures = json.loads((tmp_path / "figures" / "learning_reach_around.json").read_text())
    (result,) = figures["results"]
    assert result["head"] == "mog" and result["episodes"] == 2 and result["demos"] == 6
    assert figures["noise_demos"] == 2 and result["noise_demos"] == 2
    assert (result["n_action_steps"], result["chunk_candidates"]) == (2, 8)   # the preset's
    assert [point["step"] for point in figures["curves"]["mog"]] == [15, 30]
    assert (tmp_path / "figures" / "learning_reach_around.png").exists()
    last = tmp_path / "runs" / "learn_reach_around_mog" / "last.pt"
    trained = last.stat().st_mtime_ns

    again = subprocess.run(cmd + ["--eval-set", "n_action_steps=8", "--eval-tag", "_n8"],
                           env=env, timeout=600, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    other = json.loads((tmp_path / "figures" / "learning_reach_around_n8.json").read_text())
    assert other["results"][0]["n_action_steps"] == 8
    refused = subprocess.run(cmd + ["--set", "lr=0.5"], env=env, timeout=600,
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "trained with another config (lr)" in refused.stderr
    assert last.stat().st_mtime_ns == trained       # evaluated again, never trained over
