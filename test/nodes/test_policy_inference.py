"""policy_node's inference thread without ROS or a model: results delivered in order, dropped
once a reset, a watchdog, a swap or a disable made them unwanted, the swap taken before the next
job, refused observations and model errors reported, the ensemble's score; the preload of a
checkpoint and its members, all or nothing. Fake runners; the thread is synchronised with
events and queues, never with sleeps."""

import itertools
import queue
import threading
import types

import numpy as np
import pytest

pytest.importorskip("torch")   # the thread imports the runner's ObservationError

from bc_ros.core.dagger.uncertainty import observation_score  # noqa: E402
from bc_ros.core.policy.runner import ObservationError  # noqa: E402
from bc_ros.nodes.policy.diagnostics import PolicyStats  # noqa: E402
from bc_ros.nodes.policy.inference import InferenceWorker, Preload, swap_spec  # noqa: E402

WAIT_S = 10.0   # bounds a broken test only


class FakeRunner:
    """Answers every observation with ``action`` (or raises ``fail``); ``gate``, if given, holds
    each act until it is set, after setting ``started``."""

    def __init__(self, action, fail=None, gate=None, resizes=False):
        self.action = np.asarray(action, dtype=np.float64)
        self.fail, self.gate, self.resizes = fail, gate, resizes
        self.started = threading.Event()
        self.counts = {"resized": 0}
        self.resets = 0
        self.seen = []

    def act(self, obs, goal=None):     # PolicyRunner.act's signature
        self.seen.append(obs["t"])
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        if self.fail is not None:
            raise self.fail
        if self.resizes:
            self.counts["resized"] += 1
        status = "ok" if np.isfinite(self.action).all() else "nonfinite"
        return types.SimpleNamespace(command=self.action.copy(), raw=self.action.copy(),
                                     status=status)

    def reset(self):
        self.resets += 1


class Rig:
    """A worker on a fake clock (each inference takes 4 ms) with its deliveries and reports."""

    def __init__(self, runner, members=(), budget_ms=100.0, deliver=None, alive=lambda: True):
        self.lock, self.stats = threading.Lock(), PolicyStats()
        self.delivered, self.reported = queue.Queue(), queue.Queue()
        clock = itertools.count(0.0, 0.004)
        self.worker = InferenceWorker(runner, list(members), lock=self.lock, stats=self.stats,
                                      score_scale=np.array([1.0, 2.0]), budget_ms=budget_ms,
                                      deliver=deliver or self.delivered.put,
                                      report=self.reported.put, alive=alive,
                                      clock=lambda: next(clock))
        self.worker.start()

    def submit(self, t):
        with self.lock:
            self.worker.submit(t, f"stamp{t}", {"t": t})

    def next_result(self):
        return self.delivered.get(timeout=WAIT_S)


@pytest.fixture
def rigs():
    made = []

    def make(*args, **kwargs):
        made.append(Rig(*args, **kwargs))
        return made[-1]

    yield make
    for rig in made:
        rig.worker.close()


def test_results_are_delivered_in_order_with_their_stamps_and_times(rigs):
    rig = rigs(FakeRunner([0.5, -0.5], resizes=True), budget_ms=3.0)
    for t in (1.0, 1.1, 1.2):
        rig.submit(t)
    results = [rig.next_result() for _ in range(3)]
    assert [(r.job.time, r.job.stamp) for r in results] == [(1.0, "stamp1.0"), (1.1, "stamp1.1"),
                                                             (1.2, "stamp1.2")]
    assert results[0].output.command.tolist() == [0.5, -0.5]
    assert results[0].error is None and results[0].score is None     # no members: no score
    assert [rig.reported.get(timeout=WAIT_S).job.time for _ in range(3)] == [1.0, 1.1, 1.2]
    with rig.lock:
        assert not rig.worker.busy
        figures = rig.stats.snapshot().figures()
    assert figures["inferences"] == 3 and figures["resized"] == 3
    assert figures["ticks_over_budget"] == 3                         # 4 ms against 3 ms
    assert figures["inference_ms_mean"] == pytest.approx(4.0)


