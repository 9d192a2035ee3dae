"""``bc-ros policy``: the policy node's parameters for a checkpoint on the pip path."""

from __future__ import annotations


def policy_node_overrides(checkpoint: str, *, lockstep: bool = False, resize: bool = False,
                          cmd_topic: str = "policy/cmd", threads: int = 1,
                          backend: str = "torch", rate_hz: float | None = None,
                          low=None, high=None) -> dict:
    """PolicyNode parameters, validated: the command limits are ``low``/``high`` when given,
    else those of the sim the checkpoint names (which ``bc-ros eval`` clamps to). Raises
    ``ValueError`` (or ``CheckpointError``) with what is wrong."""
    from bc_ros.core.policy.checkpoint import read_checkpoint
    from bc_ros.core.sim import ROBOTS, env_class
    from bc_ros.nodes.policy_node import PolicyNodeConfig

    overrides = {"checkpoint": checkpoint, "mode": "lockstep" if lockstep else "realtime",
                 "resize_images": resize, "cmd_topic": cmd_topic, "torch_threads": threads,
                 "backend": backend}
    if rate_hz is not None:
        overrides["rate_hz"] = rate_hz
    if low or high:
        overrides.update(low=list(low or []), high=list(high or []))
    else:
        spec = read_checkpoint(checkpoint)["spec"]
        if spec.get("robot") not in ROBOTS:
            raise ValueError(f"the checkpoint names no sim robot ({spec.get('robot')!r}): "
                             f"give the command limits with --low and --high")
        cls = env_class(spec["robot"])
        overrides.update(low=[float(v) for v in cls.action_low],
                         high=[float(v) for v in cls.action_high])
    PolicyNodeConfig(**overrides)
    return overrides
