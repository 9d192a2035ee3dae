"""recorder_node in-process: services, bad input, and recording what the sim node published."""

import json

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402

from bc_ros.core.data.store import EpisodeStore  # noqa: E402
from bc_ros.nodes import conversions as conv  # noqa: E402
from bc_ros.nodes.recorder_node import RecorderNode  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_until  # noqa: E402

DRONE = ["vx", "vy", "vz", "yaw_rate"]


class Robot(Node):
    """Publishes what a camera driver, odometry and a teleop would, with chosen stamps."""

    def __init__(self, context, command_type="twist_stamped", interface="velocity",
                 transport="raw"):
        super().__init__("fake_robot", context=context)
        self.command_type, self.interface = command_type, interface
        self.transport = transport
        self.clock = self.create_publisher(Clock, "clock", COMMAND_QOS)
        self.cams = {c: self.create_publisher(conv.image_class(transport),
                                              conv.camera_topic(c, transport), SENSOR_QOS)
                     for c in ("left", "center", "right")}
        self.odom = self.create_publisher(conv.Odometry, "odom", SENSOR_QOS)
        self.cmd = self.create_publisher(conv.command_class(command_type), "expert/cmd",
                                         COMMAND_QOS)
        self.status = Inbox(self, String, "recorder/status", LATCHED_QOS)
        self.start = self.create_client(Trigger, "recorder/start_episode")
        self.stop = self.create_client(SetBool, "recorder/stop_episode")
        self.discard = self.create_client(Trigger, "recorder/discard_episode")

    def publish_tick(self, t, k, encoding="rgb8", size=(32, 24)):
        stamp = conv.time_to_msg(t)
        self.clock.publish(Clock(clock=stamp))
        image = np.full((size[1], size[0], 3), k % 256, np.uint8)
        for pub in self.cams.values():
            if self.transport == "compressed":   # PNG: lossless, so the stored pixels compare
                pub.publish(conv.compressed_image_to_msg(image, stamp, fmt="png"))
            else:
                pub.publish(conv.image_to_msg(image, stamp, encoding=encoding))
        odom = {"position": [k, 0, 1], "orientation_xyzw": [0, 0, 0, 1],
                "linear_body": [1, 0, 0], "angular_body": [0, 0, 0]}
        self.odom.publish(conv.odometry_to_msg(odom, stamp))
        self.cmd.publish(conv.command_to_msg([1.0, 0.0, 0.0, 0.1 * k], DRONE, self.command_type,
                                             stamp, interface=self.interface, period=0.1))


def call(executor, client, request):
    spin_until(executor, client.service_is_ready, what=f"service {client.srv_name}")
    future = client.call_async(request)
    spin_until(executor, future.done, what=f"answer of {client.srv_name}")
    return future.result()


@pytest.fixture
def rig(ros_context, tmp_path, request):
    # request.param: (command_type, interface[, image_transport])
    command_type, interface, *transport = getattr(request, "param",
                                                  ("twist_stamped", "velocity"))
    transport = transport[0] if transport else "raw"
    recorder = RecorderNode({"dataset": str(tmp_path / "ds"), "image_width": 32,
                             "image_height": 24, "command_type": command_type,
                             "command_interface": interface,
                             "record_executed": False, "task": "trail",
                             "image_transport": transport},
                            context=ros_context,
                            parameter_overrides=[Parameter("use_sim_time", value=True)])
    robot = Robot(ros_context, command_type, interface, transport)
    executor = make_executor(ros_context, recorder, robot)
    spin_until(executor, lambda: all(p.get_subscription_count() for p in robot.cams.values())
               and robot.odom.get_subscription_count() and robot.cmd.get_subscription_count()
               and robot.clock.get_subscription_count(), what="discovery")
    yield recorder, robot, executor, tmp_path / "ds"
    close(executor)


def publish_ticks(recorder, robot, executor, ticks):
    for t, k in ticks:
        before = recorder.recorder.aligner.newest("action")
        # The clock first: an unstamped command (Twist, a trajectory) is stamped on arrival.
        robot.clock.publish(Clock(clock=conv.time_to_msg(t)))
        spin_until(executor, lambda: recorder.get_clock().now().nanoseconds
                   >= conv.time_from_msg(conv.time_to_msg(t)) * 1e9 - 1, what="the clock")
        robot.publish_tick(t, k)
        spin_until(executor, lambda: recorder.recorder.aligner.newest("action") != before
                   and recorder.recorder.aligner.newest("image_right") == pytest.approx(t)
                   and recorder.recorder.aligner.newest("state") == pytest.approx(t),
                   what=f"tick {t}")
        spin_until(executor, lambda: recorder.get_clock().now().nanoseconds
                   >= conv.time_from_msg(conv.time_to_msg(t)) * 1e9 - 1, what="the clock")
        executor.spin_once(timeout_sec=0.05)


