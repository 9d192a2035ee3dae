"""dagger_node in-process: the command mux on ROS topics, ticked by /clock (use_sim_time).

Each ``Rig.step`` publishes the inputs of one tick, waits until the node has them (they arrive at
the previous tick's sim time), advances /clock by one control period and waits for that tick's
cmd, dagger/control and dagger/label: one timer tick per clock step, no sleeps. The beta test ticks
the node directly on a fake clock (thousands of ticks).
"""

import json
import pathlib

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Joy  # noqa: E402
from std_msgs.msg import Bool, Float32, Int8, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from bc_ros.core.config import from_dict, load_ros_params_yaml  # noqa: E402
from bc_ros.core.dagger.mux import CommandMux  # noqa: E402
from bc_ros.nodes import conversions as conv  # noqa: E402
from bc_ros.nodes.dagger_node import (CONTROL_CODES, DaggerNode, DaggerNodeConfig,  # noqa: E402
                                      main)
from bc_ros.nodes.runtime import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402
from test.nodes.helpers import Inbox, close, make_executor, spin_until  # noqa: E402

EXPERT, POLICY, HOLD, BLEND, STOP = (CONTROL_CODES[s] for s in
                                     ("expert", "policy", "hold", "blend", "stop"))
ROOT = pathlib.Path(__file__).resolve().parents[2]
DT = 0.1                     # 10 Hz (rate_hz default)
EPOCH = 1000                 # tick k is at sim time (EPOCH + k) * DT
NAMES = ["vx", "vy", "vz", "yaw_rate"]
POLICY_CMD = [1.0, 0.0, 0.0, 0.0]
BASE = {"policy_timeout": 0.25, "expert_timeout": 0.25, "engaged_timeout": 0.25,
        "handback_ticks": 3}


def expert_cmd(k):
    """A different expert command every tick, so a test can tell which one executed."""
    return [0.0, 2.0, 0.0, 0.01 * k]


