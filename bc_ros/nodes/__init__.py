"""rclpy adapters: one module per node, thin wrappers over bc_ros.core."""
