"""Launch files: every executable and config file they name exists; with `launch` and the `ros2`
command installed (a ROS 2 distro, or the wheels of ../shared/ros2-launch that .ci/run installs),
each file runs under a real `ros2 launch bc_ros ...`: its nodes come up and talk, and Ctrl-C
(SIGINT to the process group, once or twice in a row, as a terminal and launch itself send it)
ends every process with exit code 0 and no traceback within 10 s.

Without `launch` these tests skip, unless BC_ROS_REQUIRE_LAUNCH=1 (set by .ci/run when it
installed the wheels): then they fail, so CI cannot pass with them silently skipped."""

import ast
import itertools
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sysconfig
import time

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
SCRIPTS = pathlib.Path(sysconfig.get_path("scripts"))
# the venv's (pip path: make test does not activate it), else a distro's on PATH
ROS2 = pathlib.Path(SCRIPTS / "ros2" if (SCRIPTS / "ros2").exists()
                    else shutil.which("ros2") or "ros2")
STOP_TIMEOUT = 10.0     # Ctrl-C to the last process gone (launch escalates to SIGTERM at 5 s)
START_TIMEOUT = 90.0    # a broken start fails after this; a good one returns when it is up


def entry_points() -> set[str]:
    text = (ROOT / "setup.py").read_text()
    return set(re.findall(r'"([\w-]+) = bc_ros\.', text))


def launch_sources() -> str:
    sources = [*LAUNCH_FILES, ROOT / "bc_ros/sessions/launch_descriptions.py"]
    return "\n".join(p.read_text() for p in sources)


def test_there_are_launch_files_for_both_sims():
    names = {p.name for p in LAUNCH_FILES}
    assert {"sim_drone.launch.py", "sim_arm.launch.py", "record.launch.py", "policy.launch.py",
            "dagger.launch.py", "demo.launch.py"} <= names


def test_every_executable_named_in_a_launch_file_is_an_entry_point():
    executables = set(re.findall(r'executable="(\w+)"', launch_sources()))
    assert executables, "no executables found"
    assert executables <= entry_points(), executables - entry_points()


def test_every_config_file_named_exists_and_parses():
    sources = launch_sources()
    names = set(re.findall(r'"(\w+\.yaml)"', sources))
    names |= {f"teleop_{robot}.yaml" for robot in ("drone", "arm")}
    for name in names:
        doc = yaml.safe_load((ROOT / "config" / name).read_text())
        assert all("ros__parameters" in v for v in doc.values()), name


def test_config_files_use_only_known_fields():
    from bc_ros.core.config import from_dict, load_ros_params_yaml
    from bc_ros.core.sim.session import SimConfig
    from bc_ros.core.teleop import TeleopConfig

    for name in ("sim_drone.yaml", "sim_arm.yaml"):
        cfg = from_dict(SimConfig, load_ros_params_yaml(str(ROOT / "config" / name), "sim"))
        assert cfg.robot in name
    for name in ("teleop_drone.yaml", "teleop_arm.yaml"):
        from_dict(TeleopConfig, load_ros_params_yaml(str(ROOT / "config" / name), "teleop"))
    from bc_ros.nodes.recorder_node import RecorderNodeConfig

    from_dict(RecorderNodeConfig, load_ros_params_yaml(str(ROOT / "config" / "recorder.yaml"),
                                                       "recorder"))


def test_setup_installs_launch_and_config():
    tree = ast.parse((ROOT / "setup.py").read_text())
    text = ast.unparse(tree)
    assert "launch/*.launch.py" in text and "config/*.yaml" in text


