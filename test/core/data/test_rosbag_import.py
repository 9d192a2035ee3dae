"""rosbag2 import: bags written with rosbags (sqlite3 and MCAP) come out as the recorder's rows."""

import json
import math
import os

import numpy as np
import pytest

pytest.importorskip("rosbags")

from rosbags.rosbag2 import StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from bc_ros.core import messages  # noqa: E402
from bc_ros.core.data import rosbag_import as rb  # noqa: E402
from bc_ros.core.data.recording import BAD_VALUE, MISSING, RecorderConfig  # noqa: E402
from bc_ros.core.data.store import EpisodeStore  # noqa: E402

TS = get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST))
M = TS.types
CAMERAS = {"left": "rgb8", "center": "rgb8", "right": "rgb8", "back": "bgr8"}
W, H = 8, 6
ACTIONS = ["vx", "vy", "vz", "yaw_rate"]
T0 = 1_700_000_000.0   # system-clock stamps
SIM_EPOCH = 1.0        # sim-time stamps (bc_ros.core.sim.session.SIM_EPOCH)
STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}


def config(tmp_path, **kw):
    kw = {"dataset": str(tmp_path / "ds"), "cameras": list(CAMERAS),
          "camera_yaw_deg": [30.0, 0.0, -30.0, 180.0], "camera_lateral_m": [0.0] * 4,
          "image_width": W, "image_height": H, "command_type": "twist_stamped",
          "record_executed": True, **kw}
    return RecorderConfig(**kw)