class Rig:
    """A DaggerNode on sim time plus a probe that publishes its inputs and collects its outputs."""

    def __init__(self, context, overrides):
        self.node = DaggerNode({**BASE, **overrides}, context=context,
                               parameter_overrides=[Parameter("use_sim_time", value=True)])
        cfg = self.node.config
        self.names = cfg.action_names
        self.command_type, self.interface = cfg.command_type, cfg.command_interface
        self.unsent = 0      # stops with nothing to send (position interface) when cleared
        probe = self.probe = Node("probe", context=context)
        cls = conv.command_class(cfg.command_type)
        self.pubs = {"policy": probe.create_publisher(cls, "policy/cmd", COMMAND_QOS),
                     "expert": probe.create_publisher(cls, "expert/cmd", COMMAND_QOS),
                     "engaged": probe.create_publisher(Bool, "expert/engaged", COMMAND_QOS),
                     "score": probe.create_publisher(Float32, "policy/uncertainty", COMMAND_QOS),
                     "outcome": probe.create_publisher(String, "sim/outcome", COMMAND_QOS),
                     "clock": probe.create_publisher(Clock, "clock", COMMAND_QOS)}
        if cfg.joy_deadman_button >= 0:
            self.pubs["joy"] = probe.create_publisher(Joy, "joy", SENSOR_QOS)
        self.cmd = Inbox(probe, cls, "cmd", COMMAND_QOS)
        self.control = Inbox(probe, Int8, "dagger/control", COMMAND_QOS)
        self.label = Inbox(probe, Bool, "dagger/label", COMMAND_QOS)
        self.events = Inbox(probe, String, "dagger/events", COMMAND_QOS)
        self.status = Inbox(probe, String, "dagger/status", LATCHED_QOS)
        self.executor = make_executor(context, self.node, probe)
        outputs = (self.node.cmd_pub, self.node.control_pub, self.node.label_pub,
                   self.node.events_pub, self.node.status_pub)
        spin_until(self.executor, lambda: all(p.get_subscription_count() > 0
                                              for p in [*self.pubs.values(), *outputs]),
                   what="dagger discovery")
        self.k = 0
        self.clock(0)  # the first /clock starts the timer: tick 0 (no policy yet: stop)
        self.wait_outputs(1)
        self.node.start_episode()  # episode 1 starts at tick 1 with clean stats
        spin_until(self.executor, lambda: ("episode_start", 1) in [
            (e["event"], e["episode"]) for e in map(json.loads, (m.data for m in
                                                                self.events.messages))],
                   what="episode 1 start event")
        for inbox in (self.cmd, self.control, self.label, self.events):
            inbox.messages.clear()
        self.unsent = self.node.received["stops_unsent"]

    def clock(self, k):
        self.pubs["clock"].publish(Clock(clock=conv.time_to_msg((EPOCH + k) * DT)))

    def wait_outputs(self, n):
        """Until tick n's outputs are in (a stop with nothing to hold sends no cmd)."""
        spin_until(self.executor, lambda: min(len(self.control), len(self.label)) >= n
                   and len(self.cmd) >= n - (self.node.received["stops_unsent"] - self.unsent),
                   what=f"tick outputs #{n}")

    def step(self, *, policy=None, expert=None, engaged=None, joy=None, score=None):
        """Publish this tick's inputs, wait until the node has them, tick once."""
        before = dict(self.node.received)
        wanted = {}
        for name, value in (("policy", policy), ("expert", expert)):
            if value is not None:
                self.pubs[name].publish(conv.command_to_msg(value, self.names, self.command_type,
                                                            interface=self.interface,
                                                            period=DT))
                wanted[name] = 1
        if engaged is not None:
            self.pubs["engaged"].publish(Bool(data=engaged))
            wanted["engaged"] = 1
        if joy is not None:
            self.pubs["joy"].publish(Joy(axes=[0.0] * 4, buttons=joy))
            wanted["joy"] = 1
        if score is not None:
            self.pubs["score"].publish(Float32(data=score))
            wanted["score"] = 1
        spin_until(self.executor, lambda: all(self.node.received[n] >= before[n] + c
                                              for n, c in wanted.items()),
                   what=f"inputs of tick {self.k + 1}")
        self.k += 1
        self.clock(self.k)
        self.wait_outputs(self.k)

    def codes(self):
        """dagger/control per tick; index 0 is tick 1."""
        return [m.data for m in self.control.messages]

    def commands(self):
        return [conv.command_from_msg(m, self.names, self.interface).tolist()
                for m in self.cmd.messages]

    def event_names(self):
        return [json.loads(m.data)["event"] for m in self.events.messages]


@pytest.fixture
def rig(ros_context):
    rigs = []

    def make(**overrides):
        rigs.append(Rig(ros_context, overrides))
        return rigs[-1]

    yield make
    for r in rigs:
        close(r.executor)


def test_override_governs_the_next_tick_no_policy_leaks_and_handback_waits(rig):
    r = rig()
    for k in range(1, 26):
        r.step(policy=POLICY_CMD, expert=expert_cmd(k), engaged=5 <= k < 15)
    codes, cmds = r.codes(), r.commands()
    # The flag published before tick 5 governs tick 5; released before tick 15: 3 hold ticks.
    assert codes == [POLICY] * 4 + [EXPERT] * 10 + [HOLD] * 3 + [POLICY] * 8
    engaged_or_holding = range(5 - 1, 18 - 1)
    assert sum(cmds[i] == POLICY_CMD for i in engaged_or_holding) == 0
    np.testing.assert_allclose([cmds[k - 1] for k in range(5, 18)],
                               [expert_cmd(k) for k in range(5, 18)])
    assert all(cmds[k - 1] == POLICY_CMD for k in (*range(1, 5), *range(18, 26)))
    # Labels: the engaged expert's ticks only (not the hold).
    assert [m.data for m in r.label.messages] == [5 <= k < 15 for k in range(1, 26)]
    spin_until(r.executor, lambda: "handback" in r.event_names(), what="handback event")
    events = [json.loads(m.data) for m in r.events.messages]
    assert [(e["event"], e["tick"]) for e in events] == [("intervention", 4), ("handback", 17)]
    assert events[1]["cause"] == "human"

    # The sim ends the episode: its stats go out latched on dagger/status, a new one starts.
    r.pubs["outcome"].publish(String(data=json.dumps({"episode": 0, "success": True})))
    spin_until(r.executor, lambda: any(json.loads(m.data)["reason"] == "outcome"
                                       for m in r.status.messages), what="episode status")
    status = json.loads(r.status.last.data)
    assert status["outcome"]["success"] is True
    stats = status["stats"]
    assert (stats["ticks"], stats["expert_ticks"], stats["hold_ticks"], stats["labels"],
            stats["interventions"], stats["handbacks"]) == (25, 10, 3, 10, 1, 1)
    assert stats["autonomous_fraction"] == pytest.approx(12 / 25)
    assert r.node.episode == 2 and r.node.mux.stats.ticks == 0


