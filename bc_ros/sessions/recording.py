"""``bc-ros record``: a sim flown by its scripted expert and a recorder, as two ROS 2 nodes.

Both nodes run in this process on one executor and talk over ROS 2 topics exactly as they would
as separate processes. The sim publishes /clock and stamps everything with sim time; the recorder
runs on sim time, so ticks and stamps line up exactly whatever the machine's speed.
"""

from __future__ import annotations

import time

from bc_ros.core.sim import make_env


def recorder_overrides_for(robot: str, task: str, dataset: str, image_size, env) -> dict:
    """Recorder parameters that match a sim: cameras and their poses, state, command layout."""
    specs = env.camera_specs()
    # the sim's profile (config/robots/<robot>.yaml) is stored with the dataset; the values
    # below are the sim's own, for any image size
    over = {"robot": robot, "dataset": dataset, "task": task, "cameras": [c.name for c in specs],
            "camera_yaw_deg": [float(c.yaw_deg) for c in specs],
            "camera_lateral_m": [float(c.lateral_offset) for c in specs],
            "image_width": image_size[0], "image_height": image_size[1],
            "action_names": list(env.action_names), "command_type": "twist_stamped",
            "rate_hz": 1.0 / env.control_dt, "record_executed": False}
    if task in env.goal_tasks:              # goal-labelled demonstrations
        over["goal_topic"] = "goal"
    if task in env.achieved_goal_tasks:     # what play is relabeled with
        over["achieved_goal_topic"] = "achieved_goal"
    if env.state_type == "odometry":
        over.update(state_type="odometry", state_dim=8)
    else:
        env.reset(0)  # joint_state() needs a built world
        over.update(state_type="joint_state", state_dim=len(env.joint_state()["name"]))
    return over


def record_with_expert(robot: str, task: str | None, episodes: int, dataset: str, seed: int = 0,
                       rate_hz: float = 30.0, noise_std: float = 0.0,
                       image_size=(96, 96), quiet: bool = False,
                       image_transport: str = "raw") -> dict:
    """Record ``episodes`` expert episodes. Returns the sim's outcomes and the stored summaries
    of the episodes recorded by this call. ``image_transport="compressed"``: the cameras go
    through JPEG (sensor_msgs/CompressedImage), as from a robot's image_transport."""
    import rclpy
    from rclpy.parameter import Parameter

    from bc_ros.core.sim import default_task
    from bc_ros.nodes.recorder_node import RecorderNode
    from bc_ros.nodes.runtime import make_executor
    from bc_ros.nodes.sim_node import SimNode

    task = task or default_task(robot)
    env = make_env(robot, task, image_size=image_size)
    rec_over = recorder_overrides_for(robot, task, dataset, image_size, env)
    env.close()
    rec_over.update(auto_start=True, episodes=episodes, image_transport=image_transport)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        recorder = RecorderNode(rec_over, context=context,
                                parameter_overrides=[Parameter("use_sim_time", value=True)])
        sim = SimNode({"robot": robot, "task": task, "seed": seed, "expert_drives": True,
                       "rate_hz": rate_hz, "publish_clock": True, "expert_noise_std": noise_std,
                       "command_type": "twist_stamped", "image_width": image_size[0],
                       "image_height": image_size[1], "episodes": episodes,
                       "image_transport": image_transport,
                       "wait_for_subscribers": 1}, context=context)
        executor = make_executor(context)
        executor.add_node(recorder)
        executor.add_node(sim)
        t0 = time.perf_counter()
        deadline = None
        while not recorder.done:
            executor.spin_once(timeout_sec=0.1)
            if sim.done and deadline is None:  # give the last outcome a moment to arrive
                deadline = time.monotonic() + 5.0
            if deadline is not None and time.monotonic() > deadline:
                break
        store = recorder.recorder.store
        recorded = store.episodes[len(store.episodes) - recorder.finished:]
        result = {"outcomes": [o.__dict__ for o in sim.session.outcomes], "episodes": recorded,
                  "dataset": dataset, "seconds": time.perf_counter() - t0}
        if not quiet:
            ok = sum(1 for e in recorded if e.get("success"))
            print(f"recorded {len(recorded)} episodes into {dataset} ({ok} successful, "
                  f"{len(store.episodes)} in the dataset) in {result['seconds']:.1f} s")
        executor.shutdown()
        sim.close()
        for node in (sim, recorder):
            node.destroy_node()
        return result
    finally:
        rclpy.try_shutdown(context=context)


def recorder_config_for_import(out: str, *, sim: str = "", task: str = "", params: str = "",
                               robot: str = ""):
    """The recorder parameters a rosbag2 bag is imported with (``bc-ros dataset import``): the
    defaults (the drone's topics), a bc_ros sim's (``sim``), a robot profile (``robot``, or the
    file's ``robot``), then a recorder parameter file (``params``: a ROS 2 parameter file as
    config/recorder.yaml, or a plain mapping), then ``out`` as the dataset. A misspelt key in
    the file is an error naming it."""
    import dataclasses

    from bc_ros.core.config import from_dict, load_ros_params_yaml
    from bc_ros.core.data.recording import RecorderConfig

    values = {}
    if sim:
        from bc_ros.core.sim import default_task

        task = task or default_task(sim)
        env = make_env(sim, task, image_size=(96, 96))
        try:
            values.update(recorder_overrides_for(sim, task, out, (96, 96), env))
        finally:
            env.close()
    if params:
        from bc_ros.nodes.recorder_node import RecorderNodeConfig

        loaded = load_ros_params_yaml(params, "recorder", plain_ok=True)
        from_dict(RecorderNodeConfig, {**values, **loaded, "dataset": out})  # unknown keys
        fields = {f.name for f in dataclasses.fields(RecorderConfig)}
        # recorder_node's own parameters (auto_start, episodes, buttons...) do not apply here
        values.update({k: v for k, v in loaded.items() if k in fields})
    robot = values.get("robot") or robot
    if robot:    # beneath what the file and the sim set, as in the node
        from bc_ros.core.robot import load_profile

        fields = {f.name for f in dataclasses.fields(RecorderConfig)}
        profile = {k: v for k, v in load_profile(robot).node_fields().items() if k in fields}
        values = {**profile, **values, "robot": robot}
    values["dataset"] = out
    return from_dict(RecorderConfig, values)