@pytest.mark.parametrize("rig", [("twist_stamped", "velocity"),
                                 ("joint_trajectory", "position")], indirect=True)
def test_services_start_and_stop_an_episode_with_every_tick(rig):
    recorder, robot, executor, ds = rig
    publish_ticks(recorder, robot, executor, [(1.0, 0)])
    assert call(executor, robot.start, Trigger.Request()).success
    publish_ticks(recorder, robot, executor, [(1.0 + 0.1 * k, k) for k in range(1, 6)])
    answer = call(executor, robot.stop, SetBool.Request(data=True))
    assert answer.success and "saved: 6 ticks" in answer.message, answer.message
    store = EpisodeStore(str(ds))
    (episode,) = store.episodes
    assert episode["success"] and episode["task"] == "trail" and episode["length"] == 6
    data = store.read(0)
    np.testing.assert_allclose(data["time"], 1.0 + 0.1 * np.arange(6))
    assert not data["flags"].any()
    np.testing.assert_allclose(data["action"][:, 3], 0.1 * np.arange(6), atol=1e-6)
    assert data["image_center"][4].max() == 4
    assert store.meta["info"]["command_interface"] == robot.interface   # the policy's default


def test_stop_without_an_episode_says_so(rig):
    recorder, robot, executor, ds = rig
    answer = call(executor, robot.stop, SetBool.Request(data=True))
    assert not answer.success and "no episode is recording" in answer.message


def test_discard_keeps_nothing(rig):
    recorder, robot, executor, ds = rig
    publish_ticks(recorder, robot, executor, [(1.0, 0)])
    call(executor, robot.start, Trigger.Request())
    publish_ticks(recorder, robot, executor, [(1.1, 1), (1.2, 2)])
    assert "discarded" in call(executor, robot.discard, Trigger.Request()).message
    assert EpisodeStore(str(ds)).episodes == []


def test_bad_encoding_and_size_are_counted_and_recording_goes_on(rig):
    recorder, robot, executor, ds = rig
    publish_ticks(recorder, robot, executor, [(1.0, 0)])
    call(executor, robot.start, Trigger.Request())
    stamp = conv.time_to_msg(1.1)
    bad = conv.image_to_msg(np.zeros((24, 32, 3), np.uint8), stamp)
    bad.encoding = "yuv422"
    robot.cams["left"].publish(bad)
    robot.cams["right"].publish(conv.image_to_msg(np.zeros((48, 64, 3), np.uint8), stamp))
    short = conv.image_to_msg(np.zeros((24, 32, 3), np.uint8), stamp)
    short.data = bytes(short.data)[:-96]            # a truncated frame: its own counter
    robot.cams["center"].publish(short)
    counts = recorder.recorder.counts
    spin_until(executor, lambda: counts["image_left_bad_encoding"] == 1
               and counts["image_right_rejected"] == 1
               and counts["image_center_bad_data_length"] == 1, what="rejections")
    # three faults at once, three log lines: none throttled by another
    assert {("image_left", "encoding"), ("image_right", "size"),
            ("image_center", "data_length")} <= set(recorder.problems.logged)
    publish_ticks(recorder, robot, executor, [(1.2, 2), (1.3, 3)])
    answer = call(executor, robot.stop, SetBool.Request(data=False))
    assert answer.success
    (episode,) = EpisodeStore(str(ds)).episodes
    assert episode["counts"]["image_left_bad_encoding"] == 1
    assert episode["counts"]["image_right_rejected"] == 1
    spin_until(executor, lambda: robot.status.messages and
               json.loads(robot.status.last.data)["episodes_saved"] == 1, what="status")