# ---- with launch and ros2 -------------------------------------------------------------------
def launch_problem() -> str | None:
    """Why `ros2 launch bc_ros ...` cannot run here, or None."""
    # The repo's own launch/ folder would pass for a namespace package named "launch": ask for
    # the real package's modules.
    try:
        import launch.actions  # noqa: F401
        import launch_ros.actions  # noqa: F401
    except ImportError as e:
        return (f"the launch package does not import ({e}): it comes with a ROS 2 distro, or "
                f"with the wheels of ../shared/ros2-launch (.ci/run installs them)")
    if not ROS2.exists():
        return f"no ros2 command (not in {SCRIPTS}, not on PATH)"
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = pathlib.Path(get_package_prefix("bc_ros"))
    except (PackageNotFoundError, OSError) as e:
        return (f"ros2 does not find bc_ros ({e}): run `make venv` (or `bc-ros "
                f"install-ros-files`) and set AMENT_PREFIX_PATH")
    missing = [p for p in [*(prefix / "share/bc_ros/launch" / f.name for f in LAUNCH_FILES),
                           *(prefix / "lib/bc_ros" / name for name in entry_points())]
               if not p.exists()]
    if missing:
        return (f"{missing[0]} is missing ({len(missing)} files): run `make venv` (or "
                f"`bc-ros install-ros-files`)")
    return None


@pytest.fixture(scope="module")
def ros2_launch():
    """Skip, or under BC_ROS_REQUIRE_LAUNCH=1 fail, where `ros2 launch bc_ros` cannot run."""
    problem = launch_problem()
    if problem and os.environ.get("BC_ROS_REQUIRE_LAUNCH") == "1":
        pytest.fail(f"BC_ROS_REQUIRE_LAUNCH=1 but {problem}")
    if problem:
        pytest.skip(problem)
    return str(ROS2)


_domains = itertools.count(1)


@pytest.fixture
def ros_env(tmp_path):
    """The environment of this test's launches: a ROS domain of its own (not the suite's, not
    an earlier test's), discovery on this machine only, ROS logs under tmp_path."""
    domain = 1 + (os.getpid() + next(_domains)) % 100
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path / "ros_log"), PYTHONUNBUFFERED="1",
               PATH=f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


