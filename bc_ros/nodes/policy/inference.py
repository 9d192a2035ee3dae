"""policy_node's inference thread and checkpoints (ROS-free): observations in, commands out, the
policy and its ensemble swapped between two observations.

    worker = InferenceWorker(runner, members, lock=lock, stats=stats, score_scale=scale,
                             budget_ms=100.0, deliver=publish, report=log)
    worker.start()
    with lock:
        worker.submit(t, stamp, obs)       # a job: the thread runs the policy and its members
    ...                                    # then calls deliver(result) with the lock held
    with lock:
        worker.reset()                     # or drop_in_flight(), swap(runner, members)
    worker.close()

Timeline of a job: ``submit`` makes the worker ``busy`` and queues the observation with the
current generation. The thread takes it, first swapping in a pair handed over by ``swap`` and
clearing the policy's history (and its members') if a reset is due; runs ``PolicyRunner.act``
and, with members, their disagreement (``observation_score``); and, with the lock held, hands
the result to ``deliver``, unless the generation moved on meanwhile: every event that makes a
result unwanted (reset, watchdog, swap, enable or disable) calls ``drop_in_flight`` (or
``reset``, ``swap``) under the same lock, and the result is dropped and counted. ``report``
then gets it without the lock (logging). Busy clears once the queue is empty.

Loading: ``load_runner`` builds the runner of one checkpoint the node's way (limits, stop
command, backend, seed); ``Preload`` loads a checkpoint and its members in a thread of their
own, all or nothing, so that a swap only waits for what is left of the load.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import numpy as np

from bc_ros.core.dagger.uncertainty import observation_score

if TYPE_CHECKING:
    from bc_ros.core.policy.runner import PolicyRunner, RunnerOutput
    from bc_ros.nodes.policy.diagnostics import PolicyStats
    from bc_ros.nodes.policy.node import PolicyNodeConfig


def recorded_command(spec: dict) -> dict | None:
    """The command part (limits, stop) of the profile of the robot a checkpoint was trained
    for: the recording's profile, else, for checkpoints from before profiles, the shipped
    profile of the robot the checkpoint names (drone, arm). None when neither exists."""
    from bc_ros.core.robot import ProfileError, load_profile

    profile = spec.get("robot_profile") or {}
    if profile.get("command"):
        return profile["command"]
    if spec.get("robot"):
        try:
            command = load_profile(spec["robot"]).command
        except ProfileError:
            return None
        if list(command.actions) == list(spec["action_names"]):
            return {"low": command.low, "high": command.high, "stop": command.stop}
    return None


def load_runner(path: str, config: PolicyNodeConfig, expect_spec: dict | None = None):
    """(PolicyRunner, payload) for ``path``, with the node's limits, stop command, backend and
    seed; ``expect_spec``: what it must share with the running policy. CheckpointError /
    ValueError say what is wrong."""
    import torch

    from bc_ros.core.policy.backend import make_backend
    from bc_ros.core.policy.checkpoint import load_checkpoint
    from bc_ros.core.policy.runner import PolicyRunner, RunnerConfig

    policy, payload = load_checkpoint(path, expect_spec)
    cfg, names = config, payload["spec"]["action_names"]
    low, high, stop = list(cfg.low), list(cfg.high), list(cfg.stop_command)
    recorded = recorded_command(payload["spec"])
    if not low and not high and recorded:    # no limits given: the recording robot's
        low, high = list(recorded["low"]), list(recorded["high"])
        stop = stop or list(recorded.get("stop") or [])
    if len(low) != len(names) or len(high) != len(names):
        raise ValueError(f"low and high need one limit per action of the checkpoint "
                         f"({', '.join(names)}), got low={low} high={high} (set them, or "
                         f"the robot parameter to the robot's profile)")
    if stop and len(stop) != len(names):
        raise ValueError(f"stop_command needs one value per action ({', '.join(names)}), "
                         f"got {stop}")
    try:                                    # before the backend exports
        policy.set_inference(cfg.n_action_steps, cfg.chunk_candidates)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    try:
        policy.set_backend(make_backend(cfg.backend, policy, cfg.torch_threads))
    except RuntimeError as e:   # export failed, or the graph disagrees with PyTorch
        raise ValueError(f"{path}: {e}") from None
    runner = PolicyRunner(policy, RunnerConfig(low=low, high=high,
                                               stop_command=stop or None,
                                               resize=cfg.resize_images,
                                               upcoming=cfg.publish_chunk),
                          generator=torch.Generator().manual_seed(cfg.seed))
    return runner, payload


def swap_spec(spec: dict, config: PolicyNodeConfig) -> dict:
    """What a new checkpoint must share with the running one (the node's topics): cameras,
    state and actions; the command type and interface unless ``command_type`` /
    ``command_interface`` is set; the image size unless images are resized."""
    keys = ["cameras", "state_dim", "action_names"]
    if not config.command_type:
        keys.append("command_type")
    if not getattr(config, "command_interface", ""):
        keys.append("command_interface")
    if not config.resize_images:
        keys.append("image_size")
    return {k: spec[k] for k in keys}


class Preload:
    """A checkpoint and its ensemble members loading in a thread of their own (``start``).
    ``wait`` returns once it is done: then either ``runner``, ``payload`` and ``members`` are
    set, or ``error``, a ValueError naming the file that failed (an ensemble member's with
    "ensemble member <path>: ") and why. ``seconds``: how long the load took.

    Args:
        load: path -> (runner, payload), e.g. ``load_runner`` with the running policy's spec.
    """

    def __init__(self, path: str, ensemble: list[str], load: Callable[[str], tuple],
                 clock: Callable[[], float] = time.perf_counter):
        self.path, self.ensemble = path, tuple(ensemble)
        self.done = threading.Event()
        self.runner: Any = None
        self.payload: dict | None = None
        self.members: list = []
        self.error: ValueError | None = None
        self.seconds = 0.0
        self._load, self._clock = load, clock

    def start(self) -> Preload:
        threading.Thread(target=self._run, name="policy_load", daemon=True).start()
        return self

    def matches(self, path: str, ensemble) -> bool:
        """Whether it loads this checkpoint with these members."""
        return (self.path, self.ensemble) == (path, tuple(ensemble))

    def wait(self) -> Preload:
        self.done.wait()
        return self

    def _run(self) -> None:
        started = self._clock()
        name = self.path
        try:
            runner, payload = self._load(self.path)
            members = []
            for name in self.ensemble:       # a member must fit the running node, as the main
                members.append(self._load(name)[0])
            self.runner, self.payload, self.members = runner, payload, members
        except Exception as e:  # noqa: BLE001 - CheckpointError/ValueError, or any surprise
            what = "" if name == self.path else f"ensemble member {name}: "
            self.error = ValueError(f"{what}{e}" if isinstance(e, ValueError) else
                                    f"{what}{type(e).__name__}: {e}")
        self.seconds = self._clock() - started
        self.done.set()


class Job(NamedTuple):
    generation: int      # results of jobs from an older generation are dropped
    time: float          # the tick (realtime) or the observation stamp (lockstep), seconds
    stamp: Any           # the same as builtin_interfaces/Time, exact (the command carries it)
    obs: dict


class Result(NamedTuple):
    job: Job
    output: RunnerOutput | None    # None when ``error`` is set
    score: float | None            # the ensemble's disagreement; None: no members, or a member
                                   # gave a non-finite action (no score rather than a wrong one)
    error: str | None              # the observation was refused, or the model raised
    elapsed_ms: float              # the policy's and its members' time


class InferenceWorker:
    """The inference thread and what it shares with the node's callbacks, guarded by ``lock``.

    ``submit``, ``reset``, ``drop_in_flight``, ``swap`` and ``busy`` are called with ``lock``
    held; the thread takes it itself around its bookkeeping and around ``deliver``.

    Args:
        runner, members: the policy and its ensemble members (PolicyRunners) it starts with.
        lock: the node's lock, held while anything here changes and while ``deliver`` runs.
        stats: where inferences, their times, ticks over budget and dropped results are counted.
        score_scale: per-action scale of the ensemble's disagreement (``half_range_scale``).
        budget_ms: an inference longer than this counts as a tick over budget.
        deliver: result -> None, called with ``lock`` held for each result still wanted.
        report: result -> None, called after ``deliver``, without the lock.
        alive: false once the process is shutting down: an exception from ``deliver`` then ends
            the thread quietly (otherwise it is raised).
        clock: seconds, for the inference times.
    """

    def __init__(self, runner: PolicyRunner, members: list, *, lock: threading.Lock,
                 stats: PolicyStats, score_scale: np.ndarray, budget_ms: float,
                 deliver: Callable[[Result], None], report: Callable[[Result], None],
                 alive: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.perf_counter):
        self.runner, self.members = runner, list(members)   # what the thread runs now
        self.jobs: queue.Queue = queue.Queue()
        self._lock, self._stats, self._score_scale = lock, stats, score_scale
        self._budget_ms, self._deliver, self._report = budget_ms, deliver, report
        self._alive, self._clock = alive, clock
        self._generation = 0
        self._reset_due = False
        self._next: tuple | None = None    # (runner, members) the thread takes before its next job
        self._busy = False
        self._thread: threading.Thread | None = None

    # ---- called with the lock held -----------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A job is queued or running."""
        return self._busy

    def submit(self, t: float, stamp, obs: dict) -> None:
        self._busy = True
        self.jobs.put(Job(self._generation, t, stamp, obs))

    def drop_in_flight(self) -> None:
        """Results of the jobs queued or running now are not delivered."""
        self._generation += 1

    def reset(self) -> None:
        """Clear the policy's history and action queue (and its members') before the next job;
        drop results in flight."""
        self._reset_due = True
        self._generation += 1

    def swap(self, runner: PolicyRunner, members: list) -> None:
        """Run ``runner`` and ``members`` from the next job on, from a cleared history; drop
        results in flight."""
        self._next = (runner, list(members))
        self._generation += 1

    # ---- the thread --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="policy_inference", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread once the job it is on is done."""
        if self._thread is not None and self._thread.is_alive():
            self.jobs.put(None)
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        from bc_ros.core.policy.runner import ObservationError   # torch: only where it runs

        while True:
            job = self.jobs.get()
            if job is None:
                return
            with self._lock:
                if self._next is not None:
                    (self.runner, self.members), self._next = self._next, None
                    self._reset_due = True
                if self._reset_due:
                    self.runner.reset()
                    for member in self.members:
                        member.reset()
                    self._reset_due = False
                runner, members = self.runner, self.members
                if job.generation != self._generation:
                    self._stats.counts["dropped"] += 1
                    self._busy = not self.jobs.empty()
                    continue
            resized = runner.counts["resized"]
            started = self._clock()
            out, score, error = None, None, None
            try:
                out = runner.act(job.obs, job.obs.get("goal"))
                if members:
                    score = observation_score([out.raw] + [m.act(job.obs, job.obs.get("goal")).raw for m in members],
                                              self._score_scale)
            except ObservationError as e:
                error = str(e)
            except Exception as e:  # noqa: BLE001 - a model bug must not kill the thread
                error = f"inference failed: {type(e).__name__}: {e}"
            result = Result(job, out, score, error, (self._clock() - started) * 1e3)
            with self._lock:
                self._busy = not self.jobs.empty()
                self._stats.record_inference(result.elapsed_ms)
                self._stats.counts["inferences"] += 1
                self._stats.counts["resized"] += runner.counts["resized"] - resized
                if result.elapsed_ms > self._budget_ms:
                    self._stats.counts["ticks_over_budget"] += 1
                if job.generation != self._generation:
                    self._stats.counts["dropped"] += 1   # reset, watchdog, swap or disable
                    continue
                try:
                    self._deliver(result)
                except Exception:  # noqa: BLE001
                    if not self._alive():
                        return   # SIGINT or a launch shutdown took the context under us
                    raise
            self._report(result)