@pytest.mark.parametrize("rig", [("twist_stamped", "velocity", "compressed")], indirect=True)
def test_compressed_cameras_are_recorded_and_corrupt_frames_counted(rig):
    recorder, robot, executor, ds = rig
    publish_ticks(recorder, robot, executor, [(1.0, 0)])
    call(executor, robot.start, Trigger.Request())
    publish_ticks(recorder, robot, executor, [(1.1, 1), (1.2, 2)])
    stamp = conv.time_to_msg(1.25)
    frame = conv.compressed_image_to_msg(np.zeros((24, 32, 3), np.uint8), stamp, fmt="jpeg")
    frame.data = bytes(frame.data)[: len(frame.data) - 30]   # truncated on the way
    robot.cams["left"].publish(frame)
    counts = recorder.recorder.counts
    spin_until(executor, lambda: counts["image_left_bad_decode"] == 1, what="the rejection")
    assert ("image_left", "decode") in recorder.problems.logged
    publish_ticks(recorder, robot, executor, [(1.3, 3)])
    assert call(executor, robot.stop, SetBool.Request(data=True)).success
    (episode,) = EpisodeStore(str(ds)).episodes
    assert episode["length"] == 4 and episode["counts"]["image_left_bad_decode"] == 1
    data = EpisodeStore(str(ds)).read(0)
    assert not data["flags"].any()
    np.testing.assert_array_equal(data["image_right"][:, 0, 0, 0], [0, 1, 2, 3])


def test_joy_buttons_start_and_stop_episodes(ros_context, tmp_path):
    from sensor_msgs.msg import Joy

    recorder = RecorderNode({"dataset": str(tmp_path / "ds"), "image_width": 32,
                             "image_height": 24, "command_type": "twist_stamped",
                             "record_executed": False, "joy_start_button": 0,
                             "joy_success_button": 1, "joy_discard_button": 3},
                            context=ros_context,
                            parameter_overrides=[Parameter("use_sim_time", value=True)])
    robot = Robot(ros_context)
    joy = robot.create_publisher(Joy, "joy", SENSOR_QOS)
    executor = make_executor(ros_context, recorder, robot)
    try:
        spin_until(executor, lambda: joy.get_subscription_count() and all(
            p.get_subscription_count() for p in robot.cams.values()) and
            robot.clock.get_subscription_count(), what="discovery")
        publish_ticks(recorder, robot, executor, [(1.0, 0)])
        joy.publish(Joy(buttons=[1, 0, 0, 0]))
        spin_until(executor, lambda: recorder.recorder.recording, what="start by button")
        joy.publish(Joy(buttons=[1, 0, 0, 0]))  # still held: no second start, no error
        publish_ticks(recorder, robot, executor, [(1.1, 1), (1.2, 2)])
        joy.publish(Joy(buttons=[0, 1, 0, 0]))
        spin_until(executor, lambda: not recorder.recorder.recording, what="stop by button")
        (episode,) = EpisodeStore(str(tmp_path / "ds")).episodes
        assert episode["success"] and episode["length"] == 3
    finally:
        close(executor)


def test_a_profile_sets_topics_and_joints_are_stored_in_its_order(ros_context, tmp_path):
    profile = tmp_path / "two_link.yaml"
    profile.write_text("""
name: two_link
control_rate_hz: 20.0
cameras: [{name: wrist, topic: /wrist_cam/image_raw, width: 32, height: 24}]
state: {type: joint_state, topic: /robot/joint_states, joints: [elbow, shoulder]}
command: {type: float64_multi_array, actions: [v_shoulder, v_elbow], low: [-1, -1],
          high: [1, 1]}
""")
    recorder = RecorderNode({"robot": str(profile), "dataset": str(tmp_path / "ds")},
                            context=ros_context)
    cfg = recorder.config
    assert cfg.rate_hz == 20.0 and cfg.command_type == "float64_multi_array"
    topics = {s.topic_name for s in recorder.subscriptions}
    assert {"/wrist_cam/image_raw", "/robot/joint_states"} <= topics
    msg = conv.JointState(name=["shoulder", "gripper", "elbow"], position=[0.1, 0.2, 0.3])
    msg.header.stamp = conv.time_to_msg(5.0)
    recorder._on_state(msg)
    assert recorder.recorder.aligner.newest("state") == pytest.approx(5.0)
    np.testing.assert_allclose(recorder.recorder.aligner.sample(5.0).values["state"], [0.3, 0.1])
    msg = conv.JointState(name=["shoulder"], position=[0.4])
    msg.header.stamp = conv.time_to_msg(5.1)
    recorder._on_state(msg)                 # no elbow: refused, counted, named
    assert recorder.recorder.counts["state_bad_joints"] == 1
    assert ("state", "joints") in recorder.problems.logged
    assert recorder.recorder.store.meta["info"]["robot_profile"]["name"] == "two_link"
    recorder.destroy_node()


