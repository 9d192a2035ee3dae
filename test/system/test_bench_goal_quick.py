"""benchmarks/bench_goal.py --quick: play and goal-labelled demonstrations recorded over ROS 2
(the recorder storing goal and achieved_goal), the three goal-conditioning recipes trained, and
each evaluated on held-out goals into the figures' JSON."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_quick_goal_benchmark_trains_and_evaluates_the_three_recipes(tmp_path):
    out = tmp_path / "goal.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_goal.py"), "--quick",
           "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs"),
           "--json", str(out)]
    env = {**os.environ, "BC_ROS_BENCH_DOMAIN": os.environ.get("ROS_DOMAIN_ID", "0")}
    done = subprocess.run(cmd, env=env, timeout=900, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    rows = {r["label"]: r for r in figures["results"]}
    assert set(rows) == {"play, relabeled in hindsight", "demos, recorded goal",
                         "demos, no goal"}
    assert [rows[k]["goal"] for k in sorted(rows)] == ["", "recorded", "hindsight"]
    for r in rows.values():
        assert r["episodes"] == 2 and r["task"] == "reach_goal"
        assert r["mean_final_distance"] >= 0 and r["train_steps"] == 20
