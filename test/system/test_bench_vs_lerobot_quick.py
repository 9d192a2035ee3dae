"""benchmarks/bench_vs_lerobot.py: without a Python that has LeRobot it says how to set one up
(exit 2); with one (BC_ROS_LEROBOT_PYTHON, else /work/lerobot_env/bin/python), ``--quick`` runs
every path: demonstrations recorded over ROS 2 and exported, LeRobot's diffusion and ACT trained
by LeRobot's entry point beside bc_ros's diffusion and cvae on the same episodes for the same
budget, all four evaluated by one loop, latency measured on each side, table and JSON written."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_vs_lerobot.py"


def lerobot_python():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_vs_lerobot import find_lerobot_python
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return find_lerobot_python()


def test_without_lerobot_it_prints_the_set_up_and_exits_2(tmp_path):
    # this project's Python (3.11 here, no LeRobot) is not one to use
    env = {**os.environ, "BC_ROS_LEROBOT_PYTHON": sys.executable}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--work", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "no Python with LeRobot found" in proc.stderr
    assert "pip install 'lerobot[training,diffusion]==0.6.1'" in proc.stderr
    assert not list(tmp_path.iterdir())          # nothing exported or trained


@pytest.mark.slow
def test_quick_runs_every_path_on_both_sides(tmp_path):
    pytest.importorskip("rclpy")                 # the demonstrations are recorded over ROS 2
    python, found = lerobot_python()
    if python is None:
        pytest.skip(f"no Python >= 3.12 with LeRobot ({found}); set BC_ROS_LEROBOT_PYTHON")
    out = tmp_path / "vs.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--lerobot-python", python, "--data",
           str(tmp_path / "data"), "--work", str(tmp_path / "work"), "--json", str(out)]
    env = {**os.environ, "BC_ROS_BENCH_DOMAIN": os.environ.get("ROS_DOMAIN_ID", "0")}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    rows = {r["policy"]: r for r in figures["rows"]}
    assert sorted(rows) == ["bc_ros:cvae", "bc_ros:diffusion", "lerobot:act",
                            "lerobot:diffusion"]
    assert figures["lerobot"] == found
    for name, r in rows.items():
        assert r["task"] == "reach_around" and r["episodes"] == 2, name
        assert r["training"]["probe"]["steps"] == 4, name      # steps from the budget's probe
        assert r["train_steps"] >= 1 and r["samples_per_s"] > 0, name
        assert r["training"]["key"]["episodes"] == 4, name     # 3 + 1 noise-injected, both sides
        assert r["latency"]["ticks"]["n"] == 100 and r["latency"]["model"]["n"] >= 1, name
        assert r["latency"]["threads"] == 1, name
    lerobot = rows["lerobot:diffusion"]["training"]
    assert "--policy.pretrained_backbone_weights=null" in lerobot["argv"]
    assert lerobot["lerobot"] == found
    assert tuple(map(int, lerobot["python"].split(".")[:2])) >= (3, 12)
    assert rows["bc_ros:cvae"]["batch_size"] == 64 and rows["lerobot:act"]["batch_size"] == 8
    assert all(f"| reach_around | {name} |" in figures["table"] for name in rows)
    assert len(figures["ratios"]) == 4