def test_silent_engaged_expert_stops_the_robot_and_the_policy_never_fills_in(rig):
    r = rig()
    for k in range(1, 15):
        r.step(policy=POLICY_CMD, expert=expert_cmd(k) if k <= 6 or k >= 12 else None,
               engaged=k >= 3)
    # The last expert command before the gap arrived at tick 5's time: fresh (0.2 s <= 0.25 s)
    # at tick 7, stale at tick 8; back at tick 12.
    assert r.codes() == [POLICY] * 2 + [EXPERT] * 5 + [STOP] * 4 + [EXPERT] * 3
    cmds = r.commands()
    assert all(cmds[k - 1] == [0.0] * 4 for k in range(8, 12))
    assert sum(c == POLICY_CMD for c in cmds[2:]) == 0
    spin_until(r.executor, lambda: "stop" in r.event_names(), what="stop event")
    stop = next(json.loads(m.data) for m in r.events.messages
                if json.loads(m.data)["event"] == "stop")
    assert (stop["reason"], stop["tick"]) == ("expert_stale", 7)


def test_silent_or_invalid_policy_stops_the_robot(rig):
    r = rig(command_type="float64_multi_array")
    for k in range(1, 10):
        r.step(policy=POLICY_CMD if k <= 4 or k >= 8 else None)
    # Last policy command arrived at tick 3's time: fresh at tick 5, stale at 6 and 7.
    assert r.codes() == [POLICY] * 5 + [STOP] * 2 + [POLICY] * 2
    assert r.commands()[5:7] == [[0.0] * 4] * 2
    # A command of the wrong length is not executed, nor is the previous one repeated.
    r.pubs["policy"].publish(conv.Float64MultiArray(data=[1.0, 2.0, 3.0]))
    r.step()
    assert r.node.received["rejected"] == 1
    assert r.codes()[-1] == STOP and r.commands()[-1] == [0.0] * 4
    assert r.node.mux.stats.stop_reasons == {"policy_stale": 2, "policy_invalid": 1}


def test_joint_trajectory_cmd_is_one_point_and_stops_with_zero_velocities(rig):
    r = rig(command_type="joint_trajectory", stop_command=[0.0, 0.0, 0.1, 0.0])
    for k in range(1, 8):
        r.step(policy=POLICY_CMD if k <= 4 else None)
    assert r.codes() == [POLICY] * 5 + [STOP] * 2
    assert r.commands() == [POLICY_CMD] * 5 + [[0.0, 0.0, 0.1, 0.0]] * 2
    for msg in r.cmd.messages:         # one point, one control period on, velocities
        (point,) = msg.points
        assert list(msg.joint_names) == NAMES and len(point.positions) == 0
        assert (point.time_from_start.sec, point.time_from_start.nanosec) == (0, 100_000_000)


