"""The Franka Panda arm simulation as a ROS 2 node.

    ros2 launch bc_ros sim_arm.launch.py task:=push expert_drives:=true
    ros2 launch bc_ros sim_arm.launch.py teleop:=true

Publishes camera/{left,center,right}/image_raw, joint_states, expert/cmd, sim/outcome (and
clock); executes cmd (end-effector velocity as a Twist). `--show-args` lists every argument.
"""

from bc_ros.sessions.launch_descriptions import sim_launch


def generate_launch_description():
    return sim_launch("arm", "reach_around", "sim_arm.yaml")
