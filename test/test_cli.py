"""The bc-ros commands a user types for training: train -> eval -> export, and their errors."""

import json

import pytest

from bc_ros.cli import main
from test.core.data.test_dataset import make_dataset


def test_train_eval_export_on_a_tiny_dataset(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", lengths=(12, 12, 12))
    run = tmp_path / "run"
    rc = main(["train", "--dataset", data, "--out", str(run), "--steps", "4", "--val-every", "2",
               "--batch-size", "4", "--cameras", "center", "--no-use-state", "--no-progress",
               "--encoder", '{"channels": [8], "keypoints": 4, "embed_dim": 16}',
               "--head", "mog", "--head-options", '{"num_modes": 2, "hidden": 16}'])
    assert rc == 0 and (run / "last.pt").exists()
    assert "trained mog for 4 steps" in capsys.readouterr().out
    # the toy dataset is 8x6 images of a made-up robot: eval needs a sim of the same image size
    rc = main(["eval", "--checkpoint", str(run / "last.pt"), "--sim", "drone", "--task", "trail",
               "--episodes", "1", "--quiet"])
    assert rc == 2 and "does not fit the drone sim" in capsys.readouterr().err
    # run-time options: more actions per chunk than a chunk has is refused before running
    rc = main(["eval", "--checkpoint", str(run / "last.pt"), "--sim", "drone", "--task", "trail",
               "--episodes", "1", "--quiet", "--n-action-steps", "2"])
    assert rc == 2 and "n_action_steps must be 1..1 (the chunk)" in capsys.readouterr().err
    rc = main(["export", "--checkpoint", str(run / "last.pt"), "--json", str(tmp_path / "p.json")])
    report = json.loads((tmp_path / "p.json").read_text())
    assert rc == 0 and report["ok"] and report["max_abs_diff"] < 1e-4
    assert (run / "last.onnx").exists()


def test_train_refuses_unknown_options_and_missing_data(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 2
    assert "error:" in capsys.readouterr().err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: d\nout: o\nstepz: 3\n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "unknown TrainConfig keys ['stepz']" in capsys.readouterr().err


def test_eval_of_a_missing_checkpoint_says_so(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_preset_gives_the_task_recipe_under_the_options(tmp_path, capsys):
    data = make_dataset(tmp_path / "d", lengths=(20, 20, 20))
    run = tmp_path / "run"
    rc = main(["train", "--preset", "reach_around", "--head", "mog", "--dataset", data,
               "--out", str(run), "--steps", "3", "--val-every", "3", "--batch-size", "4",
               "--no-progress", "--head-options", '{"num_modes": 2, "hidden": 16}',
               "--encoder", '{"channels": [8], "keypoints": 4, "embed_dim": 16}'])
    assert rc == 0, capsys.readouterr().err
    config = json.loads((run / "train.json").read_text())["config"]
    # from the preset: chunks of 16 (2 executed, 8 coherent candidates) on 2 frames of
    # history, EMA; the checkpoint carries the run-time part
    assert (config["horizon"], config["n_action_steps"], config["n_obs_steps"]) == (16, 2, 2)
    assert config["chunk_candidates"] == 8 and config["ema"] is True
    from bc_ros.core.policy.checkpoint import load_checkpoint
    policy, _ = load_checkpoint(str(run / "last.pt"))
    assert (policy.config.n_action_steps, policy.config.chunk_candidates) == (2, 8)
    # from the command line, over the preset
    assert config["steps"] == 3 and config["head_options"] == {"num_modes": 2, "hidden": 16}
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--preset", "no_such_task", "--dataset", data, "--out", str(run)])
    assert exit_.value.code == 2 and "invalid choice: 'no_such_task'" in capsys.readouterr().err
