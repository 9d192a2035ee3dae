"""Pieces shared by the launch files in launch/ (imported only by them: needs `launch`)."""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def config_path(name: str) -> str:
    """Path of config/<name> in the installed package share."""
    return os.path.join(get_package_share_directory("bc_ros"), "config", name)


def sim_launch(robot: str, default_task: str, config_file: str) -> LaunchDescription:
    """A sim node (and optionally a teleop node) with every argument declared and described."""
    args = [
        DeclareLaunchArgument("config", default_value=config_path(config_file),
                              description="sim_node parameter file (config/*.yaml)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace for every topic and service"),
        DeclareLaunchArgument("task", default_value=default_task,
                              description=f"{robot} task"),
        DeclareLaunchArgument("seed", default_value="0",
                              description="seed of the first episode (>= 1000000: held out)"),
        DeclareLaunchArgument("image_width", default_value="96",
                              description="camera width in pixels (32..640)"),
        DeclareLaunchArgument("image_height", default_value="96",
                              description="camera height in pixels (32..480)"),
        DeclareLaunchArgument("image_transport", default_value="raw",
                              choices=["raw", "compressed"],
                              description="raw (Image on camera/<name>/image_raw) or "
                                          "compressed (JPEG CompressedImage on "
                                          "camera/<name>/image_raw/compressed)"),
        DeclareLaunchArgument("mode", default_value="realtime",
                              description="realtime or lockstep (one step per cmd)"),
        DeclareLaunchArgument("rate_hz", default_value="0.0",
                              description="realtime steps per second (0: the sim's own rate)"),
        DeclareLaunchArgument("expert_drives", default_value="false",
                              description="the scripted expert flies/drives the robot"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="publish /clock from the sim and stamp with sim time"),
        DeclareLaunchArgument("command_type", default_value="twist",
                              description="cmd type: twist, twist_stamped (cmd_vel from "
                                          "Jazzy on), float64_multi_array (ros2_control "
                                          "forward_command_controller), joint_state, "
                                          "joint_trajectory (ros2_control "
                                          "joint_trajectory_controller); command_interface "
                                          "(velocity | position) is in the config file"),
        DeclareLaunchArgument("cmd_topic", default_value="cmd",
                              description="topic the sim executes commands from"),
        DeclareLaunchArgument("teleop", default_value="false",
                              description="also start teleop_node (joystick/keyboard)"),
    ]
    lc = LaunchConfiguration
    sim = Node(
        package="bc_ros", executable="sim_node", name="sim", namespace=lc("namespace"),
        output="screen",
        parameters=[lc("config"), {
            "robot": robot,
            "task": lc("task"),
            "seed": ParameterValue(lc("seed"), value_type=int),
            "image_width": ParameterValue(lc("image_width"), value_type=int),
            "image_height": ParameterValue(lc("image_height"), value_type=int),
            "image_transport": lc("image_transport"),
            "mode": lc("mode"),
            "rate_hz": ParameterValue(lc("rate_hz"), value_type=float),
            "expert_drives": ParameterValue(lc("expert_drives"), value_type=bool),
            "publish_clock": ParameterValue(lc("use_sim_time"), value_type=bool),
            # with teleop the human is the expert: the scripted one must not publish on
            # expert/cmd too (a recorder would store both, interleaved)
            "publish_expert": ParameterValue(PythonExpression(
                ["'", lc("teleop"), "'.lower() not in ('true', '1')"]), value_type=bool),
            "command_type": lc("command_type"),
        }],
        remappings=[("cmd", lc("cmd_topic"))],
    )
    teleop = Node(
        package="bc_ros", executable="teleop_node", name="teleop", namespace=lc("namespace"),
        output="screen", condition=IfCondition(lc("teleop")),
        parameters=[config_path(f"teleop_{robot}.yaml"), {"command_type": lc("command_type")}],
    )
    return LaunchDescription([*args, sim, teleop])


