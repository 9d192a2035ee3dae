"""bc_ros: imitation learning on ROS 2 robots (record, augment, train, run, DAgger)."""

__version__ = "0.1.0"
