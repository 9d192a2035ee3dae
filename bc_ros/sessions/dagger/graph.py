"""The running ROS graph of a DAgger run: sim, policy, mux and recorder nodes on one executor,
and the orchestrator's calls into them (episodes, hot swaps, round parameters)."""

from __future__ import annotations

import dataclasses
import json
import time

from bc_ros.sessions.dagger.config import DaggerRunConfig

class Graph:
    """The five nodes on one executor, and the orchestrator's service calls into them."""

    def __init__(self, cfg: DaggerRunConfig, checkpoints: list[str], dataset: str,
                 threshold: float | None = None):
        import rclpy
        from rclpy.parameter import Parameter
        from std_msgs.msg import String

        from bc_ros.core.sim import make_env
        from bc_ros.nodes.dagger_node import DaggerNode
        from bc_ros.nodes.policy_node import PolicyNode
        from bc_ros.nodes.recorder_node import RecorderNode
        from bc_ros.nodes.runtime import make_executor
        from bc_ros.nodes.sim_node import SimNode
        from bc_ros.sessions.recording import recorder_overrides_for

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        from bc_ros.core.dagger.uncertainty import half_range_scale

        self.cfg = cfg
        sim_time = [Parameter("use_sim_time", value=True)]
        env = make_env(cfg.robot, cfg.task, image_size=tuple(cfg.image_size))
        low, high, names = list(env.action_low), list(env.action_high), list(env.action_names)
        rec = recorder_overrides_for(cfg.robot, cfg.task, dataset, tuple(cfg.image_size), env)
        env.close()
        rec.update(record_control=True, auto_start=True, source="dagger", round=1)
        kw = {"context": self.context}
        self.recorder = RecorderNode(rec, parameter_overrides=sim_time, **kw)
        self.policy = PolicyNode({"checkpoint": checkpoints[0], "ensemble": checkpoints[1:],
                                  "mode": "lockstep", "command_type": "twist_stamped",
                                  "low": low, "high": high, "torch_threads": 1,
                                  "backend": cfg.policy_backend},
                                 parameter_overrides=sim_time, **kw)
        beta = {k: getattr(cfg, k) for k in ("beta_schedule", "beta", "beta_start", "beta_end",
                                             "beta_rounds", "beta_decay")}
        gating = {}
        if cfg.gating == "uncertainty":
            gating = {"uncertainty_threshold": float(threshold), "agree_tol": cfg.agree_tol,
                      "agree_ticks": cfg.agree_ticks, "wait_for_score": True,
                      "action_scale": [float(v) for v in half_range_scale(low, high)]}
        elif cfg.gating == "human":
            gating = {"engage_source": "flag", "wait_for_engaged": True}
        self.dagger = DaggerNode({"mode": cfg.gating, "round": 1, "trigger": "inputs",
                                  "wait_for_expert": True, "command_type": "twist_stamped",
                                  "action_names": names, "stop_command": [0.0] * len(names),
                                  "seed": cfg.seed, **beta, **gating},
                                 parameter_overrides=sim_time, **kw)
        human = {}
        if cfg.gating == "human":
            rule = cfg.human_rule()
            human = {"simulated_human": True, **{f"human_{k}": v for k, v in
                                                 dataclasses.asdict(rule).items()}}
        self.sim = SimNode({"robot": cfg.robot, "task": cfg.task,
                            "seed": 100_000 + 1000 * cfg.seed, "mode": "lockstep",
                            "publish_clock": True, "auto_reset": False,
                            "command_type": "twist_stamped", "image_width": cfg.image_size[0],
                            "image_height": cfg.image_size[1], "wait_for_subscribers": 1,
                            **human}, **kw)
        self.client = rclpy.create_node("dagger_rounds", **kw)
        self.outcomes: list[dict] = []
        self.statuses: list[dict] = []
        self.client.create_subscription(String, "sim/outcome",
                                        lambda m: self.outcomes.append(json.loads(m.data)), 10)
        self.client.create_subscription(String, "dagger/status",
                                        lambda m: self.statuses.append(json.loads(m.data)), 10)
        self.executor = make_executor(self.context)
        for node in (self.recorder, self.policy, self.dagger, self.sim, self.client):
            self.executor.add_node(node)

    def spin_until(self, predicate, timeout: float = 600.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def call(self, node_name: str, srv: str, srv_type, request, timeout: float = 60.0):
        cli = self.client.create_client(srv_type, f"/{node_name}/{srv}")
        try:
            if not self.spin_until(lambda: cli.service_is_ready(), timeout):
                raise RuntimeError(f"service /{node_name}/{srv} did not appear")
            future = cli.call_async(request)
            if not self.spin_until(future.done, timeout):
                raise RuntimeError(f"service /{node_name}/{srv} did not answer in {timeout} s")
            return future.result()
        finally:
            self.client.destroy_client(cli)

    def set_round(self, r: int) -> None:
        """The next episodes belong to round r: the mux's beta and the recorder's tag. The
        recorder already opened the next episode (empty: the sim idles) under the old tag, so
        it is reopened at the same instant under the new one."""
        from rclpy.parameter import Parameter
        self.dagger.set_parameters([Parameter("round", value=r)])
        self.recorder.set_parameters([Parameter("round", value=r)])
        if self.outcomes and self.recorder.recorder.recording:
            end = float(self.outcomes[-1]["end_stamp"])
            self.recorder.recorder.discard()
            self.recorder.start_episode(now=end, since=end)

    def hot_swap(self, checkpoints: list[str]) -> tuple[bool, str]:
        """The policy node's own path: set the parameters (the main checkpoint and the ensemble's
        members, in one call), call ~/load_checkpoint."""
        from rclpy.parameter import Parameter
        from std_srvs.srv import Trigger
        self.policy.set_parameters_atomically([
            Parameter("checkpoint", value=checkpoints[0]),
            Parameter("ensemble", Parameter.Type.STRING_ARRAY, list(checkpoints[1:]))])
        answer = self.call("policy", "load_checkpoint", Trigger, Trigger.Request(), 120.0)
        return bool(answer.success), answer.message

    def set_threshold(self, threshold: float) -> None:
        """The robot-gated threshold, set while running (from the next episode, or at once on
        the episode that has not ticked yet)."""
        from rclpy.parameter import Parameter
        result = self.dagger.set_parameters([Parameter("uncertainty_threshold",
                                                       value=float(threshold))])[0]
        if not result.successful:
            raise RuntimeError(f"dagger_node refused threshold {threshold}: {result.reason}")

    def run_episodes(self, n: int, first: bool) -> list[dict]:
        """n episodes: the first starts by itself when the graph is up, the others by reset."""
        from std_srvs.srv import Trigger
        start = len(self.outcomes)
        for i in range(n):
            if not (first and i == 0):
                self.call("sim", "reset", Trigger, Trigger.Request())
            if not self.spin_until(lambda: len(self.outcomes) > start + i, 1800.0):
                raise RuntimeError("an episode did not end within 30 minutes of wall time")
        # the recorder and the mux close their episodes on the same outcome message
        self.spin_until(lambda: self.recorder.finished >= len(self.outcomes), 30.0)
        return self.outcomes[start:]

    def close(self) -> None:
        import rclpy
        self.executor.shutdown()
        self.sim.close()
        for node in (self.recorder, self.policy, self.dagger, self.sim, self.client):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
