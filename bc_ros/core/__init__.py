"""ROS-free core of bc_ros. Nothing under this package imports rclpy."""
