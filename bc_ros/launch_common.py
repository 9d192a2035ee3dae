"""Pieces shared by the launch files in launch/ (imported only by them: needs `launch`)."""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
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
        DeclareLaunchArgument("mode", default_value="realtime",
                              description="realtime or lockstep (one step per cmd)"),
        DeclareLaunchArgument("rate_hz", default_value="0.0",
                              description="realtime steps per second (0: the sim's own rate)"),
        DeclareLaunchArgument("expert_drives", default_value="false",
                              description="the scripted expert flies/drives the robot"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="publish /clock from the sim and stamp with sim time"),
        DeclareLaunchArgument("command_type", default_value="twist",
                              description="cmd type: twist, twist_stamped, "
                                          "float64_multi_array, joint_state"),
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
            "mode": lc("mode"),
            "rate_hz": ParameterValue(lc("rate_hz"), value_type=float),
            "expert_drives": ParameterValue(lc("expert_drives"), value_type=bool),
            "publish_clock": ParameterValue(lc("use_sim_time"), value_type=bool),
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


def record_launch() -> LaunchDescription:
    """recorder_node (and optionally teleop_node) against a robot's or a sim's topics."""
    lc = LaunchConfiguration
    args = [
        DeclareLaunchArgument("config", default_value=config_path("recorder.yaml"),
                              description="recorder_node parameter file (config/*.yaml)"),
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
        DeclareLaunchArgument("state_topic", default_value="odom",
                              description="odometry or joint_states topic of the robot"),
    ]
    recorder = Node(
        package="bc_ros", executable="recorder_node", name="recorder",
        namespace=lc("namespace"), output="screen",
        parameters=[lc("config"), {"dataset": lc("dataset"), "task": lc("task"),
                                   "use_sim_time": ParameterValue(lc("use_sim_time"),
                                                                  value_type=bool)}],
        remappings=[("expert/cmd", lc("expert_cmd_topic")), ("odom", lc("state_topic")),
                    ("joint_states", lc("state_topic"))],
    )
    teleop = Node(
        package="bc_ros", executable="teleop_node", name="teleop", namespace=lc("namespace"),
        output="screen", condition=IfCondition(lc("teleop")),
        parameters=[lc("teleop_config")],
        remappings=[("expert/cmd", lc("expert_cmd_topic"))],
    )
    return LaunchDescription([*args, recorder, teleop])
