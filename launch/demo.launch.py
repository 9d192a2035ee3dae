"""The graph of `bc-ros dagger` / the DAgger stage of `bc-ros demo`, as separate processes.

    ros2 launch bc_ros demo.launch.py checkpoint:=runs/trail/last.pt dataset:=data/dagger beta:=0.5

sim_node (drone, lockstep, /clock) -> policy_node (lockstep) -> dagger_node (beta mixing, one
tick per sim instant) -> cmd -> sim_node; recorder_node stores every tick with who drove
(dagger/control) and the expert's label. Retraining between rounds is `bc-ros train` (or let
`bc-ros dagger` run the rounds unattended). `--show-args` lists every argument.
"""

from bc_ros.sessions.launch_descriptions import demo_launch


def generate_launch_description():
    return demo_launch()
