"""``bc-ros eval`` and ``bc-ros export``: a checkpoint in its sim on held-out seeds (no ROS), and
a checkpoint as ONNX or TorchScript with a parity check against eager PyTorch."""

from __future__ import annotations


def evaluate_in_sim(checkpoint: str, *, sim: str = "", task: str = "", episodes: int = 100,
                    seed_offset: int = 0, backend: str = "torch", threads: int = 1,
                    video_dir: str | None = None, video_episodes: int = 0,
                    progress: bool = True, label: str = "",
                    chunk_candidates: int = 0, n_action_steps: int = 0) -> dict:
    """Success of ``checkpoint`` on held-out seeds, in the sim it names (or ``sim``/``task``),
    through ``PolicyRunner``, the policy node's code path. ``chunk_candidates`` > 0 replaces
    the checkpoint's (coherent chunks, an inference option), as ``n_action_steps`` > 0 does
    the actions executed per chunk. Raises ``CheckpointError`` or ``ValueError`` with what is
    wrong."""
    import torch

    from bc_ros.core.policy.backend import make_backend
    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.sim import check_robot_task
    from bc_ros.core.sim.base import eval_seeds
    from bc_ros.core.train.evaluate import evaluate

    torch.set_num_threads(threads)
    policy, payload = load_checkpoint(checkpoint)
    policy.set_inference(n_action_steps, chunk_candidates)
    policy.set_backend(make_backend(backend, policy, threads))
    robot = sim or payload["spec"].get("robot")
    task = task or payload["spec"].get("task")
    if not robot or not task or "," in task:
        raise ValueError(f"say which sim and task to evaluate in (--sim, --task); the "
                         f"checkpoint names robot {robot!r}, task {task!r}")
    check_robot_task(robot, task)
    result = evaluate(policy, robot, task, seeds=eval_seeds(episodes, seed_offset),
                      video_dir=video_dir, video_episodes=video_episodes, progress=progress)
    result.update(robot=robot, task=task, checkpoint=checkpoint, head=policy.config.head,
                  backend=backend, chunk_candidates=policy.config.chunk_candidates,
                  n_action_steps=policy.config.n_action_steps, label=label or policy.config.head)
    return result


def export_checkpoint(checkpoint: str, *, fmt: str = "onnx", out: str = "", batch: int = 1,
                      seed: int = 0, tolerance: float = 1e-4) -> dict:
    """Write ``checkpoint`` as ``fmt`` (onnx | torchscript) and compare it with eager PyTorch
    on the same observation and noise. Raises ``CheckpointError`` for a bad checkpoint."""
    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.policy.export import check_parity, export_onnx, export_torchscript

    policy, _ = load_checkpoint(checkpoint)
    out = out or checkpoint.rsplit(".", 1)[0] + (".onnx" if fmt == "onnx" else ".ts")
    if fmt == "onnx":
        how = export_onnx(policy, out, batch=batch)
    else:
        export_torchscript(policy, out, batch=batch)
        how = "torch.jit.trace"
    diff = check_parity(policy, out, seed=seed, batch=batch)
    return {"checkpoint": checkpoint, "out": out, "format": fmt, "exporter": how,
            "max_abs_diff": diff, "ok": diff <= tolerance}
