"""Run a trained policy as a ROS 2 node (policy_node).

    ros2 launch bc_ros policy.launch.py checkpoint:=/data/trail.pt
    ros2 launch bc_ros policy.launch.py checkpoint:=trail.pt mode:=lockstep use_sim_time:=true \
        cmd_topic:=cmd        # drive sim_drone.launch.py mode:=lockstep use_sim_time:=true
    ros2 launch bc_ros policy.launch.py checkpoint:=trail.pt sim:=true mode:=lockstep \
        use_sim_time:=true cmd_topic:=cmd   # the sim variant: sim_node started here too

Subscribes to the checkpoint's cameras (camera/<name>/image_raw) and state (odom or
joint_states); publishes policy/cmd and /diagnostics. Services ~/reset, ~/enable (SetBool),
~/load_checkpoint (set the checkpoint parameter first). Command limits: config/policy.yaml
(drone defaults). `--show-args` lists every argument.
"""

from bc_ros.sessions.launch_descriptions import policy_launch


def generate_launch_description():
    return policy_launch()