# A robot needs its recorder and policy back after a crash: a restarted recorder salvages the
# episode the crash cut (flagged ``recovered``); a restarted policy node loads the checkpoint
# ~/load_checkpoint last swapped in (``state_file``), else its ``checkpoint`` (the mux sends the
# stop command while it is away and hands back on its first fresh command). Not after a
# shutdown (Ctrl-C). Plain values: Humble's launch takes no substitution for them.
RESPAWN = {"respawn": True, "respawn_delay": 2.0}
# Where a policy node keeps the checkpoint it last hot-swapped in (its state_file), as ROS keeps
# logs: under ROS_HOME (default ~/.ros).
ROS_HOME = os.environ.get("ROS_HOME") or os.path.join(os.path.expanduser("~"), ".ros")


def image_transport_argument(when_empty: str) -> DeclareLaunchArgument:
    """``image_transport`` of a node that takes a robot profile: empty leaves it to the
    profile (a launch default would override the profile's)."""
    return DeclareLaunchArgument(
        "image_transport", default_value="", choices=["", "raw", "compressed"],
        description=f"cameras: raw (Image on camera/<name>/image_raw) or compressed (JPEG/PNG "
                    f"CompressedImage on camera/<name>/image_raw/compressed); empty: "
                    f"{when_empty}")


def record_launch() -> LaunchDescription:
    """recorder_node (and optionally teleop_node) against a robot's or a sim's topics."""
    lc = LaunchConfiguration
    args = [
        DeclareLaunchArgument("config", default_value=config_path("recorder.yaml"),
                              description="recorder_node parameter file (config/*.yaml)"),
        DeclareLaunchArgument("robot", default_value="drone",
                              description="robot profile: a shipped name (drone, arm) or a "
                                          "YAML path (cameras, state, command, rate)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace for every topic and service"),
        DeclareLaunchArgument("dataset", default_value="data/demos",
                              description="dataset folder (created, or resumed)"),
        DeclareLaunchArgument("task", default_value="", description="task string per episode"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="tick on /clock (with a sim that publishes it)"),
        DeclareLaunchArgument("teleop", default_value="true",
                              description="also start teleop_node (joystick/keyboard)"),
        DeclareLaunchArgument("teleop_config", default_value=config_path("teleop_drone.yaml"),
                              description="teleop_node parameter file"),
        DeclareLaunchArgument("expert_cmd_topic", default_value="expert/cmd",
                              description="where the expert's command (the label) arrives"),
        DeclareLaunchArgument("state_topic", default_value="",
                              description="the robot's state topic (empty: the profile's)"),
        image_transport_argument("the profile's"),
    ]
    recorder = Node(
        package="bc_ros", executable="recorder_node", name="recorder",
        namespace=lc("namespace"), output="screen", **RESPAWN,
        parameters=[lc("config"), {"robot": lc("robot"), "dataset": lc("dataset"),
                                   "task": lc("task"),
                                   "image_transport": lc("image_transport"),
                                   "state_topic": lc("state_topic"),
                                   "use_sim_time": ParameterValue(lc("use_sim_time"),
                                                                  value_type=bool)}],
        remappings=[("expert/cmd", lc("expert_cmd_topic"))],
    )
    teleop = Node(
        package="bc_ros", executable="teleop_node", name="teleop", namespace=lc("namespace"),
        output="screen", condition=IfCondition(lc("teleop")),
        parameters=[lc("teleop_config")],
        remappings=[("expert/cmd", lc("expert_cmd_topic"))],
    )
    return LaunchDescription([*args, recorder, teleop])


