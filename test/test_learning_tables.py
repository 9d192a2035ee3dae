"""benchmarks/learning_tables.py: rows taken from bench_learning JSONs as they are (never
evaluated again), in the order given, labelled, and written in sim_<task>.json's schema; a head
a JSON does not have is an error that lists what it has."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "learning_tables.py"


def learning_json(path, head, successes, **extra):
    result = {"head": head, "episodes": 100, "successes": successes,
              "success_rate": successes / 100, "ci95": [0.5, 0.9], "failures": {"timeout": 3},
              "modes_of_successes": {"left": 40, "right": successes - 40},
              "train_seconds": 600.0, "train_steps": 4000, **extra}
    path.write_text(json.dumps({"results": [result], "commands": {head: f"bench {head}"},
                                "curves": {head: [{"step": 2000, "successes": 9,
                                                   "episodes": 10}]}}))
    return path


def test_rows_keep_their_figures_order_and_labels(tmp_path):
    a = learning_json(tmp_path / "a.json", "mog", 97, n_action_steps=2, chunk_candidates=8)
    b = learning_json(tmp_path / "b.json", "cvae", 60)          # from before the fields existed
    out = subprocess.run([sys.executable, str(SCRIPT), "reach_around", f"{b}:cvae=cvae, old",
                          f"{a}:mog", "--write-sim", "--json-dir", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and "/100" in line]
    assert rows[0].startswith("| cvae, old | 60/100 |") and "| 8, 1 |" in rows[0]
    assert rows[1].startswith("| mog | 97/100 |") and "| 2, 8 |" in rows[1]
    sim = json.loads((tmp_path / "sim_reach.json").read_text())
    assert [(r["head"], r["successes"]) for r in sim["results"]] == [("cvae", 60), ("mog", 97)]
    assert sim["results"][1]["command"] == "bench mog" and sim["suite"] == "reach_around"


def test_a_head_the_json_lacks_is_named(tmp_path):
    a = learning_json(tmp_path / "a.json", "mog", 97)
    out = subprocess.run([sys.executable, str(SCRIPT), "bypass", f"{a}:ar"],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "has no result for head 'ar'" in out.stderr
    assert "['mog']" in out.stderr