# ---- synthetic messages -------------------------------------------------------------------------
def time_msg(seconds):
    ns = int(round(seconds * 1e9))
    return M["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)


def header(seconds):
    return M["std_msgs/msg/Header"](stamp=time_msg(seconds), frame_id="")


def rgb(k, cam):
    return np.random.default_rng([k, cam]).integers(0, 256, (H, W, 3), dtype=np.uint8)


def image_msg(image, seconds, encoding="rgb8", pad=0):
    data = {"rgb8": image, "bgr8": image[:, :, ::-1]}.get(encoding, image)
    h, w, c = data.shape
    rows = np.zeros((h, w * c + pad), np.uint8)
    rows[:, : w * c] = data.reshape(h, w * c)
    return M["sensor_msgs/msg/Image"](header=header(seconds), height=h, width=w,
                                      encoding=encoding, is_bigendian=0, step=w * c + pad,
                                      data=rows.reshape(-1))


def state(k):
    return np.array([0.1 * k, 0.2 * k, 3.0, 0.05 * k, 1.0, 0.1, -0.1, 0.2])


def odom_msg(s, seconds):
    v3, q = M["geometry_msgs/msg/Vector3"], M["geometry_msgs/msg/Quaternion"]
    pose = M["geometry_msgs/msg/Pose"](
        position=M["geometry_msgs/msg/Point"](x=s[0], y=s[1], z=s[2]),
        orientation=q(x=0.0, y=0.0, z=math.sin(s[3] / 2), w=math.cos(s[3] / 2)))
    twist = M["geometry_msgs/msg/Twist"](linear=v3(x=s[4], y=s[5], z=s[6]),
                                         angular=v3(x=0.0, y=0.0, z=s[7]))
    return M["nav_msgs/msg/Odometry"](
        header=header(seconds), child_frame_id="base_link",
        pose=M["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
        twist=M["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36)))


def action(k):
    return np.array([0.1 * k, -0.05 * k, 0.01, 0.3 - 0.01 * k])


def twist_msg(a, seconds=None):
    v3 = M["geometry_msgs/msg/Vector3"]
    twist = M["geometry_msgs/msg/Twist"](linear=v3(x=a[0], y=a[1], z=a[2]),
                                         angular=v3(x=0.0, y=0.0, z=a[3]))
    if seconds is None:
        return twist
    return M["geometry_msgs/msg/TwistStamped"](header=header(seconds), twist=twist)


def trajectory_msg(a, field="positions", names=ACTIONS):
    """A joint_trajectory_controller command as a bag holds it: a zero stamp (start on
    receipt), one point one period on, the action in ``field``."""
    values = {"positions": np.zeros(0), "velocities": np.zeros(0), field: np.asarray(a)}
    point = M["trajectory_msgs/msg/JointTrajectoryPoint"](
        **values, accelerations=np.zeros(0), effort=np.zeros(0),
        time_from_start=M["builtin_interfaces/msg/Duration"](sec=0, nanosec=100_000_000))
    return M["trajectory_msgs/msg/JointTrajectory"](header=header(0.0), joint_names=list(names),
                                                    points=[point])


def outcome_msg(end, success, episode=0):
    return M["std_msgs/msg/String"](data=json.dumps(
        {"episode": episode, "success": success, "failure": None, "end_stamp": end}))


class Bag:
    """Writes messages with their receive times; connections are added on first use."""

    def __init__(self, path, storage="sqlite3"):
        self.writer = Writer(path, version=9, storage_plugin=STORAGES[storage])
        self.connections = {}

    def __enter__(self):
        self.writer.open()
        return self

    def __exit__(self, *exc):
        self.writer.close()

    def write(self, topic, msg, received):
        msgtype = msg.__msgtype__
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=TS)
        self.writer.write(self.connections[topic], int(round(received * 1e9)),
                          TS.serialize_cdr(msg, msgtype))


def compressed_msg(image, seconds, fmt="png"):
    """image_transport's compressed plugin's message: the rgb image encoded as bgr8."""
    import cv2

    ok, data = cv2.imencode(f".{fmt}", np.ascontiguousarray(image[:, :, ::-1]))
    assert ok
    return M["sensor_msgs/msg/CompressedImage"](header=header(seconds),
                                                format=f"rgb8; {fmt} compressed bgr8",
                                                data=data.reshape(-1))


def write_sim(bag, ticks, t0=T0, received=None, commands="stamped", clock=False,
              cameras=CAMERAS, skip=(), pad=None, nan_at=None, bad_image=None,
              transport="raw"):
    """The sim's messages for ticks ``k`` stamped ``t0 + 0.1 k`` (``ticks``: the k of each
    published observation); an outcome ``(k, success)`` in ``ticks`` ends an episode whose
    terminal state would have been tick k. ``received(stamp)`` gives the receive time."""
    received = received or (lambda s: s + 0.002)
    for item in ticks:
        if isinstance(item, tuple):
            k, success = item
            end = t0 + 0.1 * k
            bag.write("/sim/outcome", outcome_msg(end, success), received(end - 0.05))
            continue
        k, s = item, t0 + 0.1 * item
        r = received(s)
        if clock:
            bag.write("/clock", M["rosgraph_msgs/msg/Clock"](clock=time_msg(s)), r - 1e-4)
        for i, (cam, encoding) in enumerate(cameras.items()):
            if transport == "compressed":
                msg = compressed_msg(rgb(k, i), s)
            else:
                msg = image_msg(rgb(k, i), s, encoding, pad=(pad or {}).get(cam, 0))
            if bad_image and bad_image[0] == k and bad_image[1] == cam:
                msg = bad_image[2](msg)
            bag.write("/" + messages.camera_topic(cam, transport), msg, r + 1e-5 * i)
        if "odom" not in skip and ("odom", k) not in skip:
            bag.write("/odom", odom_msg(state(k), s), r + 1e-4)
        a = action(k)
        if nan_at == k:
            a = a.copy()
            a[0] = float("nan")
        stamp = s if commands == "stamped" else None
        command = trajectory_msg if commands == "trajectory" else (
            lambda a: twist_msg(a, stamp))
        bag.write("/expert/cmd", command(a), r + 2e-4)
        if "cmd" not in skip:
            bag.write("/cmd", command(0.5 * action(k)), r + 3e-4)


def two_episodes(n1=12, n2=9, tail=3):
    """Episode 0: ticks 0..n1-1, ended (success) at n1; episode 1: n1..n1+n2-1, ended (failure);
    then ``tail`` observations of a third episode that the bag cut off."""
    return ([*range(n1), (n1, True), *range(n1, n1 + n2), (n1 + n2, False),
             *range(n1 + n2, n1 + n2 + tail)])


# ---- round trip ---------------------------------------------------------------------------------
@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_round_trip_gives_the_episodes_rows_and_values_that_were_written(tmp_path, storage):
    n1, n2 = 12, 9
    with Bag(str(tmp_path / "bag"), storage) as bag:
        write_sim(bag, two_episodes(n1, n2), pad={"right": 5})
    cfg = config(tmp_path)
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)

    assert result["clock"] == "receive" and not result["warnings"]
    episodes = result["episodes"]
    assert [e["length"] for e in episodes] == [n1, n2]
    assert [e["success"] for e in episodes] == [True, False]
    # Nothing flagged, no tick dropped at an outcome.
    assert [e["counts"] for e in episodes] == [{"ticks": n1}, {"ticks": n2}]
    # The observations after the last outcome are an episode the bag cut off: not stored.
    assert result["skipped"]["unfinished"]["messages"] == 3 * (len(CAMERAS) + 3)
    store = EpisodeStore(cfg.dataset)
    assert len(store.episodes) == 2
    assert result["messages"]["/camera/back/image_raw"] == n1 + n2 + 3
    assert result["messages"]["/sim/outcome"] == 2

    for summary, ks in zip(episodes, (range(n1), range(n1, n1 + n2))):
        data = store.read(summary["index"])
        ks = np.array(ks)
        np.testing.assert_allclose(data["time"], T0 + 0.1 * ks, rtol=0, atol=1e-6)
        # Every stream's stored stamp is the header stamp written for that tick.
        np.testing.assert_allclose(data["stamps"], np.repeat(data["time"][:, None],
                                                             len(cfg.streams), 1),
                                   rtol=0, atol=1e-6)
        assert not data["flags"].any()
        for i, cam in enumerate(CAMERAS):  # bgr8 ("back") and padded rows ("right") as rgb
            np.testing.assert_array_equal(data[f"image_{cam}"],
                                          np.stack([rgb(k, i) for k in ks]))
        np.testing.assert_allclose(data["state"], np.stack([state(k) for k in ks]), atol=1e-5)
        np.testing.assert_allclose(data["action"], np.stack([action(k) for k in ks]), atol=1e-6)
        np.testing.assert_allclose(data["executed"], 0.5 * np.stack([action(k) for k in ks]),
                                   atol=1e-6)


def test_a_bare_mcap_file_imports_like_its_folder(tmp_path):
    with Bag(str(tmp_path / "bag"), "mcap") as bag:
        write_sim(bag, [*range(5), (5, True)])
    result = rb.import_rosbag(str(tmp_path / "bag" / "bag.mcap"), config(tmp_path))
    assert [e["length"] for e in result["episodes"]] == [5]


# ---- clocks and unstamped commands --------------------------------------------------------------
def test_unstamped_commands_are_stamped_with_their_receive_time(tmp_path):
    """As the node on the system clock: a Twist is stamped on arrival, so the row of tick k
    holds the last command received before it (the one sent after observation k-1)."""
    n = 10
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(n), (n, True)], commands="twist",
                  received=lambda s: s + 0.002)
    cfg = config(tmp_path, command_type="twist")
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    data = EpisodeStore(cfg.dataset).read(result["episodes"][0]["index"])
    # The first row is the first tick at which every stream has a sample: tick 1.
    np.testing.assert_allclose(data["time"], T0 + 0.1 * np.arange(1, n), atol=1e-6)
    col = cfg.streams.index("action")
    receive_times = T0 + 0.1 * np.arange(n - 1) + 0.002 + 2e-4
    np.testing.assert_allclose(data["stamps"][:, col], receive_times, atol=1e-6)
    np.testing.assert_allclose(data["action"], np.stack([action(k) for k in range(n - 1)]),
                               atol=1e-6)
    assert not data["flags"].any()  # 0.1 s old commands are within command_tolerance