def test_a_command_of_another_message_type_is_named_in_the_log(rig):
    recorder, robot, executor, ds = rig
    other = rclpy.context.Context()       # a teleop in another process, on the other type
    rclpy.init(context=other)
    teleop = rclpy.create_node("joystick", context=other)
    teleop.create_publisher(conv.Twist, "expert/cmd", COMMAND_QOS)
    counts = recorder.recorder.counts
    spin_until(executor, lambda: counts["topic_type_mismatch"] == 1, what="the check",
               timeout=10.0)
    assert recorder.problems.logged[("graph", "type")] == 1
    teleop.destroy_node()
    rclpy.shutdown(context=other)


def test_a_pose_stamped_state_is_recorded_and_a_wrong_size_array_refused(ros_context, tmp_path):
    recorder = RecorderNode({"dataset": str(tmp_path / "ds"), "state_type": "pose_stamped",
                             "state_dim": 7}, context=ros_context)
    assert recorder.config.state_topic_name() == "pose"
    msg = conv.PoseStamped()
    msg.header.stamp = conv.time_to_msg(3.0)
    msg.pose.position.x, msg.pose.orientation.w = 1.5, 1.0
    recorder._on_state(msg)
    np.testing.assert_allclose(recorder.recorder.aligner.sample(3.0).values["state"],
                               [1.5, 0, 0, 0, 0, 0, 1])
    recorder.destroy_node()
    recorder = RecorderNode({"dataset": str(tmp_path / "ds3"), "state_type":
                             "float64_multi_array", "state_dim": 2}, context=ros_context)
    recorder._on_state(conv.Float64MultiArray(data=[1.0, 2.0]))   # no header: stamped now
    assert recorder.recorder.aligner.newest("state") is not None
    recorder._on_state(conv.Float64MultiArray(data=[1.0, 2.0, 3.0]))
    assert recorder.recorder.counts["state_bad_message"] == 1
    recorder.destroy_node()


def test_a_full_disk_mid_episode_is_counted_and_reported_and_recording_goes_on(rig,
                                                                               monkeypatch):
    import errno
    import shutil

    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    from bc_ros.core.data import store as store_module

    monkeypatch.setattr(store_module, "_ABANDONED", [])
    recorder, robot, executor, ds = rig
    diagnostics = Inbox(robot, DiagnosticArray, "/diagnostics", COMMAND_QOS)
    publish_ticks(recorder, robot, executor, [(1.0, 0)])
    assert call(executor, robot.start, Trigger.Request()).success
    publish_ticks(recorder, robot, executor, [(1.0 + 0.1 * k, k) for k in range(1, 4)])
    real = store_module.EpisodeWriter._write_row

    def full(self, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.EpisodeWriter, "_write_row", full)
    publish_ticks(recorder, robot, executor, [(1.4, 4), (1.5, 5)])
    spin_until(executor, lambda: not recorder.recorder.recording, what="the episode closed")
    monkeypatch.setattr(store_module.EpisodeWriter, "_write_row", real)   # space freed

    def last_diagnostic():
        return diagnostics.messages[-1].status[0] if diagnostics.messages else None

    spin_until(executor, lambda: last_diagnostic() is not None
               and last_diagnostic().level == DiagnosticStatus.ERROR, what="/diagnostics ERROR")
    values = {kv.key: kv.value for kv in last_diagnostic().values}
    assert values["disk_full"] == "1" and "disk full" in last_diagnostic().message
    status = json.loads(robot.status.messages[-1].data)
    assert status["storage"]["disk_full"] == 1 and not status["recording"]
    (kept,) = EpisodeStore(str(ds)).episodes          # closed and kept as far as written
    assert kept["stopped"] == "disk_full" and not kept["success"] and kept["length"] >= 3

    # The node runs on: the next episode is saved and /diagnostics is OK again.
    assert call(executor, robot.start, Trigger.Request()).success
    publish_ticks(recorder, robot, executor, [(2.0 + 0.1 * k, k) for k in range(3)])
    assert call(executor, robot.stop, SetBool.Request(data=True)).success
    spin_until(executor, lambda: last_diagnostic().level == DiagnosticStatus.OK,
               what="/diagnostics OK again")

    # A dataset folder removed under it: the start fails with why, counted; no crash.
    shutil.rmtree(ds)
    answer = call(executor, robot.start, Trigger.Request())
    assert not answer.success and "cannot start an episode in" in answer.message
    assert recorder.storage["storage_errors"] == 1
