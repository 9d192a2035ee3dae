"""DAgger coordinator: dagger_node picks what the robot executes (cmd) from policy/cmd and
expert/cmd, and tells the recorder who was in control (dagger/control, dagger/label).

    # HG-DAgger: a human overrides with teleop_node (deadman / space), the drone sim runs too
    ros2 launch bc_ros dagger.launch.py expert:=teleop sim:=true checkpoint:=policy.pt
    # classic DAgger in sim: the scripted expert's command executes with probability beta
    ros2 launch bc_ros dagger.launch.py expert:=sim mode:=beta round:=2 sim:=true \
        use_sim_time:=true checkpoint:=policy.pt
    # HG-DAgger in sim: sim_node's simulated human takes over when the drone strays
    ros2 launch bc_ros dagger.launch.py expert:=sim mode:=human sim:=true checkpoint:=policy.pt

Record the rounds with record.launch.py (record_control: true). For the arm, pass
sim_config:=.../sim_arm.yaml teleop_config:=.../teleop_arm.yaml and a dagger config with
action_names [vx, vy, vz] and stop_command [0.0, 0.0, 0.0]. Services: /dagger/start_episode
(std_srvs/Trigger). `--show-args` lists every argument.
"""

from bc_ros.sessions.launch_descriptions import dagger_launch


def generate_launch_description():
    return dagger_launch()
