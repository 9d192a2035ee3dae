"""policy_node in four parts, each testable without the others.

- ``node``: the rclpy node (``PolicyNode``), its parameters (``PolicyNodeConfig``) and the
  user-facing documentation of its topics and services;
- ``ticking``: when a tick or an observation leads to a command (ROS-free): the realtime
  stale-observation watchdog, the lockstep step, the resend of an undelivered command;
- ``inference``: the inference thread (ROS-free): jobs, results dropped once unwanted,
  checkpoint loading, preload and hot swap of the policy and its ensemble;
- ``diagnostics``: counts, achieved rates, inference times and the /diagnostics figures
  (ROS-free; the node turns them into a DiagnosticArray).

Only ``node`` imports rclpy; ``bc_ros.nodes.policy_node`` re-exports its public names.
"""