def test_joint_trajectory_commands_of_a_position_robot_import_as_their_first_point(tmp_path):
    """A ros2_control arm's bag: joint positions in joint_trajectory_controller commands; zero
    stamps (start on receipt), so stamped with their receive time like a Twist."""
    n = 6
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(n), (n, True)], commands="trajectory")
    cfg = config(tmp_path, command_type="joint_trajectory", command_interface="position")
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    data = EpisodeStore(cfg.dataset).read(result["episodes"][0]["index"])
    np.testing.assert_allclose(data["action"], np.stack([action(k) for k in range(n - 1)]),
                               atol=1e-6)
    np.testing.assert_allclose(data["executed"], 0.5 * data["action"], atol=1e-6)
    assert EpisodeStore(cfg.dataset).meta["info"]["command_interface"] == "position"
    # read as velocities, the same bag has none: every command is refused and counted
    cfg = config(tmp_path / "v", command_type="joint_trajectory")
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    assert result["episodes"] == []
    assert result["skipped"]["rejected"] == {"action_wrong_size": n, "executed_wrong_size": n}


@pytest.mark.parametrize("with_clock", [True, False])
def test_sim_time_bag_recorded_on_the_system_clock_imports_exactly(tmp_path, with_clock):
    """Stamps in sim time, receive times on the system clock, unstamped commands: the node ran
    on sim time (/clock), so commands take the tick's sim time, recorded /clock or not."""
    n1, n2 = 8, 6
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, two_episodes(n1, n2, tail=0), t0=SIM_EPOCH, commands="twist",
                  clock=with_clock, received=lambda s: T0 + 3 * s)
    cfg = config(tmp_path, command_type="twist")
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    assert result["clock"] == ("clock" if with_clock else "stamps")
    assert bool(result["warnings"]) != with_clock  # falling back to stamps is said
    assert [e["length"] for e in result["episodes"]] == [n1, n2]
    store = EpisodeStore(cfg.dataset)
    for summary, ks in zip(result["episodes"], (range(n1), range(n1, n1 + n2))):
        data = store.read(summary["index"])
        np.testing.assert_allclose(data["time"], SIM_EPOCH + 0.1 * np.array(ks), atol=1e-6)
        np.testing.assert_allclose(data["stamps"], np.repeat(data["time"][:, None],
                                                             len(cfg.streams), 1), atol=1e-6)
        np.testing.assert_allclose(data["action"], np.stack([action(k) for k in ks]),
                                   atol=1e-6)


