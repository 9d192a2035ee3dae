"""Suite-wide setup: ROS 2 stays on this machine and on a domain of its own for each run."""

import os
import sys

import pytest

# Set before anything imports rclpy. Kilted ignores ROS_LOCALHOST_ONLY.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
# The pip path: ROS 2 finds this venv's packages (the wheels' share/ament_index, bc_ros's marker
# from `make venv`) through AMENT_PREFIX_PATH, as `ros2 launch` and get_package_share_directory
# do in a shell that exported it. A ROS 2 distro's own setting is kept, the venv goes first.
if os.path.isdir(os.path.join(sys.prefix, "share", "ament_index")):
    _paths = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if sys.prefix not in _paths:
        os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join([sys.prefix, *_paths])
# Tiny test models: torch's second intra-op thread made them up to 10x slower on 2 shared cores
# (the AR head's 60 training steps: 34 s with 2 threads, 3.6 s with 1).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Large images stay in shared memory (bc_ros/nodes/fastdds_large_data.xml), as bc-ros does.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bc_ros", "nodes",
    "fastdds_large_data.xml"))


@pytest.fixture
def ros_context():
    """An rclpy context of the test's own, shut down afterwards (no global init)."""
    rclpy = pytest.importorskip("rclpy")
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)
