"""policy_node in-process: lockstep, watchdog in sim time, clamping, NaN, hot swap, diagnostics,
checkpoint errors. The policies are tiny gaussian heads whose output is set by hand: the last
layer is zeroed, so the action is the normalizer's offset (or NaN, with a NaN bias)."""

import json
import pathlib

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
torch = pytest.importorskip("torch")
pytest.importorskip("diagnostic_msgs")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PointStamped  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402

from bc_ros.core.config import from_dict, load_ros_params_yaml  # noqa: E402
from bc_ros.core.data.stats import feature_stats  # noqa: E402
from bc_ros.core.policy.checkpoint import CheckpointError, save_checkpoint  # noqa: E402
from bc_ros.core.policy.encoders import EncoderConfig  # noqa: E402
from bc_ros.core.policy.policy import Policy, PolicyConfig  # noqa: E402
from bc_ros.nodes import conversions as conv  # noqa: E402
from bc_ros.nodes.policy_node import PolicyNode, PolicyNodeConfig, main  # noqa: E402
from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_for, spin_until  # noqa: E402

DRONE = ["vx", "vy", "vz", "yaw_rate"]
LOW, HIGH = [-1.0, -1.5, -1.0, -1.5], [3.0, 1.5, 1.0, 1.5]
SMALL = EncoderConfig(channels=(8, 16), keypoints=8, view_dim=16, state_dim_out=8, embed_dim=32)
SIZE = (16, 12)  # (w, h)
ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_checkpoint(path, action, *, nan=False, action_names=DRONE, horizon=1,
                    n_action_steps=1, robot="drone", robot_profile=None, goal_dim=0) -> str:
    """A drone-like policy (centre camera 16x12, odometry) that always outputs ``action``."""
    cfg = PolicyConfig(head="gaussian", head_options={"hidden": 16}, encoder=SMALL,
                       cameras=["center"], image_size=SIZE, state_dim=8,
                       state_names=[f"odometry_{i}" for i in range(8)],
                       action_names=list(action_names), command_type="twist_stamped",
                       horizon=horizon, n_action_steps=n_action_steps, robot=robot,
                       robot_profile=robot_profile or {}, goal_dim=goal_dim)
    policy = Policy(cfg)
    rng = np.random.default_rng(0)
    stats = {"state": feature_stats(rng.normal(size=(50, 8))),
             "action": feature_stats(rng.normal(size=(50, len(action_names))))}
    if goal_dim:
        stats["goal"] = feature_stats(rng.normal(size=(50, goal_dim)))
    policy.normalizer.fit(stats)
    policy.normalizer.action_scale.fill_(1.0)
    policy.normalizer.action_offset.copy_(torch.tensor(action, dtype=torch.float32))
    last = [m for m in policy.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        if goal_dim:    # the action follows the goal: the goal's slice of the fused input
            torch.manual_seed(0)
            first = policy.encoder.head_in[0]
            first.weight[:, -goal_dim:] *= 50.0
        else:
            last.weight.zero_()
        last.bias.fill_(float("nan") if nan else 0.0)
    save_checkpoint(policy, str(path))
    return str(path)


class Robot(Node):
    """A camera, odometry and /clock with chosen stamps; listens to the policy."""

    def __init__(self, context, command_type="twist_stamped", transport="raw"):
        super().__init__("fake_robot", context=context)
        self.transport = transport
        self.clock = self.create_publisher(Clock, "clock", COMMAND_QOS)
        self.cam = self.create_publisher(conv.image_class(transport),
                                         conv.camera_topic("center", transport), SENSOR_QOS)
        self.odom = self.create_publisher(conv.Odometry, "odom", SENSOR_QOS)
        self.outcome = self.create_publisher(String, "sim/outcome", COMMAND_QOS)
        self.cmds = Inbox(self, conv.command_class(command_type), "policy/cmd", COMMAND_QOS)
        self.diag = Inbox(self, DiagnosticArray, "/diagnostics", COMMAND_QOS)
        self.reset = self.create_client(Trigger, "policy/reset")
        self.enable = self.create_client(SetBool, "policy/enable")
        self.load = self.create_client(Trigger, "policy/load_checkpoint")

    def publish_obs(self, t, size=SIZE, encoding="rgb8", state=True):
        stamp = conv.time_to_msg(t)
        image = np.full((size[1], size[0], 3), 100, np.uint8)
        if self.transport == "compressed":
            self.cam.publish(conv.compressed_image_to_msg(image, stamp, fmt="jpeg"))
        else:
            self.cam.publish(conv.image_to_msg(image, stamp, encoding=encoding))
        if state:
            odom = {"position": [t, 0, 1], "orientation_xyzw": [0, 0, 0, 1],
                    "linear_body": [1, 0, 0], "angular_body": [0, 0, 0]}
            self.odom.publish(conv.odometry_to_msg(odom, stamp))

    def commands_at(self, t):
        return [m for m in self.cmds.messages
                if conv.time_from_msg(m.header.stamp) == pytest.approx(t, abs=1e-6)]


def values(msg):
    return conv.command_from_msg(msg, DRONE).tolist()


def call(executor, client, request):
    spin_until(executor, client.service_is_ready, what=f"service {client.srv_name}")
    future = client.call_async(request)
    spin_until(executor, future.done, what=f"answer of {client.srv_name}")
    return future.result()


def diag_values(msg):
    (status,) = msg.status
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture
def rig(ros_context, tmp_path):
    """make(**overrides) -> (node, robot, executor); everything is torn down afterwards."""
    made = []

    def make(sim_time=False, **overrides):
        params = {"checkpoint": make_checkpoint(tmp_path / "a.pt", [10.0, -10.0, 0.5, 0.0]),
                  "low": LOW, "high": HIGH, "mode": "lockstep", "torch_threads": 1,
                  "diagnostics_period": 0.1}
        params.update(overrides)
        node = PolicyNode(params, context=ros_context,
                          parameter_overrides=[Parameter("use_sim_time", value=sim_time)])
        robot = Robot(ros_context, overrides.get("command_type") or "twist_stamped",
                      overrides.get("image_transport", "raw"))
        executor = make_executor(ros_context, node, robot)
        made.append((node, robot, executor))
        spin_until(executor, lambda: robot.cam.get_subscription_count()
                   and robot.odom.get_subscription_count()
                   and robot.cmds.sub.get_publisher_count()
                   and (robot.clock.get_subscription_count() or not sim_time)
                   and robot.outcome.get_subscription_count(), what="discovery")
        return node, robot, executor

    yield make
    for node, robot, executor in made:
        close(executor)
        node.destroy_node()
        robot.destroy_node()


def step(node, robot, executor, t, **kw):
    """Lockstep: publish the observation at t, wait for the command that answers it."""
    robot.publish_obs(t, **kw)
    spin_until(executor, lambda: robot.commands_at(t), what=f"the command for {t}")
    return robot.commands_at(t)[-1]


def step_unstamped(node, robot, executor, t, **kw):
    """Lockstep for a command without a stamp (a trajectory starts on receipt): the next one."""
    before = len(robot.cmds)
    robot.publish_obs(t, **kw)
    spin_until(executor, lambda: len(robot.cmds) > before, what=f"the command for {t}")
    return robot.cmds.last


def point_times(msg):
    return [round(p.time_from_start.sec + p.time_from_start.nanosec * 1e-9, 9)
            for p in msg.points]


# ---- lockstep ---------------------------------------------------------------------------------
def test_lockstep_one_clamped_command_per_new_observation(rig):
    node, robot, executor = rig()
    for k in range(5):
        cmd = step(node, robot, executor, 1.0 + 0.1 * k)
        assert values(cmd) == [3.0, -1.5, 0.5, 0.0]   # (10, -10) clamped to the drone's limits
    robot.publish_obs(1.4)                            # a repeat (same stamp): no new command
    robot.publish_obs(1.5, state=False)               # incomplete: no command yet
    spin_for(executor, 0.3)
    assert len(robot.cmds) == 5
    assert node.counts["inferences"] == 5 and node.counts["clamped"] == 5
    robot.publish_obs(1.5)                            # now complete
    spin_until(executor, lambda: len(robot.cmds) == 6, what="the sixth command")
    spin_for(executor, 0.2)
    assert len(robot.cmds) == 6


def test_joint_trajectory_one_point_at_one_period(rig):
    """joint_trajectory_controller's form: joint_names = action names, this tick's clamped
    action in velocities at time_from_start = 1 / rate_hz, started on receipt."""
    node, robot, executor = rig(command_type="joint_trajectory", rate_hz=20.0)
    msg = step_unstamped(node, robot, executor, 1.0)
    assert list(msg.joint_names) == DRONE and point_times(msg) == [0.05]
    assert list(msg.points[0].velocities) == [3.0, -1.5, 0.5, 0.0]
    assert len(msg.points[0].positions) == 0 and msg.header.stamp.sec == 0


@pytest.mark.parametrize("interface,field", [("velocity", "velocities"),
                                             ("position", "positions")])
def test_publish_chunk_sends_the_rest_of_the_chunk_k_periods_on(rig, tmp_path, interface,
                                                                field):
    """A chunk of 4, 3 executed: the ticks send 3, 2, 1 points, then the next chunk's 3; point k
    at k periods; each is what the policy will execute at that tick (clamped)."""
    ckpt = make_checkpoint(tmp_path / "c.pt", [10.0, -10.0, 0.5, 0.0], horizon=4,
                           n_action_steps=3)
    node, robot, executor = rig(checkpoint=ckpt, command_type="joint_trajectory",
                                command_interface=interface, publish_chunk=True)
    sent = [step_unstamped(node, robot, executor, 1.0 + 0.1 * k) for k in range(4)]
    assert [len(m.points) for m in sent] == [3, 2, 1, 3]
    assert point_times(sent[0]) == [0.1, 0.2, 0.3] and point_times(sent[1]) == [0.1, 0.2]
    assert all(list(getattr(p, field)) == [3.0, -1.5, 0.5, 0.0]
               for m in sent for p in m.points)
    assert node.counts["inferences"] == 4 and node.counts["commands"] == 4


def test_without_publish_chunk_a_chunked_policy_sends_one_point(rig, tmp_path):
    ckpt = make_checkpoint(tmp_path / "c.pt", [1.0] * 4, horizon=4, n_action_steps=4)
    node, robot, executor = rig(checkpoint=ckpt, command_type="joint_trajectory")
    assert all(len(step_unstamped(node, robot, executor, 1.0 + 0.1 * k).points) == 1
               for k in range(3))


def test_the_velocity_stop_is_a_trajectory_of_the_stop_command(rig):
    node, robot, executor = rig(command_type="joint_trajectory", publish_chunk=True,
                                stop_command=[0.0, 0.0, 0.1, 0.0])
    msg = step_unstamped(node, robot, executor, 1.0, size=(32, 24))   # refused: stop
    assert len(msg.points) == 1 and list(msg.points[0].velocities) == [0.0, 0.0, 0.1, 0.0]
    assert node.counts["stop_commands"] == 1


@pytest.mark.parametrize("command_type", ["joint_trajectory", "float64_multi_array",
                                          "joint_state"])
def test_the_position_stop_holds_the_last_position_sent(rig, command_type):
    """A position is a place to go: the stop re-sends the last one (nothing before the
    first: there is nothing to hold, and a zero position would be a move)."""
    node, robot, executor = rig(command_type=command_type, command_interface="position")
    robot.publish_obs(1.0, size=(32, 24))                            # refused: stop
    spin_until(executor, lambda: node.counts["stops_unsent"] == 1, what="the unsent stop")
    spin_for(executor, 0.2)
    assert len(robot.cmds) == 0 and node.counts["stop_commands"] == 1
    sent = step_unstamped(node, robot, executor, 1.1)
    stop = step_unstamped(node, robot, executor, 1.2, size=(32, 24))  # refused: hold
    for msg in (sent, stop):
        assert conv.command_from_msg(msg, DRONE, "position").tolist() == [3.0, -1.5, 0.5, 0.0]
    assert node.counts["stop_commands"] == 2 and len(robot.cmds) == 2


def test_onnxruntime_backend_drives_and_hot_swaps_like_torch(rig, tmp_path):
    pytest.importorskip("onnxruntime")
    node, robot, executor = rig(backend="onnxruntime")
    assert values(step(node, robot, executor, 1.0)) == pytest.approx([3.0, -1.5, 0.5, 0.0])
    node.set_parameters([Parameter("checkpoint", value=make_checkpoint(tmp_path / "b.pt",
                                                                       [0.5, 0.25, 0.0, 1.0]))])
    assert call(executor, robot.load, Trigger.Request()).success
    assert values(step(node, robot, executor, 1.1)) == pytest.approx([0.5, 0.25, 0.0, 1.0])
    assert node.diagnostics()["backend"] == "onnxruntime"
    assert node.runner.policy.backend is not None


def test_lockstep_starts_afresh_when_the_stamps_jump_back(rig, tmp_path):
    node, robot, executor = rig(checkpoint=make_checkpoint(tmp_path / "c.pt", [1.0] * 4,
                                                           horizon=4, n_action_steps=4))
    for t in (50.0, 50.1):
        step(node, robot, executor, t)
    step(node, robot, executor, 1.0)                  # a restarted sim: its clock starts over
    assert node.counts["resets"] == 1 and node.runner.policy._tick == 1


def test_ensemble_disagreement_goes_out_before_each_command(rig, tmp_path):
    """Members that answer (1, 0, 0, 0) and (1, 0, 0, 0.6): the score is the std across the
    three members over half the command range, averaged over the 4 dims."""
    from std_msgs.msg import Float32
    same = make_checkpoint(tmp_path / "same.pt", [1.0, 0.0, 0.0, 0.0])
    other = make_checkpoint(tmp_path / "other.pt", [1.0, 0.0, 0.0, 0.6])
    node, robot, executor = rig(checkpoint=same, ensemble=[same, other])
    scores = Inbox(robot, Float32, "policy/uncertainty", COMMAND_QOS)
    spin_until(executor, scores.sub.get_publisher_count, what="policy/uncertainty")
    for k in range(3):
        cmd = step(node, robot, executor, 1.0 + 0.1 * k)
        assert values(cmd) == pytest.approx([1.0, 0.0, 0.0, 0.0])   # the main policy drives
    spin_until(executor, lambda: len(scores) == 3, what="three scores")
    half_yaw_range = (HIGH[3] - LOW[3]) / 2
    expected = np.std([0.0, 0.0, 0.6]) / half_yaw_range / 4
    assert [m.data for m in scores.messages] == pytest.approx([expected] * 3, rel=1e-5)


def test_nan_from_the_model_is_never_published(rig, tmp_path):
    node, robot, executor = rig(checkpoint=make_checkpoint(tmp_path / "nan.pt", [0.0] * 4,
                                                           nan=True),
                                stop_command=[0.0, 0.0, -0.2, 0.0])
    for k in range(3):
        cmd = step(node, robot, executor, 1.0 + 0.1 * k)
        assert values(cmd) == pytest.approx([0.0, 0.0, -0.2, 0.0])
    assert node.counts["nonfinite"] == 3


def test_wrong_image_size_is_refused_and_bgr_is_converted(rig):
    node, robot, executor = rig(stop_command=[0.0, 0.0, 0.1, 0.0])
    cmd = step(node, robot, executor, 1.0, size=(32, 24))
    assert values(cmd) == pytest.approx([0.0, 0.0, 0.1, 0.0])   # refused: the stop command
    assert node.counts["observation_errors"] == 1
    cmd = step(node, robot, executor, 1.1, encoding="bgr8")
    assert values(cmd) == [3.0, -1.5, 0.5, 0.0]


def test_compressed_cameras_drive_the_policy_and_a_corrupt_frame_is_counted(rig):
    node, robot, executor = rig(image_transport="compressed")
    assert values(step(node, robot, executor, 1.0)) == [3.0, -1.5, 0.5, 0.0]
    truncated = conv.compressed_image_to_msg(np.full((SIZE[1], SIZE[0], 3), 9, np.uint8),
                                             conv.time_to_msg(1.1))
    truncated.data = bytes(truncated.data)[:-40]      # the frame's tail lost on the way
    robot.cam.publish(truncated)
    spin_until(executor, lambda: node.counts["image_center/decode"] == 1, what="the rejection")
    assert node.counts["bad_messages"] == 1 and not robot.commands_at(1.1)
    assert values(step(node, robot, executor, 1.2)) == [3.0, -1.5, 0.5, 0.0]


def test_wrong_image_size_is_resized_when_allowed(rig):
    node, robot, executor = rig(resize_images=True)
    assert values(step(node, robot, executor, 1.0, size=(32, 24))) == [3.0, -1.5, 0.5, 0.0]
    assert node.counts["resized"] == 1 and node.counts["observation_errors"] == 0


def test_reset_and_enable_services(rig, tmp_path):
    # A chunked policy: the reset must restart the chunk (one inference per chunk otherwise).
    node, robot, executor = rig(checkpoint=make_checkpoint(tmp_path / "c.pt", [1.0] * 4,
                                                           horizon=4, n_action_steps=4))
    for k in range(2):
        step(node, robot, executor, 1.0 + 0.1 * k)
    assert node.runner.policy._tick == 2 and len(node.runner.policy._actions) == 2
    assert call(executor, robot.reset, Trigger.Request()).success
    step(node, robot, executor, 1.2)
    assert node.runner.policy._tick == 1 and len(node.runner.policy._actions) == 3
    answer = call(executor, robot.enable, SetBool.Request(data=False))
    assert answer.success
    spin_until(executor, lambda: values(robot.cmds.last) == [0.0] * 4, what="the stop command")
    n = len(robot.cmds)
    robot.publish_obs(1.3)
    spin_for(executor, 0.3)
    assert len(robot.cmds) == n                       # disabled: silent
    call(executor, robot.enable, SetBool.Request(data=True))
    assert values(step(node, robot, executor, 1.4)) == [1.0] * 4


def test_hot_swap_good_bad_and_incompatible_checkpoints(rig, tmp_path):
    node, robot, executor = rig()
    assert values(step(node, robot, executor, 1.0)) == [3.0, -1.5, 0.5, 0.0]
    good = make_checkpoint(tmp_path / "b.pt", [-0.5, 0.25, 0.0, 0.1])
    node.set_parameters([Parameter("checkpoint", value=good)])
    answer = call(executor, robot.load, Trigger.Request())
    assert answer.success and "b.pt" in answer.message
    assert values(step(node, robot, executor, 1.1)) == pytest.approx([-0.5, 0.25, 0.0, 0.1])

    truncated = tmp_path / "t.pt"
    truncated.write_bytes(pathlib.Path(good).read_bytes()[:300])
    node.set_parameters([Parameter("checkpoint", value=str(truncated))])
    answer = call(executor, robot.load, Trigger.Request())
    assert not answer.success
    assert "cannot be read" in answer.message and f"kept {good}" in answer.message
    assert values(step(node, robot, executor, 1.2)) == pytest.approx([-0.5, 0.25, 0.0, 0.1])

    other = make_checkpoint(tmp_path / "arm.pt", [0.0] * 3, action_names=["vx", "vy", "vz"])
    node.set_parameters([Parameter("checkpoint", value=other)])
    answer = call(executor, robot.load, Trigger.Request())
    assert not answer.success and "action_names" in answer.message
    assert values(step(node, robot, executor, 1.3)) == pytest.approx([-0.5, 0.25, 0.0, 0.1])
    assert node.counts["swaps"] == 1 and node.counts["swap_failures"] == 2


def test_checkpoints_load_only_from_the_configured_folders(rig, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    node, robot, executor = rig(checkpoint_dirs=[str(allowed)])
    inside = make_checkpoint(allowed / "b.pt", [-0.5, 0.25, 0.0, 0.1])
    outside = make_checkpoint(tmp_path / "c.pt", [0.0] * 4)
    (allowed / "escape.pt").symlink_to(outside)       # a link out of the folder is outside
    for path in (outside, str(allowed / "escape.pt"), str(allowed / ".." / "c.pt")):
        result = node.set_parameters([Parameter("checkpoint", value=path)])[0]
        assert not result.successful and "checkpoint_dirs" in result.reason
    assert node.counts["loads_refused"] == 3
    assert node.get_parameter("checkpoint").value != outside
    node.set_parameters([Parameter("checkpoint", value=inside)])
    assert call(executor, robot.load, Trigger.Request()).success
    assert values(step(node, robot, executor, 1.0)) == pytest.approx([-0.5, 0.25, 0.0, 0.1])


def test_a_goal_conditioned_policy_stops_without_a_usable_goal(rig, tmp_path):
    ckpt = make_checkpoint(tmp_path / "g.pt", [0.0] * 4, goal_dim=3)
    node, robot, executor = rig(checkpoint=ckpt, stop_command=[0.0, 0.0, 0.1, 0.0])
    goal_pub = robot.create_publisher(PointStamped, "goal", COMMAND_QOS)
    spin_until(executor, goal_pub.get_subscription_count, what="the goal subscription")

    def send_goal(x, y, z):
        before = node.goal_input.received
        msg = PointStamped()
        msg.point.x, msg.point.y, msg.point.z = x, y, z
        goal_pub.publish(msg)
        spin_until(executor, lambda: node.goal_input.received > before, what="the goal")

    stop = [0.0, 0.0, 0.1, 0.0]
    assert values(step(node, robot, executor, 1.0)) == pytest.approx(stop)     # no goal yet
    assert node.counts["goal/missing"] == 1
    send_goal(0.5, 0.0, 0.3)
    a = values(step(node, robot, executor, 1.1))
    send_goal(-0.5, 0.4, 0.1)                          # acts from the next inference
    b = values(step(node, robot, executor, 1.2))
    assert a != pytest.approx(stop) and b != pytest.approx(stop)
    assert np.abs(np.subtract(a, b)).max() > 0.05
    send_goal(float("nan"), 0.0, 0.0)
    assert values(step(node, robot, executor, 1.3)) == pytest.approx(stop)
    assert node.counts["goal/nonfinite"] == 1 and ("goal", "nonfinite") in node.problems.logged
    spin_until(executor, lambda: robot.diag.messages and diag_values(robot.diag.last).get(
        "goal") == "nonfinite", what="the goal state on /diagnostics")


def test_hot_swap_of_the_ensemble_all_or_nothing(rig, tmp_path):
    """A node started without members gets two by a swap (and publishes scores from then on, a
    NaN one before a command it has no score for); a swap whose member fails keeps the old
    policy and the old members; a swap to no members stops the scores."""
    from std_msgs.msg import Float32
    node, robot, executor = rig()
    assert node.score_pub is None
    main_b = make_checkpoint(tmp_path / "b.pt", [1.0, 0.0, 0.0, 0.0])
    member = make_checkpoint(tmp_path / "m.pt", [1.0, 0.0, 0.0, 0.6])
    assert node.set_parameters([Parameter("checkpoint", value=main_b),
                                Parameter("ensemble", value=[main_b, member])])[0].successful
    answer = call(executor, robot.load, Trigger.Request())
    assert answer.success and "with 2 ensemble members" in answer.message
    scores = Inbox(robot, Float32, "policy/uncertainty", COMMAND_QOS)
    spin_until(executor, scores.sub.get_publisher_count, what="policy/uncertainty")
    assert values(step(node, robot, executor, 1.0)) == pytest.approx([1.0, 0.0, 0.0, 0.0])
    spin_until(executor, lambda: len(scores) == 1, what="the score")
    expected = np.std([0.0, 0.0, 0.6]) / ((HIGH[3] - LOW[3]) / 2) / 4
    assert scores.last.data == pytest.approx(expected, rel=1e-5)
    stop = step(node, robot, executor, 1.1, size=(32, 24))     # refused: stop, NaN score
    assert values(stop) == [0.0] * 4
    spin_until(executor, lambda: len(scores) == 2, what="the NaN score")
    assert np.isnan(scores.last.data)

    truncated = tmp_path / "t.pt"
    truncated.write_bytes(pathlib.Path(member).read_bytes()[:300])
    other = make_checkpoint(tmp_path / "c.pt", [0.5, 0.0, 0.0, 0.0])
    node.set_parameters([Parameter("checkpoint", value=other),
                         Parameter("ensemble", value=[member, str(truncated)])])
    answer = call(executor, robot.load, Trigger.Request())
    assert not answer.success
    assert f"kept {main_b} and its 2 ensemble members" in answer.message
    assert f"ensemble member {truncated}" in answer.message
    assert values(step(node, robot, executor, 1.2)) == pytest.approx([1.0, 0.0, 0.0, 0.0])
    spin_until(executor, lambda: len(scores) == 3, what="the old members' score")
    assert scores.last.data == pytest.approx(expected, rel=1e-5)

    bad = node.set_parameters([Parameter("ensemble", value=[""])])[0]
    assert not bad.successful and "list of checkpoint paths" in bad.reason
    node.set_parameters([Parameter("checkpoint", value=other),
                         Parameter("ensemble", Parameter.Type.STRING_ARRAY, [])])
    assert call(executor, robot.load, Trigger.Request()).success
    assert values(step(node, robot, executor, 1.3)) == pytest.approx([0.5, 0.0, 0.0, 0.0])
    spin_for(executor, 0.2)
    assert len(scores) == 3 and node.members == []
    assert node.counts["swaps"] == 2 and node.counts["swap_failures"] == 1


# ---- realtime, sim time -----------------------------------------------------------------------
def test_watchdog_stops_within_two_ticks_and_resumes_in_sim_time(rig):
    node, robot, executor = rig(sim_time=True, mode="realtime", rate_hz=10.0, obs_timeout=0.25)

    def tick(t, data=True):
        if data:
            robot.publish_obs(t)
            spin_until(executor, lambda: node.aligner.newest("state") == pytest.approx(t)
                       and node.aligner.newest("image_center") == pytest.approx(t),
                       what=f"samples at {t}")
        robot.clock.publish(Clock(clock=conv.time_to_msg(t)))
        spin_until(executor, lambda: robot.commands_at(t), what=f"the command of tick {t}")
        return values(robot.commands_at(t)[-1])

    ticks = [round(1.0 + 0.1 * k, 1) for k in range(45)]
    out = {t: tick(t, data=t <= 2.0 or t >= 2.6) for t in ticks}
    policy, stop = [3.0, -1.5, 0.5, 0.0], [0.0] * 4
    # Last samples at 2.0: stale after 2.25, so the tick at 2.3 (within 2 ticks) sends stop.
    assert [t for t in ticks if out[t] == stop] == [2.3, 2.4, 2.5]
    assert all(out[t] == policy for t in ticks if t <= 2.2 or t >= 2.6)
    assert node.counts["watchdog_trips"] == 1

    # Diagnostics: the achieved rate in sim time and the counts.
    spin_until(executor, lambda: robot.diag.messages and
               diag_values(robot.diag.last)["ticks"] == "45"
               and diag_values(robot.diag.last)["commands"] == "42", what="diagnostics")
    d = diag_values(robot.diag.last)
    assert float(d["rate_hz"]) == pytest.approx(10.0)
    assert float(d["command_rate_hz"]) == pytest.approx(10.0)
    assert d["watchdog"] == "ok" and d["stop_commands"] == "3" and d["clamped"] == "42"
    assert float(d["inference_ms_p99"]) >= float(d["inference_ms_mean"]) > 0
    assert {"ticks_over_budget", "ticks_skipped", "nonfinite", "head"} <= set(d)

    # Going stale again shows in the diagnostics, naming the stream.
    for t in (6.0, 6.1, 6.2, 6.3):
        tick(t, data=False)
    spin_until(executor, lambda: diag_values(robot.diag.last)["watchdog"] == "stale",
               what="stale diagnostics")
    assert "camera/center/image_raw" in diag_values(robot.diag.last)["stale_streams"]
    assert robot.diag.last.status[0].level == b"\x01"   # WARN


def test_no_data_at_all_means_stop(rig):
    node, robot, executor = rig(sim_time=True, mode="realtime")
    robot.clock.publish(Clock(clock=conv.time_to_msg(5.0)))
    spin_until(executor, lambda: robot.commands_at(5.0), what="a command")
    assert values(robot.commands_at(5.0)[-1]) == [0.0] * 4 and node.watchdog == "missing"


def test_outcome_resets_the_policy(rig, tmp_path):
    node, robot, executor = rig(checkpoint=make_checkpoint(tmp_path / "c.pt", [1.0] * 4,
                                                           horizon=4, n_action_steps=4))
    step(node, robot, executor, 1.0)
    robot.outcome.publish(String(data='{"episode": 0, "end_stamp": 1.1}'))
    spin_until(executor, lambda: node.counts["resets"] == 1, what="the reset")
    step(node, robot, executor, 1.1)
    assert node.runner.policy._tick == 1


# ---- start-up errors and config ---------------------------------------------------------------
def test_missing_or_incompatible_checkpoint_fails_clearly(ros_context, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="does not exist"):
        PolicyNode({"checkpoint": str(tmp_path / "none.pt"), "low": LOW, "high": HIGH},
                   context=ros_context)
    ckpt = make_checkpoint(tmp_path / "a.pt", [0.0] * 4)
    unknown = make_checkpoint(tmp_path / "b.pt", [0.0] * 4, robot="")
    with pytest.raises(ValueError, match="one limit per action .*vx, vy, vz, yaw_rate.*robot "
                                         "parameter"):
        PolicyNode({"checkpoint": unknown}, context=ros_context)
    with pytest.raises(ValueError, match="robot profile 'rover' not found.*'arm', 'drone'"):
        PolicyNode({"checkpoint": ckpt, "robot": "rover"}, context=ros_context)
    with pytest.raises(ValueError, match="no checkpoint"):
        PolicyNode({"low": LOW, "high": HIGH}, context=ros_context)
    with pytest.raises(ValueError, match="state_type none cannot feed it"):
        PolicyNode({"checkpoint": ckpt, "low": LOW, "high": HIGH, "state_type": "none"},
                   context=ros_context)
    with pytest.raises(ValueError, match="backend must be one of"):
        PolicyNode({"checkpoint": ckpt, "low": LOW, "high": HIGH, "backend": "tensorrt"},
                   context=ros_context)
    with pytest.raises(ValueError, match="publish_chunk needs command_type joint_trajectory "
                                         ".*checkpoint's is 'twist_stamped'"):
        PolicyNode({"checkpoint": ckpt, "low": LOW, "high": HIGH, "publish_chunk": True},
                   context=ros_context)
    with pytest.raises(ValueError, match="twist_stamped command carries velocities, not "
                                         "positions"):
        PolicyNode({"checkpoint": ckpt, "low": LOW, "high": HIGH,
                    "command_interface": "position"}, context=ros_context)

    code = main(["policy_node", "--ros-args", "-p", f"checkpoint:={tmp_path / 'none.pt'}"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_limits_topics_and_joint_order_come_from_the_robot_profile(ros_context, tmp_path):
    # no limits given: the drone's, from the profile the checkpoint names
    node = PolicyNode({"checkpoint": make_checkpoint(tmp_path / "a.pt", [0.0] * 4)},
                      context=ros_context)
    assert node.inference.runner.config.low == [-1.0, -1.5, -1.0, -1.5]
    node.destroy_node()
    # a profile of another robot: its topics and its command type; its actions must fit
    profile = tmp_path / "rover.yaml"
    profile.write_text("""
name: rover
cameras: [{name: center, topic: /usb_cam/image_raw/compressed, transport: compressed,
           width: 16, height: 12}]
state: {type: odometry, topic: /wheel/odom}
command: {type: twist_stamped, topic: /cmd_vel, actions: [vx, vy, vz, yaw_rate],
          low: [-0.5, -0.1, -0.1, -1.0], high: [0.5, 0.1, 0.1, 1.0]}
""")
    node = PolicyNode({"checkpoint": make_checkpoint(tmp_path / "a.pt", [0.0] * 4),
                       "robot": str(profile), "low": [-2.0, -2.0, -2.0, -2.0]},
                      context=ros_context)
    assert node.topics == {"image_center": "/usb_cam/image_raw/compressed",
                           "state": "/wheel/odom"}
    # explicit parameters win over the profile
    assert node.inference.runner.config.low == [-2.0] * 4
    assert node.inference.runner.config.high == [0.5, 0.1, 0.1, 1.0]
    assert node.command_type == "twist_stamped" and node.config.image_transport == "compressed"
    node.destroy_node()
    # an arm policy reads the joints by name, in the profile's order
    joints = [f"j{i}" for i in range(8)]
    ckpt = make_checkpoint(tmp_path / "c.pt", [0.0] * 4, robot="", robot_profile={
        "state": {"type": "joint_state", "joints": joints},
        "command": {"low": [-1.0] * 4, "high": [1.0] * 4, "stop": []}})
    node = PolicyNode({"checkpoint": ckpt, "state_type": "joint_state"}, context=ros_context)
    assert node.joint_names == joints and node.topics["state"] == "joint_states"
    node.destroy_node()


def test_config_file_and_parameters_agree():
    cfg = from_dict(PolicyNodeConfig, load_ros_params_yaml(str(ROOT / "config/policy.yaml"),
                                                           "policy"))
    # the limits are the robot profile's (policy.yaml sets none), the mode the file's
    assert cfg.low == [] and cfg.robot == "" and cfg.mode == "realtime"
    with pytest.raises(ValueError, match="mode must be one of"):
        PolicyNodeConfig(mode="fast")
    with pytest.raises(ValueError, match="cpu_dma_latency_us must be -1"):
        PolicyNodeConfig(cpu_dma_latency_us=-5)
    with pytest.raises(ValueError, match="command_interface must be one of"):
        PolicyNodeConfig(command_interface="effort")
    with pytest.raises(ValueError, match="publish_chunk needs command_type joint_trajectory"):
        PolicyNodeConfig(command_type="twist", publish_chunk=True)
    assert cfg.backend == "torch" and cfg.cpu_dma_latency_us == -1


def test_a_camera_of_another_message_type_is_named_not_just_silent(rig):
    node, robot, executor = rig(diagnostics_period=0.05)
    other = rclpy.context.Context()       # a camera driver in another process: DDS refuses two
    rclpy.init(context=other)             # types on one topic within one participant
    driver = rclpy.create_node("usb_cam", context=other)
    driver.create_publisher(conv.CompressedImage, "camera/center/image_raw", SENSOR_QOS)
    spin_until(executor, lambda: node.counts["graph/type_mismatch"] == 1, what="the check")
    assert node.problems.logged[("graph", "type")] == 1
    spin_until(executor, lambda: robot.diag.messages and diag_values(robot.diag.last).get(
        "graph/type_mismatch") == "1", what="the count on /diagnostics")
    spin_for(executor, 0.3)
    assert node.counts["graph/type_mismatch"] == 1      # reported once while it lasts
    driver.destroy_node()
    rclpy.shutdown(context=other)


def test_a_restarted_node_comes_back_with_the_checkpoint_swapped_in_last(ros_context, tmp_path):
    """A respawn must not fall back to the launch-time checkpoint after a hot swap
    (state_file); other parameters, or a swapped-in file gone, start as launched."""
    launched = make_checkpoint(tmp_path / "a.pt", [10.0, -10.0, 0.5, 0.0])
    swapped = make_checkpoint(tmp_path / "b.pt", [-0.5, 0.25, 0.0, 0.1])
    state = tmp_path / "ros_home" / "policy_state.json"

    def run(checkpoint, t, swap_to=None):
        node = PolicyNode({"checkpoint": checkpoint, "low": LOW, "high": HIGH,
                           "mode": "lockstep", "torch_threads": 1, "state_file": str(state)},
                          context=ros_context)
        robot = Robot(ros_context, "twist_stamped", "raw")
        executor = make_executor(ros_context, node, robot)
        try:
            spin_until(executor, lambda: robot.cam.get_subscription_count()
                       and robot.odom.get_subscription_count()
                       and robot.cmds.sub.get_publisher_count(), what="discovery")
            if swap_to:
                node.set_parameters([Parameter("checkpoint", value=swap_to)])
                assert call(executor, robot.load, Trigger.Request()).success
            return (pytest.approx(values(step(node, robot, executor, t))),
                    node.checkpoint_loaded)
        finally:
            close(executor)

    b = [-0.5, 0.25, 0.0, 0.1]
    assert run(launched, 1.0, swap_to=swapped) == (b, swapped)
    assert json.loads(state.read_text())["checkpoint"] == swapped
    # The same parameters again (what respawn does): the swapped-in policy drives.
    assert run(launched, 2.0) == (b, swapped)
    # Started with another checkpoint: the user's choice wins, the file is not used.
    other = make_checkpoint(tmp_path / "c.pt", [0.0, 0.0, 0.0, 0.0])
    assert run(other, 3.0)[1] == other
    # The swapped-in file is gone: start as launched, and say so.
    pathlib.Path(swapped).unlink()
    assert run(launched, 4.0) == ([3.0, -1.5, 0.5, 0.0], launched)
