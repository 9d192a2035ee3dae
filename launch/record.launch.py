"""Record demonstrations: recorder_node (+ teleop_node) on a robot's or a sim's topics.

    ros2 launch bc_ros record.launch.py dataset:=/data/trail task:=trail
    ros2 launch bc_ros record.launch.py config:=my_arm_recorder.yaml state_topic:=joint_states

Episodes start and stop by Joy buttons (config/recorder.yaml) or by the services
~/start_episode, ~/stop_episode (SetBool: success), ~/discard_episode.
"""

from bc_ros.sessions.launch_descriptions import record_launch


def generate_launch_description():
    return record_launch()