def test_position_interface_stops_by_holding_the_last_position_executed(rig):
    """stop_command would be a place to go: a position robot's stop repeats the last command
    executed; before any (tick 0: no policy yet) there is none to hold and no cmd goes out."""
    r = rig(command_type="joint_trajectory", command_interface="position")
    assert r.unsent == 1 and r.node.mux.stats.ticks == 0
    for k in range(1, 10):
        r.step(policy=[0.1 * k, 0.0, 0.0, 0.0] if k <= 4 or k >= 8 else None)
    assert r.codes() == [POLICY] * 5 + [STOP] * 2 + [POLICY] * 2
    held = [0.4, 0.0, 0.0, 0.0]        # the policy's command of step 4, executed at tick 5
    cmds = r.commands()
    np.testing.assert_allclose(cmds[4:7], [held] * 3)
    np.testing.assert_allclose(cmds[7:], [[0.8, 0.0, 0.0, 0.0], [0.9, 0.0, 0.0, 0.0]])
    assert all(len(m.points[0].positions) == 4 and len(m.points[0].velocities) == 0
               for m in r.cmd.messages)


def test_joy_deadman_engages_the_expert_and_the_handback_blends(rig):
    r = rig(joy_deadman_button=4, blend_ticks=2)
    for k in range(1, 13):
        r.step(policy=POLICY_CMD, expert=expert_cmd(k), joy=[0, 0, 0, 0, int(3 <= k < 6)])
    assert r.codes() == [POLICY] * 2 + [EXPERT] * 3 + [HOLD] * 3 + [BLEND] * 2 + [POLICY] * 2
    assert r.node.received["joy"] == 12 and r.node.received["engaged"] == 0
    # From the last executed command (tick 8's hold: the expert's) to the policy's, w = j / 3.
    last, policy = np.array(expert_cmd(8)), np.array(POLICY_CMD)
    np.testing.assert_allclose(r.commands()[8:10], [last + (policy - last) / 3,
                                                    last + 2 * (policy - last) / 3])

    client = r.probe.create_client(Trigger, "dagger/start_episode")
    assert client.wait_for_service(timeout_sec=5.0)
    future = client.call_async(Trigger.Request())
    spin_until(r.executor, future.done, what="start_episode answer")
    assert future.result().success and "episode 2 started" in future.result().message
    spin_until(r.executor, lambda: any(json.loads(m.data)["episode"] == 1
                                       for m in r.status.messages), what="status")
    stats = json.loads(r.status.last.data)["stats"]
    assert (stats["interventions"], stats["handbacks"], stats["context_switches"]) == (1, 1, 2)


def test_uncertainty_score_requests_the_expert_until_they_agree(rig):
    r = rig(mode="uncertainty", uncertainty_threshold=0.5, agree_ticks=2, agree_tol=0.1)
    for k in range(1, 13):
        r.step(policy=POLICY_CMD, expert=expert_cmd(k) if k < 8 else POLICY_CMD,
               score=0.9 if k == 4 else 0.1)
    # Requested at tick 4; agreement at ticks 8 and 9 -> the policy is back at tick 10.
    assert r.codes() == [POLICY] * 3 + [EXPERT] * 6 + [POLICY] * 3
    spin_until(r.executor, lambda: "handback" in r.event_names(), what="handback event")
    assert r.event_names() == ["request", "handback"]
    assert r.node.mux.stats.requests == 1 and r.node.mux.stats.interventions == 0


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def beta_node(ros_context, clock, **overrides):
    node = DaggerNode({"mode": "beta", "policy_timeout": 1e6, "expert_timeout": 1e6,
                       **overrides}, clock=clock, tick_timer=False, context=ros_context)
    # Fed through the subscription callbacks (no DDS round trip): the timeouts keep them fresh.
    node._on_command("policy")(conv.command_to_msg(POLICY_CMD, NAMES, "twist"))
    node._on_command("expert")(conv.command_to_msg(expert_cmd(0), NAMES, "twist"))
    return node


def run_ticks(node, clock, n):
    decisions = []
    for _ in range(n):
        clock.t += DT
        decisions.append(node.tick())
    return decisions


