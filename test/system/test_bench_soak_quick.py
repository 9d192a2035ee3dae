"""benchmarks/bench_soak.py for 2 minutes: the DAgger recording graph as four processes, with
each fault kind (kill -9 and restart of the recorder and of the policy node, a silent camera,
bursts of bad camera and state messages, a CPU hog on the policy's core) injected at least once
on a seeded schedule. What a user checks after a soak: no command from a stale observation, none
non-finite, every node alive, no finished episode lost, and a stop command soon after each fault
that owes one."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_soak import FAULT_KINDS, fault_schedule  # noqa: E402


def test_the_quick_schedule_has_every_fault_kind_and_is_seeded():
    schedule = fault_schedule(0, 120.0, 6.0)
    assert {kind for _, kind in schedule} == set(FAULT_KINDS)
    assert schedule == fault_schedule(0, 120.0, 6.0) != fault_schedule(1, 120.0, 6.0)
    assert all(later[0] - earlier[0] >= 6.0 for earlier, later in zip(schedule, schedule[1:]))


def test_two_minute_soak_survives_every_fault(tmp_path):
    out = tmp_path / "soak.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_soak.py"), "--minutes", "2",
           "--gap", "6", "--seed", "0", "--work", str(tmp_path / "work"), "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(cmd, env=env, timeout=900, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    r = json.loads(out.read_text())

    assert {f["kind"] for f in r["faults"]} == set(FAULT_KINDS)
    assert r["stale_commands"] == 0, r["stale_stamps"]
    assert sum(r["nonfinite_commands"].values()) == 0
    assert all(r["alive_at_end"].values()), r["alive_at_end"]
    assert r["starts"]["policy"] >= 2 and r["starts"]["recorder"] >= 2    # the kills happened
    assert r["episodes"]["lost"] == []
    assert r["episodes"]["finished"] + r["episodes"]["salvaged"] >= 1
    for fault in r["faults"]:       # a silent camera and a dead policy owe a stop, in ticks
        if fault["bound_ticks"] is not None:
            assert fault["within_bound"], fault
    # the bursts reached the policy node, which refused them rather than acting on them
    assert r["policy_counts"]["bad_messages"] > 0
    assert r["policy_counts"]["commands"] > 0
