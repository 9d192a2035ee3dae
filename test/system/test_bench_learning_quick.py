"""benchmarks/bench_learning.py --quick: demonstrations recorded over ROS 2, a head trained with
the task's preset, its kept checkpoints evaluated into a curve, and the figures written."""

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
    assert [point["step"] for point in figures["curves"]["mog"]] == [15, 30]
    assert (tmp_path / "figures" / "learning_reach_around.png").exists()