def test_beta_mode_executes_the_expert_a_beta_fraction_of_ticks_reproducibly(ros_context):
    clock = FakeClock()
    node = beta_node(ros_context, clock, beta=0.3, seed=7)
    decisions = run_ticks(node, clock, 2000)
    sources = [d.source for d in decisions]
    assert set(sources) == {"expert", "policy"}
    assert sources.count("expert") / 2000 == pytest.approx(0.3, abs=0.035)  # 3.4 sigma
    assert all(d.record_label for d in decisions)   # the expert's label at every tick
    # The same draws as the core mux with the same seed; another seed draws differently.
    mux = CommandMux(node.config, rng=np.random.default_rng(7))
    mux.start_episode(beta=0.3)
    latest = dict(policy_cmd=POLICY_CMD, policy_stamp=0.0, expert_cmd=expert_cmd(0),
                  expert_stamp=0.0)
    assert sources == [mux.tick((k + 1) * DT, **latest).source for k in range(2000)]
    other_clock = FakeClock()
    other = beta_node(ros_context, other_clock, beta=0.3, seed=8)
    assert [d.source for d in run_ticks(other, other_clock, 200)] != sources[:200]
    for n in (node, other):
        n.destroy_node()


def test_beta_follows_the_schedule_at_the_round_set_while_running(ros_context):
    clock = FakeClock()
    node = beta_node(ros_context, clock, beta_schedule="linear", beta_start=1.0, beta_end=0.0,
                     beta_rounds=4, beta_draw="episode")
    assert node.mux.beta == 1.0
    assert {d.source for d in run_ticks(node, clock, 20)} == {"expert"}
    assert node.set_parameters([Parameter("round", value=2)])[0].successful
    assert node.start_episode() == "episode 1 started (round 2, beta 0.500)"
    result = node.set_parameters([Parameter("round", value=4)])[0]
    assert result.successful and node.start_episode().endswith("beta 0.000)")
    assert {d.source for d in run_ticks(node, clock, 20)} == {"policy"}
    # Invalid or start-up-only values are refused and change nothing.
    bad = node.set_parameters([Parameter("beta_rounds", value=0)])[0]
    assert not bad.successful and "rounds must be an integer >= 1" in bad.reason
    fixed = node.set_parameters([Parameter("rate_hz", value=50.0)])[0]
    assert not fixed.successful and "read at start-up" in fixed.reason
    assert node.config.beta_rounds == 4 and node.config.rate_hz == 10.0
    node.destroy_node()


def test_threshold_set_while_running_applies_to_the_unticked_episode_or_the_next(ros_context):
    clock = FakeClock()
    node = DaggerNode({"mode": "uncertainty", "uncertainty_threshold": 0.5, "agree_ticks": 2,
                       "policy_timeout": 1e6, "expert_timeout": 1e6}, clock=clock,
                      tick_timer=False, context=ros_context)
    feed = {"policy": node._on_command("policy"), "expert": node._on_command("expert")}
    feed["policy"](conv.command_to_msg(POLICY_CMD, NAMES, "twist"))
    feed["expert"](conv.command_to_msg(expert_cmd(0), NAMES, "twist"))
    node._on_score(Float32(data=0.6))
    # Nothing has ticked yet: the episode starts over with the new threshold at once.
    assert node.set_parameters([Parameter("uncertainty_threshold", value=0.7)])[0].successful
    assert node.mux.gate.threshold == 0.7 and node.episode == 0
    assert {d.source for d in run_ticks(node, clock, 3)} == {"policy"}   # 0.6 < 0.7
    # Mid-episode: the running episode keeps 0.7, the next one gets 0.3.
    assert node.set_parameters([Parameter("uncertainty_threshold", value=0.3),
                                Parameter("agree_ticks", value=4)])[0].successful
    assert node.mux.gate.threshold == 0.7
    assert run_ticks(node, clock, 1)[0].source == "policy"
    assert node.start_episode() == "episode 1 started (round 0, threshold 0.3)"
    assert (node.mux.gate.threshold, node.mux.gate.agree_ticks) == (0.3, 4)
    assert run_ticks(node, clock, 1)[0].source == "expert"
    # Bad values are refused with the reason and change nothing.
    bad = node.set_parameters([Parameter("uncertainty_threshold", value=float("inf"))])[0]
    assert not bad.successful and "needs a finite threshold" in bad.reason
    bad = node.set_parameters([Parameter("agree_ticks", value=0)])[0]
    assert not bad.successful and "agree_ticks must be an integer >= 1" in bad.reason
    assert node.config.uncertainty_threshold == 0.3 and node.config.agree_ticks == 4
    node.end_episode("test")
    node.destroy_node()


