"""Exact per-example attribution for a user's own PyTorch training loop.

Two added lines turn an ordinary loop into a recorded training path::

    recorder = pk.Recorder(model, optimizer, x_train, y_train, loss="cross_entropy")   # added
    for xb, yb, index in loader:            # a dataset that also returns the index:
        optimizer.zero_grad()               # TensorDataset(x_train, y_train, torch.arange(n))
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()
        recorder.step(index)                # added
    dec = pk.domingos(recorder.path, x_test, exact=True, per_sample=True)
    top = pk.top_examples(dec, k=8)

`pk.domingos(..., exact=True, per_sample=True)` then splits every prediction exactly
(float64 round-off for a float64 model):
f(theta_T, x) = f(theta_0, x) + sum_i per_sample[:, i] (+ regularization with weight decay).

How it works: optimizer step hooks (`torch.optim.Optimizer.register_step_pre_hook` /
`register_step_post_hook`) see the parameters and the user's gradient before the step
and the parameters (and Adam's step scale) after it; `step(index)` files them under the
batch's training-set indices and checks that the declared loss on x_train[index] gives
the user's gradient (so a wrong index, another loss, dropout or augmentation are caught
at the step where they happen).

Memory: two strategies, both reading the path a step at a time, so that with the backward
route (`pathkernel.decomposition.reverse`) the decomposition holds only m x c x P adjoint floats for m
queries, whatever T and n.

* storage="disk" (default; "memory" keeps the same rows in RAM): theta_0..theta_T (and
  Adam's step scales) go to memory-mapped files (`pathkernel.recording.snapshots`) in the
  model's dtype (so a float32 model is decomposed to float32 round-off, a float64 one to
  float64 round-off): (T + 1) x P floats of disk, twice that for Adam/AdamW. A
  1M-parameter model trained by Adam for 10,000 steps needs about 82 GB of disk in
  float32 (172 GB in float64).
* storage="replay": checkpointed replay (`pathkernel.recording.replay`). Only every K-th
  theta with the optimizer's full state is saved (K ~ sqrt(T), chosen as the recording
  goes, or `checkpoint_every`), with a fingerprint of every theta_t; the decomposition
  replays the steps of each K-step segment it reads with the declared loss on the recorded
  batches and learning rates, checks every replayed theta_t against its fingerprint
  (`pathkernel.recording.ReplayDivergedError` names the step of a non-deterministic or
  changed run) and caches two segments. The same 1M-parameter Adam run takes about 1 GB of
  disk in float32 and 2 GB more RAM than the disk mode; each `domingos` call replays the
  run twice (once per sweep), so replay trades disk for training-step time.

Time: about one Jacobian of the queries per quadrature node and one Jacobian-vector product
of the step's batch per explained output, per step (plus two replayed training steps with
storage="replay"); `domingos(..., outputs=[class])` explains one logit instead of all c.
Measured figures for both modes, extrapolated from a few steps: `python -m
benchmarks.attribution` and benchmarks/results/attribution.json.

The recorder and its storage live in `pathkernel.recording` (`Recorder` is re-exported
here and as `pk.Recorder`); this module reads a decomposition back (`top_examples`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pathkernel.decomposition import Decomposition
from pathkernel.recording.recorder import COUPLING_MODULES, Recorder, RecordingError

__all__ = ["COUPLING_MODULES", "Recorder", "RecordingError", "TopExamples", "top_examples"]


@dataclass
class TopExamples:
    """The k strongest proponents and opponents of each query's output.

    Attributes:
        output: (m,) the output (class) each query's contributions refer to.
        proponents, opponents: (m, k) training-set indices, strongest first.
        proponent_contributions: (m, k) their contributions (largest positive first).
        opponent_contributions: (m, k) (most negative first).
    """

    output: torch.Tensor
    proponents: torch.Tensor
    proponent_contributions: torch.Tensor
    opponents: torch.Tensor
    opponent_contributions: torch.Tensor


def top_examples(decomposition: Decomposition, k: int, *, output: int | torch.Tensor | None = None) -> TopExamples:
    """The k training examples that pushed each query's output up most, and down most.

    Args:
        decomposition: from `domingos(..., per_sample=True)`; per_sample is (m, n) or (m, n, c).
        k: how many of each (1 <= k <= n).
        output: for c outputs, the output each query is explained for: one int, an (m,)
            tensor of ints, or None for the predicted class (argmax of the prediction).
            After `domingos(..., outputs=[...])` these are positions in that list.

    Returns:
        `TopExamples`; contributions are per_sample[j, i, output_j] (sum over all i of
        them is the change of that output over training, minus any regularization term).
    """
    contributions = decomposition.per_sample
    if contributions is None:
        raise ValueError("top_examples needs per-sample terms: call domingos(..., per_sample=True)")
    m, n = contributions.shape[:2]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k={k!r} must be an integer in [1, {n}]")
    if contributions.dim() == 2:
        if output not in (None, 0):
            raise ValueError(f"output={output!r}: the model has one output")
        chosen = torch.zeros(m, dtype=torch.long, device=contributions.device)
        contributions = contributions[..., None]
    else:
        c = contributions.shape[2]
        if output is None:
            chosen = decomposition.prediction.argmax(dim=1)
        else:
            chosen = torch.as_tensor(output, dtype=torch.long, device=contributions.device).expand(m).clone()
            if int(chosen.min()) < 0 or int(chosen.max()) >= c:
                raise ValueError(f"output must name outputs in [0, {c}); got {output!r}")
    scores = contributions[torch.arange(m, device=contributions.device), :, chosen]
    up, up_index = scores.topk(k, dim=1)
    down, down_index = (-scores).topk(k, dim=1)
    return TopExamples(output=chosen, proponents=up_index, proponent_contributions=up,
                       opponents=down_index, opponent_contributions=-down)