def _terminal_sigint() -> None:
    """In the child before exec: SIGINT as a terminal gives it (default action, not blocked).
    Late in the whole suite `ros2 launch` ignored the test's Ctrl-C while its nodes obeyed it
    (no "user interrupted" line; respawn restarted the nodes), as if it had inherited an
    ignored or blocked SIGINT from the pytest process; alone, these tests pass."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class Launch:
    """`ros2 launch bc_ros FILE ARGS...` in a process group of its own, output in a file."""

    def __init__(self, ros2: str, file: str, args, env: dict, log: pathlib.Path):
        self.name = file
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen([ros2, "launch", "bc_ros", file, *args], env=env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=_terminal_sigint)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} ended early (exit {self.proc.returncode}):\n"
                                 f"{self.output()}")

    def interrupt(self, times: int = 1, gap: float = 0.05) -> float:
        """Ctrl-C to the whole process group (``times`` SIGINTs, ``gap`` s apart); returns the
        seconds until ros2 launch exited."""
        start = time.monotonic()
        for i in range(times):
            if i:
                time.sleep(gap)
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} still ran {STOP_TIMEOUT} s after Ctrl-C:\n"
                                 f"{self.output()}")
        return time.monotonic() - start

    def assert_clean_exit(self) -> None:
        """Every process launch started exited 0 ("finished cleanly"), no traceback."""
        out = self.output()
        started = re.findall(r"process started with pid \[(\d+)\]", out)
        clean = re.findall(r"process has finished cleanly \[pid (\d+)\]", out)
        assert started, out
        assert sorted(clean) == sorted(started), out
        assert "Traceback" not in out and "process has died" not in out, out
        assert self.proc.returncode == 0, out

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


@pytest.fixture
def launch(ros2_launch, ros_env, tmp_path):
    """launch(file, *args) -> Launch; whatever still runs at the end is killed."""
    started = []

    def start(file, *args):
        started.append(Launch(ros2_launch, file, args, ros_env,
                              tmp_path / f"{file}.{len(started)}.log"))
        return started[-1]

    yield start
    for item in started:
        if item.proc.poll() is None:
            item.kill()


class Probe:
    """An rclpy node in this test's domain that waits for the launched graph."""

    def __init__(self, domain: int):
        import rclpy

        from test.nodes.helpers import make_executor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("launch_probe", context=self.context)
        self.executor = make_executor(self.context, self.node)
        self.inboxes = {}

    def subscribe(self, msg_type, topic: str, qos):
        from test.nodes.helpers import Inbox

        if topic not in self.inboxes:
            self.inboxes[topic] = Inbox(self.node, msg_type, topic, qos)
        return self.inboxes[topic]

    def wait(self, predicate, what: str, *launches: Launch, timeout: float = START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not predicate():
            for item in launches:
                item.check_running()
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {item.name}:\n{item.output()[-3000:]}"
                                  for item in launches)
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tails}")
            self.executor.spin_once(timeout_sec=0.05)

    def wait_for_nodes(self, names, *launches: Launch) -> None:
        self.wait(lambda: set(names) <= set(self.node.get_node_names()),
                  f"nodes {sorted(names)}", *launches)

    def wait_for_message(self, msg_type, topic, qos, *launches: Launch, predicate=None):
        inbox = self.subscribe(msg_type, topic, qos)
        found = []

        def arrived():
            found.extend(m for m in inbox.messages[len(found):] if predicate is None
                         or predicate(m))
            return bool(found)

        self.wait(arrived, f"a message on {topic}", *launches)
        return found[0]

    def rate(self, msg_type, topic: str, qos, *launches: Launch, count: int = 15) -> float:
        """Messages per second on ``topic``: one over the median gap between ``count`` messages'
        header stamps (the sim's clock; a dropped message does not move the median), or between
        their arrival times for a message without a header."""
        got, arrivals = [], []

        def keep(msg):
            got.append(msg)
            arrivals.append(time.monotonic())

        sub = self.node.create_subscription(msg_type, topic, keep, qos)
        try:
            self.wait(lambda: len(got) >= count, f"{count} messages on {topic}", *launches)
        finally:
            self.node.destroy_subscription(sub)
        if hasattr(got[0], "header"):
            times = [m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in got]
        else:
            times = arrivals
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        return 1.0 / gaps[len(gaps) // 2]

    def call(self, srv_type, name: str, *launches: Launch):
        client = self.node.create_client(srv_type, name)
        self.wait(client.service_is_ready, f"service {name}", *launches)
        future = client.call_async(srv_type.Request())
        self.wait(future.done, f"the answer of {name}", *launches)
        return future.result()

    def close(self) -> None:
        from test.nodes.helpers import close

        close(self.executor)
        self.rclpy.try_shutdown(context=self.context)


@pytest.fixture
def probe(ros2_launch, ros_env):
    made = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    yield made
    made.close()


@pytest.fixture(scope="session")
def drone_checkpoint(tmp_path_factory):
    """A policy trained by `bc-ros train` (2 steps) on a tiny dataset shaped like the drone
    sim's recordings (three 96x96 cameras, odometry, four velocities): it loads where the
    launch files start sim_node with config/sim_drone.yaml."""
    import numpy as np

    from bc_ros.cli import main
    from bc_ros.core.data.recording import RecorderConfig
    from bc_ros.core.data.store import EpisodeStore

    root = tmp_path_factory.mktemp("drone_policy")
    cfg = RecorderConfig(dataset=str(root / "data"), record_executed=False)
    store = EpisodeStore(cfg.dataset, cfg.features(), info=cfg.dataset_info())
    rng = np.random.default_rng(0)
    n = len(cfg.streams)
    for _ in range(2):
        writer = store.begin({"task": "trail"})
        for t in range(8):
            row = {f"image_{c}": rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
                   for c in cfg.cameras}
            row.update(state=rng.normal(size=8).astype(np.float32),
                       action=rng.normal(size=4).astype(np.float32), time=0.1 * t,
                       stamps=np.zeros(n), skew=np.zeros(n, np.float32),
                       flags=np.zeros(n, np.uint8))
            writer.append(row)
        writer.finish(success=True)
    rc = main(["train", "--dataset", cfg.dataset, "--out", str(root / "run"), "--steps", "2",
               "--val-every", "2", "--batch-size", "4", "--cameras", "center", "--no-progress",
               "--encoder", '{"channels": [8], "keypoints": 4, "embed_dim": 16}',
               "--head", "gaussian", "--head-options", '{"hidden": 16}'])
    assert rc == 0
    return str(root / "run" / "last.pt")


def declared_arguments(path) -> dict[str, str]:
    """name -> description of every DeclareLaunchArgument, loaded in this process."""
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    source = PythonLaunchDescriptionSource(str(path))
    description = source.get_launch_description(LaunchContext())
    return {e.name: e.description for e in description.entities
            if isinstance(e, DeclareLaunchArgument)}


# launch_ros 0.28 reads its extensions with an importlib.metadata API that Python 3.11 deprecates
@pytest.mark.filterwarnings("ignore:SelectableGroups dict interface:DeprecationWarning")
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_show_args_lists_every_argument_with_a_description(ros2_launch, ros_env, path):
    declared = declared_arguments(path)
    assert declared and all(declared.values()), declared
    out = subprocess.run([ros2_launch, "launch", "bc_ros", path.name, "--show-args"],
                         env=ros_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    shown = dict(re.findall(r"^    '(\w+)':\n        (.+)$", out.stdout, re.MULTILINE))
    assert set(shown) == set(declared), out.stdout
    for name, description in shown.items():
        assert description.strip() and not description.lstrip().startswith("(default"), name


def test_ros2_finds_the_executables(ros2_launch, ros_env):
    out = subprocess.run([ros2_launch, "pkg", "executables", "bc_ros"], env=ros_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert set(re.findall(r"^bc_ros (\S+)$", out.stdout, re.MULTILINE)) == entry_points()
    out = subprocess.run([ros2_launch, "run", "bc_ros", "bc-ros", "--help"], env=ros_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "install-ros-files" in out.stdout, out.stderr


# Each test: the nodes appear and a message shows they work, then Ctrl-C.
@pytest.mark.slow
@pytest.mark.parametrize("file, args, nodes, command_topic, sigints", [
    ("sim_drone.launch.py", ["expert_drives:=true"], {"sim"}, "/expert/cmd", 1),
    ("sim_arm.launch.py", ["teleop:=true", "use_sim_time:=true"], {"sim", "teleop"},
     "/expert/cmd", 2),     # the teleop's expert/cmd (config/teleop_arm.yaml: 20 Hz), alone
], ids=["sim_drone", "sim_arm"])
def test_sim_launch_publishes_cameras_and_stops_on_ctrl_c(launch, probe, file, args, nodes,
                                                          command_topic, sigints):
    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import COMMAND_QOS, SENSOR_QOS

    sim = launch(file, *args)
    probe.wait_for_nodes(nodes, sim)
    image = probe.wait_for_message(conv.Image, "/camera/center/image_raw", SENSOR_QOS, sim)
    assert (image.width, image.height) == (96, 96)
    # the configured rate (config/sim_*.yaml: 10 Hz), within 20 %
    assert probe.rate(conv.Image, "/camera/center/image_raw", SENSOR_QOS, sim) == pytest.approx(
        10.0, rel=0.2)
    command_hz = 20.0 if "teleop" in nodes else 10.0
    assert probe.rate(conv.Twist, command_topic, COMMAND_QOS, sim) == pytest.approx(command_hz,
                                                                                    rel=0.2)
    # one expert: with teleop the sim's scripted expert stays off expert/cmd
    assert probe.node.count_publishers(command_topic) == 1
    assert sim.interrupt(times=sigints) < STOP_TIMEOUT
    sim.assert_clean_exit()


@pytest.mark.slow
def test_record_launch_saves_the_interrupted_episode(launch, probe, tmp_path):
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from bc_ros.core.data.store import EpisodeStore
    from bc_ros.nodes.runtime import LATCHED_QOS

    dataset = tmp_path / "demos"
    sim = launch("sim_drone.launch.py", "expert_drives:=true")
    # the sim's scripted expert is the expert here: no teleop on expert/cmd beside it
    record = launch("record.launch.py", f"dataset:={dataset}", "task:=trail", "teleop:=false")
    probe.wait_for_nodes({"sim", "recorder"}, sim, record)
    answer = probe.call(Trigger, "/recorder/start_episode", sim, record)
    assert answer.success, answer.message
    probe.wait_for_message(String, "/recorder/status", LATCHED_QOS, sim, record,
                           predicate=lambda m: json.loads(m.data)["ticks"] >= 5)
    assert probe.node.count_publishers("/expert/cmd") == 1     # discovered by now
    assert record.interrupt(times=2) < STOP_TIMEOUT     # the terminal's SIGINT, then launch's
    record.assert_clean_exit()
    sim.interrupt()
    sim.assert_clean_exit()

    store = EpisodeStore(str(dataset))
    assert store.recovered == [] and store.quarantined == []   # finished, not salvaged
    (episode,) = store.episodes
    assert episode["success"] is False and episode["counts"]["stopped_by_shutdown"] == 1
    assert episode["length"] >= 5
    data = store.read(episode["index"])
    assert data["image_center"].shape == (episode["length"], 96, 96, 3)
    assert episode["task"] == "trail"


@pytest.mark.slow
def test_record_launch_takes_a_robot_profile(launch, probe, tmp_path):
    """The README's own-robot recipe on the arm sim: a profile with one compressed camera and
    two of the arm's joints, in reverse order; the episode holds them in the profile's order."""
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from bc_ros.core.data.store import EpisodeStore
    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import LATCHED_QOS, SENSOR_QOS

    profile = tmp_path / "two_joints.yaml"
    profile.write_text("""
name: two_joints
control_rate_hz: 10.0
cameras: [{name: center, transport: compressed, width: 96, height: 96}]
state: {type: joint_state, topic: joint_states, joints: [panda_joint3, panda_joint1]}
command: {type: twist, actions: [vx, vy, vz], low: [-0.25, -0.25, -0.25],
          high: [0.25, 0.25, 0.25]}
""")
    dataset = tmp_path / "demos"
    joints = probe.subscribe(conv.JointState, "/joint_states", SENSOR_QOS)
    sim = launch("sim_arm.launch.py", "expert_drives:=true", "image_transport:=compressed")
    record = launch("record.launch.py", f"robot:={profile}", f"dataset:={dataset}",
                    "teleop:=false")
    probe.wait_for_nodes({"sim", "recorder"}, sim, record)
    assert probe.call(Trigger, "/recorder/start_episode", sim, record).success
    probe.wait_for_message(String, "/recorder/status", LATCHED_QOS, sim, record,
                           predicate=lambda m: json.loads(m.data)["ticks"] >= 5)
    assert record.interrupt(times=2) < STOP_TIMEOUT
    record.assert_clean_exit()
    sim.interrupt()
    sim.assert_clean_exit()

    store = EpisodeStore(str(dataset))
    (episode,) = store.episodes
    assert store.meta["info"]["robot_profile"]["name"] == "two_joints"
    assert store.meta["info"]["joint_names"] == ["panda_joint3", "panda_joint1"]
    data = store.read(episode["index"])
    assert data["image_center"].shape[1:] == (96, 96, 3) and data["state"].shape[1] == 2
    sent = {round(conv.time_from_msg(m.header.stamp), 6): m for m in joints.messages}
    col = list(store.meta["info"]["streams"]).index("state")
    checked = 0
    for row, stamp in zip(data["state"], data["stamps"][:, col]):
        msg = sent.get(round(float(stamp), 6))
        if msg is not None:
            by_name = dict(zip(msg.name, msg.position))
            assert row == pytest.approx([by_name["panda_joint3"], by_name["panda_joint1"]],
                                        abs=1e-6)
            checked += 1
    assert checked >= 3


def policy_driving_the_sim(launch, probe, checkpoint):
    """policy.launch.py with its sim in lockstep on sim time, once commands reach /cmd."""
    from bc_ros.nodes import conversions as conv
    from bc_ros.nodes.runtime import COMMAND_QOS

    policy = launch("policy.launch.py", f"checkpoint:={checkpoint}", "sim:=true",
                    "mode:=lockstep", "use_sim_time:=true", "cmd_topic:=cmd")
    probe.wait_for_nodes({"policy", "sim"}, policy)
    probe.wait_for_message(conv.TwistStamped, "/cmd", COMMAND_QOS, policy)
    return policy


@pytest.mark.slow
def test_policy_launch_drives_the_sim_in_lockstep(launch, probe, drone_checkpoint):
    policy = policy_driving_the_sim(launch, probe, drone_checkpoint)
    assert policy.interrupt() < STOP_TIMEOUT
    policy.assert_clean_exit()


@pytest.mark.slow
def test_a_killed_policy_node_is_restarted_and_drives_again(launch, probe, drone_checkpoint):
    policy = policy_driving_the_sim(launch, probe, drone_checkpoint)
    (pid,) = [int(p) for p in re.findall(r"\[policy_node-\d+\]: process started with pid "
                                          r"\[(\d+)\]", policy.output())]
    os.kill(pid, signal.SIGKILL)                       # a crash, not a shutdown
    probe.wait(lambda: len(re.findall(r"policy_node-\d+\]: process started with pid",
                                      policy.output())) == 2, "the restart", policy)
    before = len(probe.inboxes["/cmd"].messages)
    probe.wait(lambda: len(probe.inboxes["/cmd"].messages) > before + 2,
               "commands from the restarted policy", policy)
    assert policy.interrupt() < STOP_TIMEOUT


@pytest.mark.slow
def test_dagger_launch_mixes_policy_and_sim_expert(launch, probe, drone_checkpoint):
    from std_msgs.msg import Int8

    from bc_ros.nodes.runtime import COMMAND_QOS

    dagger = launch("dagger.launch.py", "expert:=sim", "mode:=beta", "round:=2", "sim:=true",
                    "use_sim_time:=true", f"checkpoint:={drone_checkpoint}")
    probe.wait_for_nodes({"dagger", "sim", "policy"}, dagger)
    probe.wait_for_message(Int8, "/dagger/control", COMMAND_QOS, dagger)
    assert dagger.interrupt(times=2) < STOP_TIMEOUT
    dagger.assert_clean_exit()


@pytest.mark.slow
def test_demo_launch_records_who_drove_until_ctrl_c(launch, probe, drone_checkpoint, tmp_path):
    from std_msgs.msg import String

    from bc_ros.core.data.store import EpisodeStore
    from bc_ros.nodes.runtime import LATCHED_QOS

    dataset = tmp_path / "dagger"
    demo = launch("demo.launch.py", f"checkpoint:={drone_checkpoint}", f"dataset:={dataset}")
    probe.wait_for_nodes({"sim", "policy", "dagger", "recorder"}, demo)
    probe.wait_for_message(String, "/recorder/status", LATCHED_QOS, demo,
                           predicate=lambda m: json.loads(m.data)["ticks"] >= 3)
    assert demo.interrupt(times=2) < STOP_TIMEOUT
    demo.assert_clean_exit()
    store = EpisodeStore(str(dataset))
    assert store.episodes and store.recovered == [], demo.output()
    for episode in store.episodes:       # who drove, at every tick of every episode
        assert len(store.read(episode["index"], ["control"])["control"]) == episode["length"]
    # the episode under way was saved, unless Ctrl-C came just as a sim episode ended
    assert (store.episodes[-1]["counts"].get("stopped_by_shutdown") == 1
            or "had no ticks and was dropped" in demo.output()), demo.output()


# ---- the robot's way: colcon build, source, ros2 run / ros2 launch ----------------------------
def copy_package(dest: pathlib.Path) -> None:
    """The package's sources as a workspace checkout has them (no venv, runs or caches)."""
    top = {".venv", ".git", "runs", "data", "results", "build", "install", "log"}
    anywhere = shutil.ignore_patterns("*.egg-info", "__pycache__", ".pytest_cache")

    def skip(folder, names):
        return set(anywhere(folder, names)) | (top & set(names) if folder == str(ROOT) else set())

    shutil.copytree(ROOT, dest, ignore=skip)


@pytest.mark.slow
def test_colcon_build_gives_ros2_run_and_launch(ros2_launch, ros_env, tmp_path):
    """The README's robot section: colcon build in a workspace, source install/setup.sh, then
    ros2 finds bc_ros there (not the venv's), every executable answers --help with its
    parameters, and every launch file lists its arguments."""
    colcon = SCRIPTS / "colcon" if (SCRIPTS / "colcon").exists() else shutil.which("colcon")
    if not colcon:
        problem = "no colcon (pip install colcon-core colcon-ros colcon-python-setup-py)"
        if os.environ.get("BC_ROS_REQUIRE_LAUNCH") == "1":
            pytest.fail(f"BC_ROS_REQUIRE_LAUNCH=1 but {problem}")
        pytest.skip(problem)
    ws = tmp_path / "ws"
    copy_package(ws / "src" / "bc_ros")
    built = subprocess.run([str(colcon), "build"], cwd=ws, env=ros_env, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    install = ws / "install" / "bc_ros"
    executables = sorted(entry_points() - {"bc-ros"})
    script = " && ".join(
        [". install/setup.sh", "ros2 pkg prefix bc_ros",
         "python3 -c 'import bc_ros; print(bc_ros.__file__)'"]
        + [f"ros2 run bc_ros {exe} --help" for exe in executables]
        + [f"ros2 launch bc_ros {path.name} --show-args" for path in LAUNCH_FILES])
    out = subprocess.run(["bash", "-c", script], cwd=ws, env=ros_env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == str(install), out.stdout
    assert lines[1].startswith(str(install / "lib")), out.stdout
    for exe in executables:
        assert f"usage: ros2 run bc_ros {exe}" in out.stdout, exe
    assert out.stdout.count("parameters:") == len(executables)
    assert out.stdout.count("Arguments (pass arguments as '<name>:=<value>'):") == len(
        LAUNCH_FILES), out.stdout


# ---- the two ways in stay in step: launch files, the pip-path launcher, the README -----------
# Each launch argument says how `bc-ros` offers the same: an option of the sub-command
# ("--name"), a node parameter through --ros-args ("-p name": must be a field of the node's
# config), a remapping or parameter file through --ros-args ("ros-args"), or another sub-command.
# Each option of the sub-command says which launch argument (or node parameter) it matches, or
# why the launch file has none. A new argument on either side fails here until it is placed.
SIM_LAUNCH_TO_PIP = {
    "task": "--task", "seed": "--seed", "image_width": "--image-size",
    "image_height": "--image-size", "mode": "--lockstep", "rate_hz": "--rate",
    "expert_drives": "--expert", "use_sim_time": "--sim-time", "command_type": "--command-type",
    "cmd_topic": "ros-args", "namespace": "ros-args", "config": "ros-args",
    "teleop": "bc-ros teleop", "image_transport": "--image-transport",
}
SIM_PIP_TO_LAUNCH = {
    "robot": "the launch file (sim_drone / sim_arm)", "--task": "task", "--seed": "seed",
    "--episodes": "-p episodes", "--expert": "expert_drives", "--noise-std": "-p expert_noise_std",
    "--lockstep": "mode", "--rate": "rate_hz", "--image-size": "image_width",
    "--sim-time": "use_sim_time", "--command-type": "command_type",
    "--image-transport": "image_transport",
    "--snapshot": "a bc-ros tool (PNG snapshots for the README), no node parameter",
    "--snapshot-step": "a bc-ros tool (PNG snapshots for the README), no node parameter",
    "--ros-args": "ros-args",
}
POLICY_LAUNCH_TO_PIP = {
    "checkpoint": "--checkpoint", "mode": "--lockstep", "rate_hz": "--rate",
    "use_sim_time": "--sim-time", "resize_images": "--resize", "cmd_topic": "--cmd-topic",
    "backend": "--backend", "enabled": "-p enabled", "command_type": "-p command_type",
    "state_topic": "-p state_topic", "namespace": "ros-args", "config": "ros-args",
    "sim": "bc-ros sim", "sim_config": "bc-ros sim", "image_transport": "-p image_transport",
    "robot": "-p robot",
}
POLICY_PIP_TO_LAUNCH = {
    "--checkpoint": "checkpoint", "--lockstep": "mode", "--rate": "rate_hz",
    "--sim-time": "use_sim_time", "--resize": "resize_images", "--cmd-topic": "cmd_topic",
    "--low": "-p low", "--high": "-p high", "--threads": "-p torch_threads",
    "--backend": "backend", "--ros-args": "ros-args",
}


def subcommand_options(name: str) -> set[str]:
    from bc_ros.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions).choices[name]
    return {a.option_strings[0] if a.option_strings else a.dest for a in sub._actions
            if a.dest != "help"}


@pytest.mark.filterwarnings("ignore:SelectableGroups dict interface:DeprecationWarning")
@pytest.mark.parametrize("files, command, to_pip, to_launch, config", [
    (["sim_drone.launch.py", "sim_arm.launch.py"], "sim", SIM_LAUNCH_TO_PIP, SIM_PIP_TO_LAUNCH,
     "bc_ros.core.sim.session:SimConfig"),
    (["policy.launch.py"], "policy", POLICY_LAUNCH_TO_PIP, POLICY_PIP_TO_LAUNCH,
     "bc_ros.nodes.policy.node:PolicyNodeConfig"),
], ids=["sim", "policy"])
def test_launch_arguments_and_the_pip_launcher_offer_the_same(ros2_launch, files, command,
                                                             to_pip, to_launch, config):
    import dataclasses
    import importlib

    module, cls = config.split(":")
    fields = {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}
    options = subcommand_options(command)
    for file in files:
        declared = set(declared_arguments(ROOT / "launch" / file))
        assert declared == set(to_pip), (file, declared ^ set(to_pip))
    assert options == set(to_launch), options ^ set(to_launch)
    for way in [*to_pip.values(), *to_launch.values()]:
        if way.startswith("-p "):
            assert way[3:] in fields, f"{way}: no {cls} field {way[3:]!r}"
    for arg, way in to_pip.items():
        if way.startswith("--"):
            assert way in options, f"launch argument {arg}: bc-ros {command} has no {way}"
    for option, way in to_launch.items():
        if " " not in way and way != "ros-args":
            assert way in declared, f"bc-ros {command} {option}: no launch argument {way}"


@pytest.mark.filterwarnings("ignore:SelectableGroups dict interface:DeprecationWarning")
def test_the_readme_robot_section_uses_only_what_exists(ros2_launch):
    """Every `ros2 launch` / `ros2 run` line of the README names a launch file, its declared
    arguments, an executable and its node's parameters."""
    import dataclasses
    import importlib

    readme = (ROOT / "README.md").read_text()
    configs = {"sim_node": "bc_ros.core.sim.session:SimConfig",
               "policy_node": "bc_ros.nodes.policy.node:PolicyNodeConfig",
               "recorder_node": "bc_ros.nodes.recorder_node:RecorderNodeConfig",
               "teleop_node": "bc_ros.nodes.teleop_node:TeleopConfig",
               "dagger_node": "bc_ros.nodes.dagger_node:DaggerNodeConfig"}
    launches = re.findall(r"ros2 launch bc_ros (\S+\.launch\.py)((?: [\w]+:=\S+)*)", readme)
    assert len(launches) >= 5, launches
    for file, args in launches:
        declared = declared_arguments(ROOT / "launch" / file)
        for name in re.findall(r"(\w+):=", args):
            assert name in declared, f"README: {file} has no argument {name}"
    runs = re.findall(r"ros2 run bc_ros (\w+)((?: --ros-args)?(?: -p [\w]+:=\S+)*)", readme)
    assert runs, "the README shows no ros2 run line"
    for exe, args in runs:
        assert exe in configs, f"README: no executable {exe}"
        module, cls = configs[exe].split(":")
        fields = {f.name for f in dataclasses.fields(
            getattr(importlib.import_module(module), cls))}
        for name in re.findall(r"-p (\w+):=", args):
            assert name in fields, f"README: {exe} has no parameter {name}"
