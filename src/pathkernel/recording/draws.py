"""Per-step inputs and targets of a recorded loop: `Recorder.step(indices, inputs=, targets=)`.

Some loops feed training example i to the model at step k through an input x_{k,i} and a target
y_{k,i} drawn afresh at every step: a DDPM's noised point and noise level (x_t, t) with its noise
eps as the target, or data augmentation. Each row of such a batch is a *draw* of its example.
Step k then moves the parameters by the loss gradients at the draws,

    Delta_k = -lr_k S_k sum_j l'(f(theta_k, x_{k,j}), y_{k,j}) grad f(theta_k, x_{k,j})   (SGD: S_k = 1),

so the exact decomposition (DESIGN §3) splits f(theta_T, x) - f(theta_0, x) over the N = sum_k b_k
draws, and an example's contribution is the sum of its draws' contributions.

`Draws` collects them; a path recorded with draws holds the draws as its training points:
path.x (N, ...) and path.y (N, ...) the inputs and targets actually used, path.batches[k] the
draws of step k, and path.hyper["owners"] (N,) the training-set index of each draw (with
path.hyper["examples"] = n), by which `pathkernel.domingos` sums the per-draw terms into
per-example ones, (m, n[, c]). Without the two entries (`Recorder.draw_path`) it returns the
per-draw terms, (m, N[, c]). Steps recorded without inputs= count as draws x[indices], y[indices].
"""

from __future__ import annotations

import torch


class Draws:
    """The draws of a recording: per step, the training-set indices (b,) and, for the steps that had
    their own, the inputs (b, ...) and raw targets (b, ...) the loss was computed on (None otherwise,
    so a loop without draws stores nothing more)."""

    def __init__(self) -> None:
        self.indices: list[torch.Tensor] = []
        self.inputs: list[torch.Tensor | None] = []
        self.targets: list[torch.Tensor | None] = []

    @property
    def used(self) -> bool:
        """Whether any step had its own inputs."""
        return any(inputs is not None for inputs in self.inputs)

    def add(self, index: torch.Tensor, inputs: torch.Tensor | None, targets: torch.Tensor | None) -> None:
        """File one step's draws (inputs, targets None: x[index], y[index])."""
        self.indices.append(index)
        self.inputs.append(inputs)
        self.targets.append(targets)

    def fields(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, object]:
        """The `TrainingPath` fields of the draws on the training set x (n, ...), y (n, ...): x (N, ...),
        y (N, ...), batches (T index tensors into the draws) and hyper entries owners (N,), examples n."""
        sizes = [index.numel() for index in self.indices]
        starts = torch.tensor([0] + sizes).cumsum(0).tolist()
        device = x.device
        return {
            "x": torch.cat([x[i] if a is None else a for i, a in zip(self.indices, self.inputs)]),
            "y": torch.cat([y[i] if b is None else b for i, b in zip(self.indices, self.targets)]),
            "batches": [torch.arange(a, b) for a, b in zip(starts[:-1], starts[1:])],
            "hyper": {"owners": torch.cat(self.indices).to(device), "examples": x.shape[0]},
        }


def checked_draws(inputs: torch.Tensor | None, targets: torch.Tensor | None, index: torch.Tensor,
                  x: torch.Tensor, y: torch.Tensor, *, replay: bool = False) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The step's (inputs, targets) given by the loop, checked against x's example shape, dtype and
    device, y's, and the batch size; (None, None) when both are None (the draws are x[index], y[index]).

    Raises:
        ValueError: only one of the two given, a row count other than len(index), another example
            shape, device or dtype (each named with its value), draws with `replay` storage.
    """
    if inputs is None and targets is None:
        return None, None
    if replay:
        raise ValueError("storage='replay' replays the steps from x[indices]; a loop with its own inputs= "
                         "needs storage='disk' or 'memory'")
    if inputs is None or targets is None:
        raise ValueError("recorder.step needs both inputs= and targets= (the draws the loss used) or neither; "
                         f"got inputs={'None' if inputs is None else 'a tensor'}, "
                         f"targets={'None' if targets is None else 'a tensor'}")
    for name, value in (("inputs", inputs), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
        if value.shape[0] != index.numel():
            raise ValueError(f"{name} has {value.shape[0]} rows but the batch has {index.numel()} indices")
        if value.device != x.device:
            raise ValueError(f"{name} is on {value.device} but x and the model are on {x.device}")
    if inputs.shape[1:] != x.shape[1:]:
        raise ValueError(f"inputs have example shape {tuple(inputs.shape[1:])}; x has {tuple(x.shape[1:])}")
    if inputs.dtype != x.dtype:
        raise ValueError(f"inputs have dtype {inputs.dtype}; x and the model have {x.dtype}")
    if targets.shape[1:] != y.shape[1:] or targets.dtype != y.dtype:
        raise ValueError(f"targets have shape {tuple(targets.shape[1:])} and dtype {targets.dtype} per example; "
                         f"y has {tuple(y.shape[1:])} and {y.dtype}")
    return inputs.detach().clone(), targets.detach().clone()
