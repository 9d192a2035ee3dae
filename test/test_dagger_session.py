"""bc-ros dagger's config: each gating's options validated with the bad value shown, the training
of each round's members, and the command line (the rounds themselves run in
test/system/test_dagger_round.py)."""

import pytest

from bc_ros.cli import main
from bc_ros.sessions.dagger import DaggerRunConfig, member_config


def config(**kw):
    return DaggerRunConfig(**{"demos": "demos", "out": "run", **kw})


@pytest.mark.parametrize("kw, match", [
    (dict(gating="random"), "gating must be one of"),
    (dict(gating="uncertainty", ensemble_size=1, train={"episodes": [0]}),
     "ensemble of >= 2 policies, got self.ensemble_size=1"),
    (dict(gating="uncertainty"), "list the training demos in train.episodes"),
    (dict(gating="uncertainty", train={"episodes": [0, 1]}, calibration_episodes=[1, 2]),
     r"calibration_episodes \[1\] are also in train.episodes"),
    (dict(gating="uncertainty", train={"episodes": [0]}, target_request_rate=1.0),
     "target_request_rate=1.0"),
    (dict(gating="uncertainty", train={"episodes": [0]}, initial_checkpoint="a.pt"),
     "trains its ensemble in round 0"),
    (dict(gating="beta", context_ticks=3), "beta labels every tick"),
    (dict(gating="beta", human={"engage_lateral": 1.0}), "applies to human gating"),
    (dict(gating="human", human={"engage_lateral": 0.2}), "release band must lie inside"),
    (dict(gating="human", human={"engage_distance": 1.0}), "unknown HumanRule keys"),
    (dict(policy_backend="tensorrt"), "policy_backend must be one of"),
])
def test_each_gatings_options_are_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        config(**kw)


def test_members_differ_by_seed_and_label_only_the_experts_ticks_outside_beta():
    cfg = config(gating="uncertainty", ensemble_size=3, train={"episodes": [0], "seed": 5})
    values = [member_config(cfg, 2, m, ["run/dagger_data"]) for m in range(3)]
    assert [v["seed"] for v in values] == [5, 6, 7]
    assert [v["out"] for v in values] == ["run/round_2", "run/round_2/member_1",
                                          "run/round_2/member_2"]
    assert all(v["label_control"] == [0] and v["threads"] >= 1 for v in values)
    beta = member_config(config(), 1, 0, ["run/dagger_data"])
    assert "label_control" not in beta and beta["seed"] == 0 and config().members == 1


def test_fine_tuning_rounds_continue_each_member_from_the_running_policy():
    cfg = config(gating="uncertainty", ensemble_size=2, retrain="finetune",
                 train={"steps": 1000, "episodes": [0]})
    running = ["run/round_1/last.pt", "run/round_1/member_1/last.pt"]
    values = [member_config(cfg, 2, m, ["run/dagger_data"], running) for m in range(2)]
    assert [v["init_checkpoint"] for v in values] == running
    assert all(v["steps"] == 500 for v in values)            # half, unless finetune_steps
    tuned = member_config(config(retrain="finetune", finetune_steps=200), 1, 0, [], ["a.pt"])
    assert tuned["steps"] == 200 and tuned["init_checkpoint"] == "a.pt"
    assert "init_checkpoint" not in member_config(cfg, 2, 0, [])   # scratch: no start given
    with pytest.raises(ValueError, match="retrain must be scratch or finetune"):
        config(retrain="resume")


def test_calibration_episodes_from_the_command_line_are_indices():
    from bc_ros.cli import _config_from, build_parser
    args = build_parser().parse_args(["dagger", "--demos", "d", "--gating", "uncertainty",
                                      "--train", '{"episodes": [0, 1]}',
                                      "--calibration-episodes", "30", "31"])
    assert _config_from(args, DaggerRunConfig).calibration_episodes == [30, 31]
    with pytest.raises(ValueError, match="calibration_episodes must be episode indices"):
        config(gating="uncertainty", train={"episodes": [0]}, calibration_episodes=["[30,"])


def test_the_command_line_names_the_gating_and_refuses_bad_options(tmp_path, capsys):
    rc = main(["dagger", "--demos", str(tmp_path / "d"), "--gating", "uncertainty",
               "--ensemble-size", "1"])
    assert rc == 2 and "ensemble of >= 2 policies" in capsys.readouterr().err
    rc = main(["dagger", "--demos", str(tmp_path / "d"), "--gating", "human", "--human",
               '{"release_ticks": 0}'])
    assert rc == 2 and "release_ticks must be an integer >= 1" in capsys.readouterr().err


def test_list_options_arrive_as_numbers():
    from bc_ros.cli import _config_from, build_parser
    args = build_parser().parse_args(["dagger", "--demos", "d", "--gating", "uncertainty",
                                      "--calibration-episodes", "30", "31", "--train",
                                      '{"episodes": [0, 1]}'])
    assert _config_from(args, DaggerRunConfig).calibration_episodes == [30, 31]