def policy_launch() -> LaunchDescription:
    """policy_node: a checkpoint driving a robot's or a sim's command topic."""
    lc = LaunchConfiguration
    args = [
        DeclareLaunchArgument("config", default_value=config_path("policy.yaml"),
                              description="policy_node parameter file (config/*.yaml; "
                                          "command limits live there)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace for every topic and service"),
        DeclareLaunchArgument("checkpoint", description="policy checkpoint (bc-ros train --out)"),
        DeclareLaunchArgument("robot", default_value="",
                              description="robot profile (a shipped name or a YAML path): "
                                          "limits, stop, topics; empty: the checkpoint's "
                                          "recording profile"),
        DeclareLaunchArgument("mode", default_value="realtime",
                              description="realtime (timer at rate_hz) or lockstep (one command "
                                          "per observation, with sim_node in lockstep)"),
        DeclareLaunchArgument("rate_hz", default_value="10.0",
                              description="control rate in realtime mode (the training rate)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="tick on /clock (with a sim that publishes it)"),
        DeclareLaunchArgument("enabled", default_value="true",
                              description="publish commands from the start (else ~/enable)"),
        DeclareLaunchArgument("resize_images", default_value="false",
                              description="resize camera images of another size than the "
                                          "checkpoint's (else refuse them)"),
        image_transport_argument("the profile's (raw without one); also the sim's"),
        DeclareLaunchArgument("cmd_topic", default_value="policy/cmd",
                              description="where commands go (cmd: drive the sim directly)"),
        DeclareLaunchArgument("state_topic", default_value="",
                              description="the robot's state topic (empty: the profile's, else "
                                          "odom / joint_states)"),
        DeclareLaunchArgument("command_type", default_value="",
                              description="command message type of policy_node (and of the "
                                          "sim with sim:=true; empty: the robot profile's, "
                                          "else the checkpoint's; with sim:=true "
                                          "twist_stamped): twist, twist_stamped "
                                          "(cmd_vel from Jazzy on), float64_multi_array "
                                          "(ros2_control forward_command_controller), "
                                          "joint_state, joint_trajectory (ros2_control "
                                          "joint_trajectory_controller; publish_chunk and "
                                          "command_interface are in the config file)"),
        DeclareLaunchArgument("backend", default_value="torch",
                              description="torch (eager) or onnxruntime (exported at load; "
                                          "faster at batch 1)"),
        DeclareLaunchArgument("sim", default_value="false",
                              description="also start sim_node in lockstep on sim time, driven "
                                          "by this policy (sets mode lockstep, cmd_topic cmd "
                                          "and use_sim_time yourself: see the docstring)"),
        DeclareLaunchArgument("sim_config", default_value=config_path("sim_drone.yaml"),
                              description="sim_node parameter file (sim:=true)"),
    ]
    policy = Node(
        package="bc_ros", executable="policy_node", name="policy", namespace=lc("namespace"),
        output="screen", **RESPAWN,
        parameters=[lc("config"), {
            "checkpoint": lc("checkpoint"),
            "robot": lc("robot"),
            "state_topic": lc("state_topic"),
            "mode": lc("mode"),
            "rate_hz": ParameterValue(lc("rate_hz"), value_type=float),
            "use_sim_time": ParameterValue(lc("use_sim_time"), value_type=bool),
            "enabled": ParameterValue(lc("enabled"), value_type=bool),
            "resize_images": ParameterValue(lc("resize_images"), value_type=bool),
            "image_transport": lc("image_transport"),
            "cmd_topic": lc("cmd_topic"),
            "command_type": PythonExpression(["'", lc("command_type"), "' or ('twist_stamped' if '",
                                              lc("sim"), "'.lower() in ('true', '1') else '')"]),
            "backend": lc("backend"),
            # a respawned node comes back with what ~/load_checkpoint last loaded
            "state_file": [ROS_HOME, "/bc_ros/policy_state", lc("namespace"), ".json"],
        }],
    )
    sim = Node(
        package="bc_ros", executable="sim_node", name="sim", namespace=lc("namespace"),
        output="screen", condition=IfCondition(lc("sim")),
        parameters=[lc("sim_config"), {"mode": "lockstep", "publish_clock": True,
                                       "expert_drives": False,
                                       "image_transport": PythonExpression(
                                           ["'", lc("image_transport"), "' or 'raw'"]),
                                       "command_type": PythonExpression(
                                           ["'", lc("command_type"), "' or 'twist_stamped'"])}],
    )
    return LaunchDescription([*args, policy, sim])


def dagger_launch() -> LaunchDescription:
    """dagger_node (the command mux), with the expert from teleop_node (a human overriding) or
    from sim_node's scripted expert; optionally the sim and a policy_node too."""
    lc = LaunchConfiguration
    args = [
        DeclareLaunchArgument("config", default_value=config_path("dagger.yaml"),
                              description="dagger_node parameter file (config/*.yaml; "
                                          "timeouts, beta schedule)"),
        DeclareLaunchArgument("robot", default_value="drone",
                              description="robot profile (a shipped name or a YAML path): "
                                          "action names, stop command, rate, command topic; "
                                          "also the policy's"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace for every topic and service"),
        DeclareLaunchArgument("expert", default_value="teleop", choices=["teleop", "sim"],
                              description="who publishes expert/cmd: teleop (a human with "
                                          "teleop_node, HG-DAgger) or sim (sim_node's scripted "
                                          "expert; with mode:=human its simulated human "
                                          "publishes expert/engaged)"),
        DeclareLaunchArgument("mode", default_value="human",
                              choices=["human", "beta", "uncertainty"],
                              description="gating: human override, beta mixing, or robot-gated "
                                          "requests (set uncertainty_threshold in the config and "
                                          "give policy_node an ensemble)"),
        DeclareLaunchArgument("round", default_value="0",
                              description="DAgger round: picks beta from the schedule"),
        DeclareLaunchArgument("seed", default_value="0",
                              description="seed of the beta-mode draws"),
        DeclareLaunchArgument("command_type", default_value="",
                              description="command type of policy/cmd, expert/cmd and cmd "
                                          "(empty: the robot profile's; teleop and sim: "
                                          "twist): "
                                          "twist, twist_stamped (cmd_vel from Jazzy on), "
                                          "float64_multi_array (ros2_control "
                                          "forward_command_controller), joint_state, "
                                          "joint_trajectory (ros2_control "
                                          "joint_trajectory_controller); command_interface "
                                          "(velocity | position) is in the config files"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="tick on /clock (the sim publishes it when started "
                                          "here)"),
        DeclareLaunchArgument("teleop_config", default_value=config_path("teleop_drone.yaml"),
                              description="teleop_node parameter file (expert:=teleop)"),
        DeclareLaunchArgument("sim", default_value="false",
                              description="also start sim_node, executing cmd"),
        DeclareLaunchArgument("sim_config", default_value=config_path("sim_drone.yaml"),
                              description="sim_node parameter file (sim:=true)"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="also start policy_node on policy/cmd with this "
                                          "checkpoint (empty: the policy runs elsewhere)"),
    ]
    use_sim_time = ParameterValue(lc("use_sim_time"), value_type=bool)
    or_twist = PythonExpression(["'", lc("command_type"), "' or 'twist'"])  # no profile there
    expert_is_sim = PythonExpression(["'", lc("expert"), "' == 'sim'"])
    # HG-DAgger in sim: nobody holds a deadman, so the sim's simulated human engages the expert
    simulated_human = PythonExpression(["'", lc("expert"), "' == 'sim' and '", lc("mode"),
                                        "' == 'human'"])
    dagger = Node(
        package="bc_ros", executable="dagger_node", name="dagger", namespace=lc("namespace"),
        output="screen",
        parameters=[lc("config"), {
            "robot": lc("robot"),
            "mode": lc("mode"),
            "round": ParameterValue(lc("round"), value_type=int),
            "seed": ParameterValue(lc("seed"), value_type=int),
            "command_type": lc("command_type"),
            "use_sim_time": use_sim_time,
        }],
    )
    teleop = Node(
        package="bc_ros", executable="teleop_node", name="teleop", namespace=lc("namespace"),
        output="screen", condition=IfCondition(PythonExpression(["'", lc("expert"),
                                                                 "' == 'teleop'"])),
        parameters=[lc("teleop_config"), {"command_type": or_twist,
                                          "use_sim_time": use_sim_time}],
    )
    sim = Node(
        package="bc_ros", executable="sim_node", name="sim", namespace=lc("namespace"),
        output="screen", condition=IfCondition(lc("sim")),
        parameters=[lc("sim_config"), {
            "expert_drives": False,
            # Only one expert may publish expert/cmd: the sim's stays quiet beside teleop_node.
            "publish_expert": ParameterValue(expert_is_sim, value_type=bool),
            "simulated_human": ParameterValue(simulated_human, value_type=bool),
            "publish_clock": use_sim_time,
            "command_type": or_twist,
        }],
    )
    policy = Node(
        package="bc_ros", executable="policy_node", name="policy", namespace=lc("namespace"),
        output="screen",
        condition=IfCondition(PythonExpression(["'", lc("checkpoint"), "' != ''"])),
        parameters=[config_path("policy.yaml"), {
            "checkpoint": lc("checkpoint"),
            "robot": lc("robot"),
            "cmd_topic": "policy/cmd",
            "command_type": lc("command_type"),
            "use_sim_time": use_sim_time,
        }],
    )
    return LaunchDescription([*args, dagger, teleop, sim, policy])


def demo_launch() -> LaunchDescription:
    """The graph ``bc-ros dagger`` (and the DAgger stage of ``bc-ros demo``) runs in one process,
    as separate processes: the drone sim in lockstep on sim time, the policy, the command mux
    (beta mixing, ticking once per sim instant) and the recorder storing who drove."""
    lc = LaunchConfiguration
    args = [
        DeclareLaunchArgument("checkpoint", description="policy checkpoint (bc-ros train)"),
        DeclareLaunchArgument("dataset", default_value="data/dagger",
                              description="where the recorder aggregates the episodes"),
        DeclareLaunchArgument("task", default_value="trail", description="drone task"),
        DeclareLaunchArgument("beta", default_value="0.5",
                              description="probability that the expert's command executes"),
        DeclareLaunchArgument("round", default_value="1", description="DAgger round tag"),
        DeclareLaunchArgument("seed", default_value="100000",
                              description="seed of the first world (training range)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace for every topic and service"),
    ]
    sim_time = {"use_sim_time": True}
    sim = Node(
        package="bc_ros", executable="sim_node", name="sim", namespace=lc("namespace"),
        output="screen",
        parameters=[config_path("sim_drone.yaml"), {
            "task": lc("task"), "seed": ParameterValue(lc("seed"), value_type=int),
            "mode": "lockstep", "publish_clock": True, "expert_drives": False,
            "command_type": "twist_stamped"}],
    )
    policy = Node(
        package="bc_ros", executable="policy_node", name="policy", namespace=lc("namespace"),
        output="screen",
        parameters=[config_path("policy.yaml"), {
            "checkpoint": lc("checkpoint"), "mode": "lockstep",
            "command_type": "twist_stamped", **sim_time}],
    )
    dagger = Node(
        package="bc_ros", executable="dagger_node", name="dagger", namespace=lc("namespace"),
        output="screen",
        parameters=[config_path("dagger.yaml"), {
            "mode": "beta", "beta": ParameterValue(lc("beta"), value_type=float),
            "round": ParameterValue(lc("round"), value_type=int), "trigger": "inputs",
            "wait_for_expert": True, "command_type": "twist_stamped", **sim_time}],
    )
    recorder = Node(
        package="bc_ros", executable="recorder_node", name="recorder",
        namespace=lc("namespace"), output="screen",
        parameters=[config_path("recorder.yaml"), {
            "dataset": lc("dataset"), "task": lc("task"), "record_control": True,
            "record_executed": False, "command_type": "twist_stamped", "auto_start": True,
            "source": "dagger", "round": ParameterValue(lc("round"), value_type=int),
            **sim_time}],
    )
    return LaunchDescription([*args, sim, policy, dagger, recorder])
