"""PyBullet simulations (drone on a forest trail, Franka Panda arm, Husky) with scripted experts.

Use ``make_env(robot, task, image_size=(w, h))``. Imports pybullet lazily so that modules that
only need the names (the CLI's argument parser, the nodes' parameter checks) start fast.
"""

from __future__ import annotations

from bc_ros.core.sim.base import (CAMERA_NAMES, EVAL_SEEDS, FAILURE_CAUSES, TRAIN_SEEDS,
                                  CameraSpec, SimEnv, eval_seeds, train_seeds)

# robot -> (module, class name, tasks). The tasks are repeated here so that validating a name does
# not import pybullet; a unit test checks they agree with the classes.
ROBOTS = {
    "drone": ("bc_ros.core.sim.drone", "DroneEnv", ("trail", "bypass")),
    "arm": ("bc_ros.core.sim.arm", "ArmEnv", ("reach_around", "push", "reach_goal", "play")),
    "husky": ("bc_ros.core.sim.husky", "HuskyEnv", ("to_cube",)),
}


def check_robot_task(robot: str, task: str | None = None) -> None:
    """Raise ValueError naming the valid choices when ``robot`` or ``task`` is unknown."""
    if robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}; valid robots: {', '.join(ROBOTS)}")
    tasks = ROBOTS[robot][2]
    if task is not None and task not in tasks:
        raise ValueError(f"unknown {robot} task {task!r}; valid tasks: {', '.join(tasks)}")


def default_task(robot: str) -> str:
    check_robot_task(robot)
    return ROBOTS[robot][2][0]


def env_class(robot: str) -> type[SimEnv]:
    import importlib
    check_robot_task(robot)
    module, name, _ = ROBOTS[robot]
    return getattr(importlib.import_module(module), name)


def make_env(robot: str, task: str | None = None, **kwargs) -> SimEnv:
    """Build a sim. ``kwargs`` go to the env class (``image_size=(w, h)`` and robot options)."""
    task = task or default_task(robot)
    check_robot_task(robot, task)
    return env_class(robot)(task=task, **kwargs)


__all__ = ["CAMERA_NAMES", "EVAL_SEEDS", "FAILURE_CAUSES", "TRAIN_SEEDS", "CameraSpec", "SimEnv",
           "ROBOTS", "check_robot_task", "default_task", "env_class", "make_env", "eval_seeds",
           "train_seeds"]