def test_a_clock_on_another_time_base_than_the_stamps_is_refused_not_ticked_through(tmp_path):
    # Sim-time stamps, receive times on the system clock: driving the recorder by receive time
    # would write a row for every 0.1 s since 1970. auto picks the stamps; forcing is refused.
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(4), (4, True)], t0=SIM_EPOCH, received=lambda s: T0 + s)
    with pytest.raises(ValueError, match="different clocks"):
        rb.import_rosbag(str(tmp_path / "bag"), config(tmp_path), clock="receive")
    assert rb.import_rosbag(str(tmp_path / "bag"), config(tmp_path / "b"))["clock"] == "stamps"


# ---- episode splits -----------------------------------------------------------------------------
def test_whole_ignores_outcomes_and_gap_splits_where_the_bag_goes_quiet(tmp_path):
    with Bag(str(tmp_path / "outcomes")) as bag:
        write_sim(bag, two_episodes(7, 5, tail=0))
    result = rb.import_rosbag(str(tmp_path / "outcomes"), config(tmp_path / "a"),
                              episode_split="whole", success=True)
    assert [(e["length"], e["success"]) for e in result["episodes"]] == [(12, True)]

    # Two sim runs 5 s apart, no outcome topic; the second sim's clock starts again at
    # SIM_EPOCH: each part is recorded afresh, stamps going back included.
    with Bag(str(tmp_path / "restarted")) as bag:
        write_sim(bag, range(7), t0=SIM_EPOCH, received=lambda s: T0 + s)
        write_sim(bag, range(5), t0=SIM_EPOCH, received=lambda s: T0 + 6.0 + s)
    cfg = config(tmp_path / "b")
    result = rb.import_rosbag(str(tmp_path / "restarted"), cfg, episode_split="gap",
                              gap_seconds=1.0)
    assert [(e["length"], e["counts"]) for e in result["episodes"]] == [
        (7, {"ticks": 7}), (5, {"ticks": 5})]
    second = EpisodeStore(cfg.dataset).read(result["episodes"][1]["index"])
    np.testing.assert_allclose(second["time"], SIM_EPOCH + 0.1 * np.arange(5), atol=1e-6)
    np.testing.assert_array_equal(second["image_left"][4], rgb(4, 0))

    # Stamps that go on across a 5 s silence: one episode per part...
    with Bag(str(tmp_path / "quiet")) as bag:
        write_sim(bag, range(7))
        write_sim(bag, range(5), t0=T0 + 0.7 + 5.0)
    result = rb.import_rosbag(str(tmp_path / "quiet"), config(tmp_path / "q"),
                              episode_split="gap", gap_seconds=1.0)
    assert [(e["length"], e["counts"]) for e in result["episodes"]] == [
        (7, {"ticks": 7}), (5, {"ticks": 5})]
    # ...where as one episode the recorder writes the 5 silent seconds as 50 flagged rows.
    result = rb.import_rosbag(str(tmp_path / "quiet"), config(tmp_path / "c"),
                              episode_split="whole")
    (whole,) = result["episodes"]
    assert whole["length"] == 7 + 50 + 5 and whole["counts"]["ticks_flagged"] == 50


