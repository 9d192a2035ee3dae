"""`bc-ros demo --quick`: every stage of the main job runs and leaves its artefacts, and the
report's numbers are the JSON figures'."""

import json

import pytest

pytest.importorskip("rclpy")

from bc_ros.sessions.demo import STAGES, run_demo  # noqa: E402

pytestmark = pytest.mark.slow


def test_quick_demo_runs_every_stage_and_reports_the_json_figures(tmp_path, capsys):
    out = tmp_path / "results"
    assert run_demo(str(out), quick=True) == 0
    for stage in STAGES:
        assert (out / f"{stage}.json").exists(), stage
    for name in ("report.md", "results.json", "trail.png", "heads.png",
                 "runs/dagger/dagger.png", "runs/dagger/rounds.json"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()
    assert "QUICK RUN" in report
    for r in results["trail"]["results"] + results["heads"]["results"]:
        assert f"| {r['label']} | {r['successes']}/{r['episodes']} |" in report
    for row in results["latency"]["rows"]:
        assert f"| {row['head']} | {row['median_ms']:.2f} |" in report
        assert f"| {row['onnxruntime_median_ms']:.2f} |" in report   # the node's fast backend
    assert [m["round"] for m in results["dagger"]["rounds"]] == [0, 1]
    # a second run reuses every stage
    capsys.readouterr()
    assert run_demo(str(out), quick=True) == 0
    assert capsys.readouterr().out.count("(reused)") == len(STAGES)
