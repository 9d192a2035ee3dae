"""The drone forest-trail simulation as a ROS 2 node.

    ros2 launch bc_ros sim_drone.launch.py task:=bypass expert_drives:=true
    ros2 launch bc_ros sim_drone.launch.py mode:=lockstep use_sim_time:=true

Publishes camera/{left,center,right}/image_raw, odom, expert/cmd, sim/outcome (and clock);
executes cmd. `ros2 launch bc_ros sim_drone.launch.py --show-args` lists every argument.
"""

from bc_ros.sessions.launch_descriptions import sim_launch


def generate_launch_description():
    return sim_launch("drone", "trail", "sim_drone.yaml")
