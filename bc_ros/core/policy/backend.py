"""Where ``Policy.select_action`` runs its two model calls: eager PyTorch (the default) or
onnxruntime.

A control tick makes at most two calls: encode the newest observation into step features (the
policy keeps the last ``n_obs_steps`` of them), and, when the action queue is empty, turn the
steps into an action chunk (fuse, sample the head, unnormalize). An AR head decoded a step per
tick (``decoding.py``) has two more graphs instead of the chunk's: the chunk's decoding state at
the planning tick, then one step's tokens at each tick. ``OnnxRuntimeBackend`` exports
each call to its own ONNX graph and runs it in onnxruntime, whose per-operator cost is a
fraction of eager PyTorch's: on small policies at batch 1 that is most of the time
(``benchmarks/bench_policy_latency.py``). Everything around the calls (history, chunk queue,
temporal ensembling, the runner's checks, clamping and NaN handling) is the same code for both.

The head's randomness stays with the caller's generator: the noise a chunk needs
(``head.noise_spec``) is drawn from it in the same order as the eager path draws it, and fed to
the graph. So a seeded run is the same run on either backend, up to float rounding (and, for the
AR head, a token drawn at a bin boundary).

    policy.set_backend(OnnxRuntimeBackend(policy, threads=1))   # exports and checks, ~1-8 s
    policy.select_action(images, state, generator=g)            # as before
    policy.set_backend(None)                                    # eager again
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import torch

from bc_ros.core.policy.export import (DecodeBeginModule, DecodeStepModule, StepModule,
                                       StepsChunkModule, example_inputs, export_module_onnx)

BACKENDS = ("torch", "onnxruntime")
PARITY_TOLERANCE = 1e-3     # max |onnxruntime - eager| per action, relative to 1 + |eager|
# The TorchScript exporter first: about 1 s against 5-8 s for the dynamo one on these policies,
# and a checkpoint is exported at every load.
EXPORTERS = ("torchscript", "dynamo")


class OnnxRuntimeBackend:
    """``select_action``'s two calls exported to ONNX and run by onnxruntime (CPU).

    Built from a fitted policy in eval mode; raises ``RuntimeError`` when export fails or the
    graphs disagree with eager PyTorch on a random observation (more than ``PARITY_TOLERANCE``).
    Head options are fixed at export (the CVAE's latent source, AR's temperature and top-k).
    """

    name = "onnxruntime"

    def __init__(self, policy, threads: int = 1, seed: int = 0):   # seed: the check's inputs
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("the onnxruntime backend needs the onnxruntime package (pip "
                               "install onnxruntime); or use the torch backend") from None

        if not bool(policy.normalizer.fitted):
            raise RuntimeError("the policy's normalizer has no statistics: load a checkpoint "
                               "before choosing the onnxruntime backend")
        policy.eval()
        self.config = c = policy.config
        self.head = policy.head
        self.step_module, self.chunk_module = StepModule(policy), StepsChunkModule(policy)
        example = example_inputs(policy, 1, seed)
        # the step graph takes one observation (its shapes are fixed at export)
        step_args = tuple(example[n][:, :1] for n in self.step_module.input_names)
        with torch.no_grad():
            steps = self.step_module(*step_args).repeat(1, c.n_obs_steps, 1)
        chunk_args = (steps,) + tuple(example[n] for n in self.chunk_module.input_names[1:])
        graphs = [("step", self.step_module, step_args), ("chunk", self.chunk_module, chunk_args)]
        # coherent chunks: a second graph draws the K candidates in one batch
        self.candidates = K = c.chunk_candidates
        if K > 1:
            example_k = example_inputs(policy, K, seed)
            graphs.append(("chunk_k", self.chunk_module,
                           (steps.expand(K, -1, -1).contiguous(),)
                           + tuple(example_k[n] for n in self.chunk_module.input_names[1:])))

        # a head that decodes in order, with nothing reading past the executed steps: two more
        # graphs decode the chunk a step per tick (decoding.py)
        self.decodes = False
        self.modules = {"step": self.step_module, "chunk": self.chunk_module,
                        "chunk_k": self.chunk_module}
        if policy.can_decode_per_tick():
            self.decodes = True
            begin, decode = DecodeBeginModule(policy), DecodeStepModule(policy)
            self.modules.update(decode_begin=begin, decode_step=decode)
            begin_args = chunk_args[:len(begin.input_names)]
            with torch.no_grad():
                gi, hidden = begin(*begin_args)
            A = len(c.action_names)
            u = example["noise_u"][:, :A]
            prev = torch.full((1,), policy.head.options.bins, dtype=torch.long)
            graphs += [("decode_begin", begin, begin_args),
                       ("decode_step", decode, (gi[:, :A].contiguous(), hidden, prev, u))]

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.exporters = {}
        with tempfile.TemporaryDirectory(prefix="bc_ros_onnx_") as tmp:
            self._sessions = {}
            for name, module, args in graphs:
                path = os.path.join(tmp, f"{name}.onnx")
                self.exporters[name] = export_module_onnx(module, args, path, output="out",
                                                          exporters=EXPORTERS)
                # the session reads the file now: the folder can go
                self._sessions[name] = ort.InferenceSession(path, opts,
                                                            providers=["CPUExecutionProvider"])
        self.parity = {name: self._parity(name, args) for name, _, args in graphs}

    def _run(self, name: str, names: list[str], args) -> np.ndarray:
        return self._run_all(name, names, args)[0]

    def _run_all(self, name: str, names: list[str], args) -> list[np.ndarray]:
        feed = {n: np.ascontiguousarray(a.numpy() if isinstance(a, torch.Tensor) else a)
                for n, a in zip(names, args)}
        return self._sessions[name].run(None, feed)

    def _parity(self, name: str, args: tuple) -> float:
        """Max |onnxruntime - eager| over the graph's float outputs (a token's index is
        checked through the action it makes)."""
        module = self.modules[name]
        with torch.no_grad():
            eager = module(*args)
        eager = [e.numpy() for e in (eager if isinstance(eager, tuple) else (eager,))]
        got = self._run_all(name, module.input_names, args)
        worst_abs = 0.0
        for e, g in zip(eager, got):
            if e.dtype.kind != "f":
                continue
            diff = np.abs(g - e)
            worst = float((diff / (1.0 + np.abs(e))).max())
            if not worst <= PARITY_TOLERANCE:
                raise RuntimeError(f"the onnxruntime {name} graph differs from eager PyTorch "
                                   f"by {float(diff.max()):.3g} (relative {worst:.3g}, "
                                   f"tolerance {PARITY_TOLERANCE:g}); use the torch backend")
            worst_abs = max(worst_abs, float(diff.max()))
        return worst_abs

    def encode_step(self, images: torch.Tensor, state: np.ndarray | None) -> torch.Tensor:
        """images (1, 1, V, 3, H, W) uint8, state (S,) raw or None -> step features (step_dim,)."""
        args = [images]
        if self.config.state_dim:
            args.append(np.asarray(state, dtype=np.float32).reshape(1, 1, -1))
        return torch.from_numpy(self._run("step", self.step_module.input_names, args))[0, 0]

    def chunk(self, steps: torch.Tensor, goal: np.ndarray | None,
              generator: torch.Generator | None, candidates: int = 1) -> np.ndarray:
        """steps (1, n_obs_steps, step_dim) -> unnormalized chunk (horizon, A), noise drawn
        from ``generator`` as the eager head draws it; with ``candidates`` K > 1 (the policy's
        ``chunk_candidates``), K chunks (K, horizon, A)."""
        if candidates not in (1, self.candidates):
            raise ValueError(f"this backend was exported for {self.candidates} candidates, "
                             f"got {candidates}")
        K = candidates
        args = [steps.expand(K, -1, -1).contiguous() if K > 1 else steps]
        if self.config.goal_dim:
            args.append(np.repeat(np.asarray(goal, dtype=np.float32).reshape(1, -1), K, 0))
        args += list(self.head.draw_noise(K, generator).values())
        out = self._run("chunk_k" if K > 1 else "chunk", self.chunk_module.input_names, args)
        return out if K > 1 else out[0]

    def decode_begin(self, steps: torch.Tensor, goal: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """steps (1, n_obs_steps, step_dim) -> a chunk's decoding state (gi, hidden), for
        ``decoding.StepDecoder``."""
        args = [steps]
        if self.config.goal_dim:
            args.append(np.asarray(goal, dtype=np.float32).reshape(1, -1))
        gi, hidden = self._run_all("decode_begin", self.modules["decode_begin"].input_names,
                                   args)
        return gi, hidden

    def decode_step(self, gi: np.ndarray, hidden: np.ndarray, prev: np.ndarray, u: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step's tokens -> its unnormalized action (A,), the hidden state, the last
        token."""
        action, hidden, prev = self._run_all("decode_step", ["gi", "hidden", "prev", "u"],
                                             [gi, hidden, prev, u])
        return action[0], hidden, prev


def make_backend(name: str, policy, threads: int = 1):
    """None for ``torch`` (eager), else the backend object (see ``Policy.set_backend``)."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return None if name == "torch" else OnnxRuntimeBackend(policy, threads=max(1, threads))