@pytest.mark.parametrize("invalidate", ["reset", "drop_in_flight", "swap"])
def test_a_result_made_unwanted_while_it_is_computed_is_dropped(rigs, invalidate):
    gate = threading.Event()
    runner, other = FakeRunner([1.0, 0.0], gate=gate), FakeRunner([2.0, 0.0])
    rig = rigs(runner)
    rig.submit(1.0)
    assert runner.started.wait(WAIT_S)                  # the job is being computed
    with rig.lock:
        if invalidate == "swap":
            rig.worker.swap(other, [])
        else:
            getattr(rig.worker, invalidate)()
        assert rig.worker.busy
    gate.set()
    rig.submit(1.1)
    result = rig.next_result()
    assert result.job.time == 1.1                       # 1.0's never went out
    assert rig.stats.counts["dropped"] == 1 and rig.stats.counts["inferences"] == 2
    assert rig.delivered.empty()
    if invalidate == "swap":
        assert result.output.command.tolist() == [2.0, 0.0] and other.resets == 1
        assert rig.worker.runner is other and runner.resets == 0
    else:
        assert runner.resets == (1 if invalidate == "reset" else 0)


def test_a_queued_job_of_an_older_generation_is_not_computed(rigs):
    gate = threading.Event()
    runner = FakeRunner([1.0, 0.0], gate=gate)
    rig = rigs(runner)
    rig.submit(1.0)
    assert runner.started.wait(WAIT_S)
    rig.submit(1.1)                                     # queued behind 1.0
    with rig.lock:
        rig.worker.reset()
    gate.set()
    rig.submit(1.2)
    assert rig.next_result().job.time == 1.2
    assert runner.seen == [1.0, 1.2]                    # 1.1 was dropped unseen
    assert rig.stats.counts["dropped"] == 2 and rig.stats.counts["inferences"] == 2
    assert runner.resets == 1                           # once, before 1.2


def test_a_swap_brings_its_members_and_clears_their_history(rigs):
    main, member = FakeRunner([1.0, 0.0]), FakeRunner([1.0, 0.0])
    rig = rigs(FakeRunner([0.0, 0.0]))
    with rig.lock:
        rig.worker.swap(main, [member])
    rig.submit(1.0)
    result = rig.next_result()
    assert rig.worker.members == [member] and member.resets == 1 and main.resets == 1
    assert result.score == pytest.approx(0.0)           # they agree
    assert member.seen == [1.0]


def test_the_ensemble_score_is_the_members_disagreement_or_none_if_one_is_not_finite(rigs):
    members = [FakeRunner([1.0, 0.0]), FakeRunner([1.0, 0.6])]
    rig = rigs(FakeRunner([1.0, 0.0]), members)
    rig.submit(1.0)
    expected = observation_score([[1.0, 0.0], [1.0, 0.0], [1.0, 0.6]], np.array([1.0, 2.0]))
    assert rig.next_result().score == pytest.approx(expected)
    assert expected == pytest.approx(np.std([0.0, 0.0, 0.6]) / 2.0 / 2)

    rig = rigs(FakeRunner([1.0, 0.0]), [FakeRunner([np.nan, 0.0])])
    rig.submit(1.0)
    result = rig.next_result()
    assert result.score is None and result.output.command.tolist() == [1.0, 0.0]


def test_refused_observations_and_model_errors_are_results_and_the_thread_goes_on(rigs):
    refused = rigs(FakeRunner([0.0, 0.0], fail=ObservationError("camera 'center': 32x24")))
    refused.submit(1.0)
    result = refused.next_result()
    assert result.output is None and result.error == "camera 'center': 32x24"

    broken = FakeRunner([0.0, 0.0], fail=RuntimeError("shape mismatch"))
    rig = rigs(broken)
    rig.submit(1.0)
    assert rig.next_result().error == "inference failed: RuntimeError: shape mismatch"
    broken.fail = None
    rig.submit(1.1)
    assert rig.next_result().error is None
    assert rig.stats.counts["inferences"] == 2


def test_a_failing_delivery_during_shutdown_ends_the_thread_quietly(rigs):
    def deliver(result):
        raise RuntimeError("publisher's context is invalid")

    rig = rigs(FakeRunner([0.0, 0.0]), deliver=deliver, alive=lambda: False)
    rig.submit(1.0)
    rig.worker._thread.join(WAIT_S)
    assert not rig.worker._thread.is_alive() and rig.reported.empty()