def test_inputs_trigger_waits_for_the_flag_and_the_score_of_the_instant(ros_context):
    clock = FakeClock()
    node = DaggerNode({"mode": "uncertainty", "uncertainty_threshold": 0.5, "trigger": "inputs",
                       "wait_for_expert": True, "wait_for_engaged": True,
                       "wait_for_score": True}, clock=clock, tick_timer=False,
                      context=ros_context)
    clock.t = 1.0
    node._on_command("policy")(conv.command_to_msg(POLICY_CMD, NAMES, "twist"))
    node._on_command("expert")(conv.command_to_msg(expert_cmd(1), NAMES, "twist"))
    node._on_engaged(Bool(data=False))
    assert node.tick_count == 0                      # the score of 1.0 has not arrived
    node._on_score(Float32(data=0.9))
    assert node.tick_count == 1 and node.mux.stats.expert_ticks == 1   # requested at once
    clock.t = 1.1
    node._on_score(Float32(data=float("nan")))       # the policy had no score: no request
    node._on_engaged(Bool(data=False))
    node._on_command("expert")(conv.command_to_msg(expert_cmd(2), NAMES, "twist"))
    assert node.tick_count == 1                      # nor the policy's command
    node._on_command("policy")(conv.command_to_msg(POLICY_CMD, NAMES, "twist"))
    assert node.tick_count == 2 and node.mux.stats.scored_ticks == 1
    node.destroy_node()


def test_config_is_validated_and_the_config_file_agrees(ros_context, capsys):
    with pytest.raises(ValueError, match="twist command carries velocities, not positions"):
        DaggerNodeConfig(command_interface="position")
    cfg = from_dict(DaggerNodeConfig, load_ros_params_yaml(str(ROOT / "config/dagger.yaml"),
                                                           "dagger"))
    assert cfg.mode == "human" and cfg.action_names == NAMES and cfg.rate_hz == 10.0
    with pytest.raises(ValueError, match="stop_command needs one value per action name"):
        DaggerNodeConfig(action_names=["vx", "vy", "vz"])
    with pytest.raises(ValueError, match="unknown beta schedule 'cosine'"):
        DaggerNodeConfig(beta_schedule="cosine")
    with pytest.raises(ValueError, match="needs a finite threshold"):
        DaggerNode({"mode": "uncertainty"}, context=ros_context)
    code = main(["dagger_node", "--ros-args", "-p", "command_type:=pose"])
    assert code == 2 and "unknown command type 'pose'" in capsys.readouterr().err


def test_a_clock_that_jumps_back_drops_the_inputs_stamped_in_its_future(ros_context):
    clock = FakeClock()
    node = DaggerNode({}, clock=clock, tick_timer=False, context=ros_context)
    clock.t = 50.0
    node._on_command("policy")(conv.command_to_msg(POLICY_CMD, NAMES, "twist"))
    clock.t += DT
    assert node.tick().source == "policy"
    clock.t = 2.0   # the sim restarted
    decision = node.tick()
    assert (decision.source, decision.stop_reason) == ("stop", "policy_stale")
    node.destroy_node()


def test_engaged_combines_the_flag_topic_and_the_joy_deadman(ros_context):
    clock = FakeClock()
    node = DaggerNode({"joy_deadman_button": 0}, clock=clock, tick_timer=False,
                      context=ros_context)
    assert node.engaged(0.0) == (None, None)
    node._on_engaged(Bool(data=False))
    clock.t = 0.2
    node._on_joy(Joy(buttons=[1]))
    assert node.engaged(0.3) == (True, 0.2)     # a fresh true from either source engages
    clock.t = 1.0
    node._on_engaged(Bool(data=False))
    assert node.engaged(1.1) == (False, 1.0)    # fresh news beats a stale deadman
    assert node.engaged(2.0) == (False, 1.0)    # all stale: the newest, here a release
    clock.t = 1.5
    node._on_joy(Joy(buttons=[1]))
    assert node.engaged(3.0) == (True, 1.5)     # ... or a stale true: the mux stops the robot
    node.destroy_node()
