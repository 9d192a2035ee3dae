"""bc-ros dataset info / audit on a small synthetic dataset."""

import json


from bc_ros.cli import main
from bc_ros.core.data.tools import audit_dataset, dataset_info
from test.core.data.test_dataset import make_dataset


def test_info_counts_episodes_frames_and_tasks(tmp_path):
    root = make_dataset(tmp_path / "d")
    info = dataset_info(root)
    assert (info["episodes"], info["frames"], info["successes"]) == (2, 12, 2)
    assert info["tasks"] == {"trail": 2} and info["cameras"] == ["left", "center", "right"]


def test_audit_passes_a_clean_dataset_and_flags_a_bad_one(tmp_path, capsys):
    clean = make_dataset(tmp_path / "clean")
    assert audit_dataset(clean)["ok"]
    assert main(["dataset", "audit", clean]) == 0
    bad = make_dataset(tmp_path / "bad", flag_tick=(1, 3))
    report = audit_dataset(bad)
    assert not report["ok"] and "action: 14 % of ticks flagged" in report["flagged_episodes"][1]
    assert report["streams"]["action"]["missing"] == 1
    out = tmp_path / "audit.json"
    assert main(["dataset", "audit", bad, "--json", str(out)]) == 1
    assert json.loads(out.read_text())["flagged_episodes"]["1"]
    assert "episodes flagged" in capsys.readouterr().out


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["dataset", "info", str(tmp_path / "nothing")]) == 2
    assert "meta.json missing" in capsys.readouterr().err


def test_view_writes_a_contact_sheet(tmp_path):
    import cv2

    root = make_dataset(tmp_path / "d")
    out = tmp_path / "sheet.png"
    assert main(["dataset", "view", root, "--episode", "1", "--out", str(out)]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 6 * 2, 6 * 8 * 2, 3)  # 7 ticks in rows of 6, 2x scale
    assert main(["dataset", "view", root, "--episode", "9"]) == 2


def test_export_command_writes_a_lerobot_dataset(tmp_path, capsys):
    root = make_dataset(tmp_path / "d")
    out = tmp_path / "lerobot"
    assert main(["dataset", "export", root, "--format", "lerobot", "--out", str(out)]) == 0
    assert (out / "meta" / "info.json").exists()
    assert "exported 2 episodes, 12 frames" in capsys.readouterr().out
    assert main(["dataset", "export", root, "--out", str(out)]) == 2  # exists, no --overwrite