# ---- checkpoints ------------------------------------------------------------------------------
def loader(failures=None):
    """path -> (runner, payload); ``failures``: path -> the exception loading it raises."""
    def load(path):
        if path in (failures or {}):
            raise failures[path]
        return FakeRunner([0.0, 0.0]), {"spec": {"path": path}}
    return load


def test_preload_loads_the_checkpoint_and_its_members():
    preload = Preload("b.pt", ["m1.pt", "m2.pt"], loader(), clock=iter([1.0, 1.25]).__next__)
    assert preload.start().wait() is preload
    assert preload.error is None and preload.payload == {"spec": {"path": "b.pt"}}
    assert len(preload.members) == 2 and preload.seconds == pytest.approx(0.25)
    assert preload.matches("b.pt", ("m1.pt", "m2.pt")) and preload.matches("b.pt",
                                                                          ["m1.pt", "m2.pt"])
    assert not preload.matches("b.pt", ["m1.pt"])


@pytest.mark.parametrize("failing, error, message", [
    ("b.pt", ValueError("b.pt: action_names differ"), "b.pt: action_names differ"),
    ("b.pt", KeyError("spec"), "KeyError: 'spec'"),
    ("m2.pt", ValueError("m2.pt cannot be read"), "ensemble member m2.pt: m2.pt cannot be read"),
])
def test_preload_is_all_or_nothing_and_names_what_failed(failing, error, message):
    preload = Preload("b.pt", ["m1.pt", "m2.pt"], loader({failing: error})).start().wait()
    assert isinstance(preload.error, ValueError) and str(preload.error) == message
    assert preload.runner is None and preload.members == []


def test_a_swapped_checkpoint_must_keep_the_topics_of_the_running_one():
    spec = {"cameras": ["center"], "state_dim": 8, "action_names": ["vx"],
            "command_type": "twist", "command_interface": "velocity", "image_size": [16, 12],
            "head": "mog"}

    def config(command_type="", command_interface="", resize_images=False):
        return types.SimpleNamespace(command_type=command_type,
                                     command_interface=command_interface,
                                     resize_images=resize_images)

    assert swap_spec(spec, config()) == {k: spec[k] for k in ("cameras", "state_dim",
                                                              "action_names", "command_type",
                                                              "command_interface",
                                                              "image_size")}
    assert set(swap_spec(spec, config(command_type="twist", command_interface="velocity",
                                      resize_images=True))) == {
        "cameras", "state_dim", "action_names"}


def test_the_node_sets_n_action_steps_and_chunk_candidates_of_the_checkpoint(tmp_path):
    """0 keeps what the checkpoint has; a value replaces it (before the backend exports, so an
    onnxruntime backend draws the candidates too); more steps than a chunk has is refused."""
    from bc_ros.core.policy.checkpoint import save_checkpoint
    from bc_ros.nodes.policy.inference import load_runner
    from bc_ros.nodes.policy.node import PolicyNodeConfig
    from test.core.policy.test_export import make_policy

    path = str(tmp_path / "mog.pt")
    save_checkpoint(make_policy("mog"), path)
    limits = dict(checkpoint=path, low=[-1.0, -1.0], high=[1.0, 1.0])
    runner, _ = load_runner(path, PolicyNodeConfig(**limits))
    kept = runner.policy.config
    runner, _ = load_runner(path, PolicyNodeConfig(**limits, n_action_steps=1,
                                                   chunk_candidates=4, backend="onnxruntime"))
    assert (runner.policy.config.n_action_steps, runner.policy.config.chunk_candidates) == (1, 4)
    assert (kept.n_action_steps, kept.chunk_candidates) != (1, 4)
    assert "chunk_k" in runner.policy.backend.parity
    with pytest.raises(ValueError, match="n_action_steps must be 1..4"):
        load_runner(path, PolicyNodeConfig(**limits, n_action_steps=9))
    with pytest.raises(ValueError, match="n_action_steps and chunk_candidates must be >= 0"):
        PolicyNodeConfig(**limits, chunk_candidates=-1)
