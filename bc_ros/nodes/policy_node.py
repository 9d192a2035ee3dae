"""policy_node: a trained policy driving a robot or a sim (``ros2 run bc_ros policy_node``).

The node, its parameters, topics and services are documented in ``bc_ros.nodes.policy.node``;
its parts are in ``bc_ros.nodes.policy``. This module keeps the entry point and the names other
code imports.
"""

from bc_ros.nodes.policy.node import PolicyNode, PolicyNodeConfig, main

__all__ = ["PolicyNode", "PolicyNodeConfig", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
