"""ament_python package setup. Works under colcon (ROS 2 distro) and plain pip.

The ROS 2 Python packages (rclpy, message packages) are *not* in install_requires: a ROS 2 distro
provides them, and the PyPI wheels would shadow the distro's. The pip path installs them from
requirements.txt instead.
"""

from glob import glob

from setuptools import find_packages, setup

package_name = "bc_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={"bc_ros.core.sim": ["assets/*.urdf", "assets/*/*"],
                  "bc_ros.nodes": ["*.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml")),
        (f"share/{package_name}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{package_name}/config/security", glob("config/security/*.xml")),
    ],
    install_requires=["setuptools", "numpy", "pyyaml", "pybullet", "opencv-python-headless"],
    zip_safe=False,
    maintainer="bc_ros maintainers",
    maintainer_email="maintainers@users.noreply.b-seed-9fb3202b.example",
    description="Imitation learning (BC, DAgger) on ROS 2 robots, with PyBullet sims.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "bc-ros = bc_ros.cli:main",
            "sim_node = bc_ros.nodes.sim_node:main",
            "teleop_node = bc_ros.nodes.teleop_node:main",
            "recorder_node = bc_ros.nodes.recorder_node:main",
            "dagger_node = bc_ros.nodes.dagger_node:main",
            "policy_node = bc_ros.nodes.policy_node:main",
        ],
    },
)