def test_an_episode_never_starts_with_the_previous_episodes_state(tmp_path):
    # The odometry of the first frame after the reset is lost: the row is flagged, not filled
    # with the state before the reset (0.1 s old, within state_tolerance).
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, two_episodes(5, 4, tail=0), skip=(("odom", 5),))
    cfg = config(tmp_path)
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    data = EpisodeStore(cfg.dataset).read(result["episodes"][1]["index"])
    col = cfg.streams.index("state")
    assert data["flags"][0, col] == MISSING and np.isnan(data["state"][0]).all()
    np.testing.assert_allclose(data["state"][1], state(6), atol=1e-5)


# ---- bad input ----------------------------------------------------------------------------------
def test_a_missing_topic_names_it_and_lists_the_bags_topics(tmp_path):
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(3), (3, True)], skip=("odom",))
    with pytest.raises(ValueError, match="lacks topics") as e:
        rb.import_rosbag(str(tmp_path / "bag"), config(tmp_path))
    message = str(e.value)
    assert "'odom'" in message and "/camera/back/image_raw" in message
    assert "/expert/cmd (geometry_msgs/msg/TwistStamped, 3)" in message


def test_topics_are_remapped_and_a_wrong_command_type_is_named(tmp_path):
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(4), (4, True)], skip=("cmd",))
    # No /cmd in the bag: the error says how to do without it.
    with pytest.raises(ValueError, match="record_executed=False"):
        rb.import_rosbag(str(tmp_path / "bag"), config(tmp_path))
    # expert/cmd is TwistStamped, the config says twist.
    with pytest.raises(ValueError, match="command_type"):
        rb.import_rosbag(str(tmp_path / "bag"), config(tmp_path, command_type="twist",
                                                       record_executed=False))
    # Bag topics of other names are mapped by the names the node subscribes to.
    cfg = config(tmp_path / "b", cameras=["front"], camera_yaw_deg=[0.0],
                 camera_lateral_m=[0.0], record_executed=False)
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg,
                              topics={"camera/front/image_raw": "/camera/center/image_raw"})
    assert [e["length"] for e in result["episodes"]] == [4]
    np.testing.assert_array_equal(EpisodeStore(cfg.dataset).read(0)["image_front"][2],
                                  rgb(2, 1))
    assert "/camera/left/image_raw" in result["skipped"]["other_topics"]


