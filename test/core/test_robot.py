"""Robot profiles: the shipped ones load, every mistake names the file and the field."""

import pytest
import yaml

from bc_ros.core.data.recording import RecorderConfig
from bc_ros.core.robot import (NODE_FIELDS, ProfileError, find_profile, load_profile,
                               profile_from_dict, shipped_profiles)
from bc_ros.core.sim import make_env

ROVER = {"name": "rover",
         "cameras": [{"name": "front", "transport": "compressed", "width": 64, "height": 48}],
         "state": {"type": "joint_state", "joints": ["left_wheel", "right_wheel"]},
         "command": {"type": "twist_stamped", "topic": "/cmd_vel", "actions": ["vx", "yaw_rate"],
                     "low": [-0.5, -1.0], "high": [0.5, 1.0]}}


@pytest.mark.parametrize("robot,task", [("drone", "trail"), ("arm", "reach_around")])
def test_the_shipped_profiles_describe_the_sims(robot, task):
    assert {"drone", "arm"} <= set(shipped_profiles())
    p = load_profile(robot)
    with make_env(robot, task) as env:
        env.reset(0)
        assert p.camera_names == [c.name for c in env.camera_specs()]
        assert p.command.actions == list(env.action_names)
        assert p.command.low == pytest.approx(list(env.action_low))
        assert p.command.high == pytest.approx(list(env.action_high))
        assert p.control_rate_hz == pytest.approx(1 / env.control_dt)
        if robot == "arm":
            assert p.state.joints == list(env.joint_state()["name"])
    assert set(p.node_fields()) == set(NODE_FIELDS)


def test_a_profile_is_found_by_path_and_its_fields_reach_the_nodes(tmp_path):
    path = tmp_path / "rover.yaml"
    path.write_text(yaml.safe_dump(ROVER))
    p = load_profile(str(path))
    assert find_profile(str(path)) == str(path) and p.source == str(path)
    f = p.node_fields()
    assert f["cameras"] == ["front"] and f["image_transport"] == "compressed"
    assert (f["image_width"], f["image_height"]) == (64, 48)
    assert f["state_dim"] == 2 and f["joint_names"] == ["left_wheel", "right_wheel"]
    assert f["stop_command"] == [0.0, 0.0]            # zeros, clamped into the limits
    assert f["robot_cmd_topic"] == "/cmd_vel" and f["state_topic"] == ""


def bad(doc, match):
    with pytest.raises(ProfileError, match=match):
        profile_from_dict(doc, source="rover.yaml")


def with_(path, value):
    import copy

    doc = copy.deepcopy(ROVER)
    *parents, key = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is KeyError:
        del node[key]
    else:
        node[key] = value
    return doc


def test_mistakes_name_the_file_the_field_and_what_was_expected():
    doc = with_("command.lwo", [-1.0, -1.0])
    bad(doc, r"rover.yaml: command.lwo is not a field; did you mean low\?")
    bad(with_("command.low", KeyError), r"command.low is missing")
    bad(with_("state", KeyError), r"state is missing")
    bad(with_("cameras", []), r"cameras must be a non-empty list")
    bad(with_("command.high", [1.0]), r"command.high must be 2 numbers, one per action")
    bad(with_("command.type", "ackermann"), r"command.type must be one of")
    bad(with_("command.actions", ["vx", "joint_3"]), r"twist_stamped command cannot carry")
    bad(with_("command.stop", [2.0, 0.0]), r"command.stop must lie within the limits")
    bad(with_("state.joints", []), r"state.joints must list the joints")
    bad(with_("state.type", "imu"), r"state.type must be one of")
    bad(with_("cameras.0.transport", "theora"), r"cameras\[0\].transport must be one of")
    bad(with_("cameras.0.width", "64"), r"cameras\[0\].width must be an integer")
    two = with_("cameras", ROVER["cameras"] + [{"name": "back", "width": 32, "height": 24}])
    bad(two, r"cameras\[1\] is 32x24 raw, cameras\[0\] is 64x48 compressed")
    bad(with_("control_rate_hz", 0), r"control_rate_hz must be a number > 0")
    bad(with_("command.low", [float("nan"), -1.0]), r"command.low must be 2 numbers")
    with pytest.raises(ProfileError, match="'rover' not found.*shipped profiles"):
        load_profile("rover")


def test_a_recording_stores_the_profile_as_it_was_used():
    cfg = RecorderConfig(robot="arm", cameras=["center"], camera_yaw_deg=[180.0],
                         camera_lateral_m=[0.0], image_width=48, image_height=48,
                         state_type="joint_state", state_dim=9,
                         joint_names=load_profile("arm").state.joints,
                         action_names=["vx", "vy", "vz"])
    info = cfg.dataset_info()
    p = info["robot_profile"]
    assert info["robot"] == "arm" and [c["name"] for c in p["cameras"]] == ["center"]
    assert p["cameras"][0]["width"] == 48 and p["command"]["low"] == [-0.25] * 3
    assert p["state"]["joints"][0] == "panda_joint1"
    with pytest.raises(ValueError, match="differ from the robot profile 'arm'"):
        RecorderConfig(robot="arm", action_names=["vx"], state_type="joint_state",
                       state_dim=9).dataset_info()
    assert RecorderConfig().dataset_info()["robot_profile"] is None


# ---- any file a user could write: a usable profile or a ProfileError, nothing else -----------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 5000) | st.floats(
    allow_nan=True) | st.text(max_size=12), lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_profile_is_a_profile_error_never_a_crash(data):
    import copy

    doc = copy.deepcopy(ROVER)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(list(paths(doc))[1:]))
        node = doc
        for key in where[:-1]:
            node = node[key]
        if data.draw(st.booleans()) and isinstance(node, dict):
            del node[where[-1]]
        else:
            node[where[-1]] = data.draw(VALUES)
    try:
        p = profile_from_dict(doc, source="fuzz.yaml")
    except ProfileError as e:
        assert "fuzz.yaml" in str(e)
    else:
        assert set(p.node_fields()) == set(NODE_FIELDS)
