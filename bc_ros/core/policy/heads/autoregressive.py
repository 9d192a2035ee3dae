"""Autoregressive discretization (RT-1 style): every action dimension of the chunk is one token
among ``bins`` bins spanning [-1, 1] (the normalizer maps each dimension's q01..q99 there),
predicted one dimension at a time conditioned on the observation and the tokens before it.
Training is cross-entropy with teacher forcing; sampling draws token by token with temperature
and top-k (nanoGPT's ``generate``), each token drawn by the inverse CDF of one uniform number.
A GRU carries the earlier tokens. Decoding runs the GRU cell by hand on the ``nn.GRU`` weights
(the same arithmetic as ``nn.GRU``), with the parts of the input projection that do not depend on
the previous token (condition, position) computed for all steps at once, so a step is two small
matrix products; the loop has a fixed length and traces to ONNX. At run time only the chunk's
steps that are executed are decoded (``steps_needed``, set by the policy when nothing reads the
rest of the chunk): the tokens of a prefix do not depend on the ones after it, so the executed
actions are the same as with the whole chunk decoded, in a fraction of the steps. The policy
goes further where it can (``incremental``; ``decoding.py``): it decodes each executed step at
the tick that sends it (``decode_begin`` once per chunk, then ``decode_tokens`` for one step's
tokens a tick), so a planning tick costs one step's tokens rather than the chunk's.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from bc_ros.core.policy.heads.base import ActionHead, inverse_cdf, masked_mean, register


@dataclasses.dataclass
class AROptions:
    bins: int = 256           # tokens per action dimension (RT-1 uses 256)
    hidden: int = 256         # GRU width
    embed: int = 64           # token embedding size
    temperature: float = 1.0  # < 1 sharpens, > 1 flattens the per-token distribution
    top_k: int = 0            # sample among the k most likely bins (0 = all)

    def __post_init__(self):
        if self.bins < 2 or self.hidden < 1 or self.embed < 1:
            raise ValueError(f"bins >= 2, hidden >= 1 and embed >= 1 needed, got {self}")
        if not self.temperature > 0 or self.top_k < 0:
            raise ValueError(f"temperature must be > 0 and top_k >= 0, got {self}")


@register("ar")
class AutoregressiveHead(ActionHead):
    Options = AROptions

    def __init__(self, spec, options=None):
        super().__init__(spec, options)
        o = self.options
        self.n = spec.horizon * spec.action_dim             # tokens per chunk
        self.token = nn.Embedding(o.bins + 1, o.embed)       # the last index is "start"
        self.position = nn.Embedding(self.n, o.embed)
        self.init = nn.Linear(spec.cond_dim, o.hidden)
        self.gru = nn.GRU(o.embed + spec.cond_dim, o.hidden, batch_first=True)
        self.out = nn.Linear(o.hidden, o.bins)
        centers = torch.linspace(-1.0, 1.0, o.bins)
        self.register_buffer("centers", centers)

    def tokenize(self, action: torch.Tensor) -> torch.Tensor:
        """Normalized actions (..., ) in [-1, 1] -> bin indices (clipped outside)."""
        b = self.options.bins
        return ((action.clamp(-1, 1) + 1) / 2 * (b - 1)).round().long()

    def loss(self, cond, action, mask=None):
        B, H, A = action.shape
        tokens = self.tokenize(action.reshape(B, self.n))                       # (B, n)
        start = torch.full((B, 1), self.options.bins, device=cond.device)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)                       # (B, n)
        x = self.token(inputs) + self.position.weight                            # (B, n, E)
        x = torch.cat([x, cond.unsqueeze(1).expand(B, self.n, -1)], dim=-1)
        h, _ = self.gru(x, self.init(cond).tanh().unsqueeze(0))                 # (B, n, hidden)
        logits = self.out(h)                                                     # (B, n, bins)
        ce = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")   # (B, n)
        return masked_mean(ce.view(B, H, A).sum(-1), mask)

    def noise_spec(self, batch):
        return {"u": ((batch, self.n), "uniform")}     # one uniform per token

    # ---- decoding: a chunk's tokens in order, a step's worth at a time if wanted ---------------
    incremental = True     # Policy may decode the executed steps one tick at a time

    def start_tokens(self, batch: int, device=None) -> torch.Tensor:
        """The "start" token that comes before a chunk's first (B,)."""
        return torch.full((batch,), self.options.bins, dtype=torch.long, device=device)

    def decode_begin(self, cond):
        """cond (B, D) -> what every token of the chunk reads: the GRU's input gates without the
        previous token's embedding, for every position (B, n, 3h), and the first hidden state
        (B, h)."""
        g, E = self.gru, self.options.embed
        w_tok, w_cond = g.weight_ih_l0[:, :E], g.weight_ih_l0[:, E:]        # (3h, E), (3h, D)
        gi_fixed = (F.linear(cond, w_cond, g.bias_ih_l0).unsqueeze(1)
                    + F.linear(self.position.weight, w_tok).unsqueeze(0))
        return gi_fixed, self.init(cond).tanh()

    def decode_tokens(self, gi_fixed, hidden, prev, u):
        """The next k tokens: gi_fixed (B, k, 3h) and u (B, k) of their positions, the hidden
        state and previous token (B,) -> tokens (B, k), the hidden state and the last token
        after them. The GRU cell by hand on ``nn.GRU``'s weights (its arithmetic)."""
        o, g, E = self.options, self.gru, self.options.embed
        w_tok = g.weight_ih_l0[:, :E]
        out = []
        for i in range(gi_fixed.shape[1]):
            gi = F.linear(self.token(prev), w_tok) + gi_fixed[:, i]              # (B, 3h)
            gh = F.linear(hidden, g.weight_hh_l0, g.bias_hh_l0)
            i_r, i_z, i_n = gi.chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            cand = torch.tanh(i_n + r * h_n)
            hidden = cand + z * (hidden - cand)                 # (1 - z) * cand + z * hidden
            logits = self.out(hidden)                                            # (B, bins)
            if o.temperature != 1.0:
                logits = logits / o.temperature
            if o.top_k and o.top_k < o.bins:
                kth = torch.topk(logits, o.top_k).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            prev = inverse_cdf(F.softmax(logits, -1), u[:, i])
            out.append(prev)
        return torch.stack(out, dim=1), hidden, prev

    def sample_from_noise(self, cond, noise):
        B = cond.shape[0]
        A, H = self.spec.action_dim, self.spec.horizon
        steps = min(self.steps_needed or H, H)
        gi_fixed, hidden = self.decode_begin(cond)
        tokens, _, _ = self.decode_tokens(gi_fixed[:, :steps * A], hidden,
                                          self.start_tokens(B, cond.device),
                                          noise["u"][:, :steps * A])
        tokens = tokens.view(B, steps, A)
        if steps < H:    # the undecoded rest of the chunk, which nothing reads: the last step
            tokens = torch.cat([tokens, tokens[:, -1:].expand(B, H - steps, A)], dim=1)
        return self.centers[tokens]                                              # (B, H, A)