def test_compressed_cameras_import_and_a_corrupt_frame_is_counted(tmp_path):
    def truncate(msg):
        msg.data = msg.data[: len(msg.data) // 2]
        return msg

    with Bag(str(tmp_path / "bag"), "mcap") as bag:
        write_sim(bag, [*range(6), (6, True)], transport="compressed",
                  bad_image=(3, "left", truncate))
    # a bag of compressed cameras read as raw: the error says which setting to change
    with pytest.raises(ValueError, match="image_transport=compressed"):
        rb.import_rosbag(str(tmp_path / "bag"), config(tmp_path))
    cfg = config(tmp_path, image_transport="compressed")
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    assert result["skipped"]["rejected"] == {"image_left_bad_decode": 1}
    (summary,) = result["episodes"]
    data = EpisodeStore(cfg.dataset).read(summary["index"])
    for i, cam in enumerate(CAMERAS):     # PNG is lossless: the pixels that were published
        np.testing.assert_array_equal(data[f"image_{cam}"][5], rgb(5, i))
    np.testing.assert_array_equal(data["image_left"][3], rgb(2, 0))   # tick 3 took frame 2


def test_a_nan_command_is_stored_flagged_and_counted(tmp_path):
    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(6), (6, True)], nan_at=3)
    cfg = config(tmp_path)
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    (summary,) = result["episodes"]
    assert summary["counts"]["action_nonfinite"] == 1
    assert summary["counts"]["ticks_flagged"] == 1
    data = EpisodeStore(cfg.dataset).read(summary["index"])
    col = cfg.streams.index("action")
    assert data["flags"][3, col] == BAD_VALUE and np.isnan(data["action"][3, 0])
    assert not np.delete(data["flags"], 3, axis=0).any()


@pytest.mark.parametrize("damage", ["encoding", "size"])
def test_unusable_images_are_counted_and_not_stored(tmp_path, damage):
    def mono16(msg):
        msg.encoding = "mono16"
        return msg

    def small(msg):
        return image_msg(np.zeros((H // 2, W, 3), np.uint8), rb.time_from_msg(msg.header.stamp))

    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(6), (6, True)],
                  bad_image=(3, "left", mono16 if damage == "encoding" else small))
    cfg = config(tmp_path)
    result = rb.import_rosbag(str(tmp_path / "bag"), cfg)
    key = "image_left_bad_encoding" if damage == "encoding" else "image_left_rejected"
    assert result["skipped"]["rejected"] == {key: 1}
    (summary,) = result["episodes"]
    assert summary["counts"][key] == 1
    data = EpisodeStore(cfg.dataset).read(summary["index"])
    # Tick 3 falls back on the 0.1 s old frame 2 (within image_tolerance), as live.
    col = cfg.streams.index("image_left")
    assert data["stamps"][3, col] == pytest.approx(T0 + 0.2, abs=1e-6)
    np.testing.assert_array_equal(data["image_left"][3], rgb(2, 0))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_damaged_or_missing_bag_is_a_clear_error(tmp_path, storage):
    with pytest.raises(rb.BagReadError, match="cannot open rosbag"):
        rb.import_rosbag(str(tmp_path / "nowhere"), config(tmp_path))
    with Bag(str(tmp_path / "bag"), storage) as bag:
        write_sim(bag, [*range(5), (5, True)])
    (name,) = [f for f in os.listdir(tmp_path / "bag") if f != "metadata.yaml"]
    path = tmp_path / "bag" / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(rb.BagReadError, match="rosbag"):
        rb.import_rosbag(str(tmp_path / "bag"), config(tmp_path))
    # Nothing half-imported is left in the dataset.
    assert not os.path.exists(tmp_path / "ds") or EpisodeStore(str(tmp_path / "ds")).episodes == []


# ---- one set of readers for rosbags' and rclpy's messages -------------------------------------
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "rgba8", "bgra8"])
def test_images_read_the_same_from_a_bag_and_live(encoding):
    pytest.importorskip("rclpy")
    from bc_ros.nodes import conversions as conv

    channels = messages.IMAGE_ENCODINGS[encoding]
    raw = np.random.default_rng(1).integers(0, 256, (H, W, channels), dtype=np.uint8)
    msg = image_msg(raw, 1.0, encoding, pad=3)
    live = conv.Image(height=msg.height, width=msg.width, encoding=encoding, step=msg.step,
                      data=msg.data.tobytes())
    assert messages.message_type(msg) == messages.message_type(live) == "sensor_msgs/msg/Image"
    np.testing.assert_array_equal(messages.image_from_msg(msg), messages.image_from_msg(live))
    if encoding in ("rgb8", "bgr8"):  # image_msg wrote the rgb array as bgr for bgr8
        np.testing.assert_array_equal(messages.image_from_msg(msg), raw)


def test_state_and_commands_read_the_same_from_a_bag_and_live():
    pytest.importorskip("rclpy")
    from bc_ros.nodes import conversions as conv

    odom = odom_msg(state(7), 1.0)
    np.testing.assert_allclose(messages.odometry_from_msg(odom), state(7), atol=1e-12)
    a = action(3)
    layout = M["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    bag_msgs = {  # each command type as rosbags reads it from a bag
        "twist": twist_msg(a), "twist_stamped": twist_msg(a, 1.0),
        "float64_multi_array": M["std_msgs/msg/Float64MultiArray"](layout=layout, data=a),
        "joint_state": M["sensor_msgs/msg/JointState"](header=header(1.0), name=ACTIONS,
                                                       position=np.zeros(0), velocity=a,
                                                       effort=np.zeros(0)),
        "joint_trajectory": trajectory_msg(a, "velocities")}
    for command_type, msg in bag_msgs.items():
        msgtype = messages.COMMAND_TYPES[command_type]
        msg = TS.deserialize_cdr(TS.serialize_cdr(msg, msgtype), msgtype)
        live = conv.command_to_msg(a, ACTIONS, command_type, conv.time_to_msg(1.0),
                                   period=0.1)
        assert messages.message_type(live) == msgtype
        np.testing.assert_array_equal(messages.command_from_msg(msg, ACTIONS), a)
        np.testing.assert_array_equal(messages.command_from_msg(live, ACTIONS), a)
    with pytest.raises(ValueError, match="expected 4"):
        messages.command_from_msg(M["std_msgs/msg/Float64MultiArray"](
            layout=M["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
            data=np.zeros(3)), ACTIONS)


# ---- the command line -----------------------------------------------------------------------------
def test_bc_ros_dataset_import_takes_recorder_params_and_topic_remaps(tmp_path, capsys):
    """`bc-ros dataset import BAG --out DS --params recorder.yaml --topic ...`: the recorder's
    parameter file as a user keeps it for the robot (node-only keys included)."""
    pytest.importorskip("rclpy")   # bc_ros.cli imports the node modules' helpers
    import yaml

    from bc_ros.cli import main

    with Bag(str(tmp_path / "bag")) as bag:
        write_sim(bag, [*range(6), (6, True), *range(7, 12), (12, False)])
    cfg = config(tmp_path)
    params = {"recorder": {"ros__parameters": {
        "cameras": cfg.cameras, "camera_yaw_deg": cfg.camera_yaw_deg,
        "camera_lateral_m": cfg.camera_lateral_m, "image_width": W, "image_height": H,
        "command_type": "twist_stamped", "record_executed": True,
        "auto_start": True, "joy_start_button": 7}}}     # node-only keys are ignored
    (tmp_path / "recorder.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "ds"
    rc = main(["dataset", "import", str(tmp_path / "bag"), "--out", str(out), "--params",
               str(tmp_path / "recorder.yaml"), "--topic", "odom=/odom", "--json",
               str(tmp_path / "r.json")])
    assert rc == 0, capsys.readouterr().err
    store = EpisodeStore(str(out))
    assert [e["success"] for e in store.episodes] == [True, False]
    assert "imported 2 episodes" in capsys.readouterr().out
    # a wrong remap, and a format that does not go with import, are refused with the reason
    assert main(["dataset", "import", str(tmp_path / "bag"), "--out", str(tmp_path / "x"),
                 "--topic", "odom"]) == 2
    assert "NODE_TOPIC=BAG_TOPIC" in capsys.readouterr().err
    assert main(["dataset", "import", str(tmp_path / "bag"), "--out", str(tmp_path / "x"),
                 "--format", "lerobot"]) == 2
    assert "does not go with import" in capsys.readouterr().err
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump({"camras": ["left"]}))   # plain mapping
    assert main(["dataset", "import", str(tmp_path / "bag"), "--out", str(tmp_path / "x"),
                 "--params", str(tmp_path / "typo.yaml")]) == 2
    assert "unknown RecorderNodeConfig keys ['camras']" in capsys.readouterr().err
