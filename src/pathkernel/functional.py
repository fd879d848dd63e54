"""A module seen as a function of its flat parameter vector: f(theta, x).

The flat vector follows ``torch.nn.utils.parameters_to_vector(model.parameters())``
(DESIGN §2): it holds every parameter, trainable or frozen. Outputs are always returned
as (n, c): a scalar-output model (output (n,) or (n, 1)) has c = 1, and callers squeeze
that axis for the public shapes.

Frozen parameters (``requires_grad=False``, the fine-tuning idiom) keep their place in
the flat vector (a training path holds them, constant), but tangent features and kernels
are over the trainable coordinates by default: an optimizer moves only those, so only
they make the kernel machine. `parameter_mask` gives the (P,) selection for
``parameters="trainable"`` or ``"all"``, and `restricted_function` the model as a function
of the selected coordinates alone, the others held at a given flat vector.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

FlatFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

NON_SMOOTH_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Hardtanh, nn.Hardshrink, nn.Softshrink,
                      nn.Threshold, nn.Hardsigmoid, nn.Hardswish, nn.RReLU, nn.SELU)
RANDOM_IN_TRAINING = (nn.modules.dropout._DropoutNd, nn.RReLU)
BATCH_COUPLING = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
PARAMETER_SETS = ("trainable", "all")


class NonSmoothActivationWarning(UserWarning):
    """A theorem that needs a C^1 model is applied to one with a kink (e.g. ReLU)."""


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """The parameters of `model` as one detached vector of shape (P,)."""
    return nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def flat_function(model: nn.Module, *, frozen: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None) -> FlatFunction:
    """f(theta, x) -> (n, c): `model` evaluated at flat parameters theta (P,) on x (n, ...).

    With `mask` ((P_all,) bool, whole tensors selected or not) and `frozen` (a flat vector of
    every coordinate), theta holds the selected coordinates alone (P = mask.sum(), in flat
    order) and the other tensors are the constants `frozen` gives: their gradients are never
    formed, so a Jacobian costs what the selected parameters cost.

    The module's own parameters are not touched; buffers are used as they are.
    Differentiable in theta with torch.func (jvp, jacrev, vmap).
    """
    named = list(model.named_parameters())
    if not named:
        raise ValueError(f"{type(model).__name__} has no parameters to differentiate")
    buffers = dict(model.named_buffers())
    offsets = [0]
    for _, p in named:
        offsets.append(offsets[-1] + p.numel())
    if mask is None or bool(mask.all()):
        selected, constants = named, {}
    else:
        selected, constants = [], {}
        for (name, p), start, stop in zip(named, offsets[:-1], offsets[1:]):
            if bool(mask[start]):
                selected.append((name, p))
            else:
                constants[name] = frozen[start:stop].detach().view(p.shape)
    names = [name for name, _ in selected]
    shapes = [p.shape for _, p in selected]
    numels = [p.numel() for _, p in selected]

    def f(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        chunks = theta.split(numels)
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)} | constants
        out = functional_call(model, (params, buffers), (x.clone(),))  # an in-place first layer must not edit x
        return out.reshape(x.shape[0], -1)

    f.model = model
    return f


def parameter_mask(model: nn.Module, parameters: str = "trainable") -> torch.Tensor:
    """(P,) bool over the flat vector: the coordinates that kernels and features use.

    parameters: "trainable" (parameters with ``requires_grad=True``; the default everywhere)
    or "all" (frozen ones too).

    Raises:
        ValueError: another `parameters` value, or "trainable" on a model whose every
            parameter has requires_grad=False.
    """
    if parameters not in PARAMETER_SETS:
        raise ValueError(f"parameters={parameters!r}; expected one of {PARAMETER_SETS}")
    pieces = [torch.full((p.numel(),), parameters == "all" or p.requires_grad) for p in model.parameters()]
    mask = torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.bool)
    if not bool(mask.any()):
        raise ValueError(f"{type(model).__name__} has no trainable parameter (every parameter has requires_grad=False): "
                         "unfreeze some with p.requires_grad_(True), or pass parameters='all' for the kernel of "
                         "every coordinate")
    return mask


def select_columns(t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """t[..., mask] for a (P,) bool mask kept on the CPU, by an index on t's device (no copy
    when every coordinate is selected; shapes stay static, so meta tensors work too)."""
    if bool(mask.all()):
        return t
    return t.index_select(-1, torch.nonzero(mask).flatten().to(t.device))


def restricted_function(f: FlatFunction, base: torch.Tensor, mask: torch.Tensor) -> FlatFunction:
    """g(theta_sub, x) = f(theta, x) with theta = base except theta[mask] = theta_sub.

    base: flat parameters (P,) supplying the unselected (frozen) coordinates; mask: (P,)
    bool. f is a `flat_function` (or an output selection of one, `f.outputs`): the frozen
    tensors enter as constants, so their gradients are never formed, and the Jacobian of g
    is the Jacobian of f restricted to the columns of `mask`. With every coordinate
    selected, g is f.
    """
    if bool(mask.all()):
        return f
    g = flat_function(f.model, frozen=base, mask=mask)
    outputs = getattr(f, "outputs", None)
    if outputs is None:
        return g
    return lambda theta_sub, x: g(theta_sub, x)[:, outputs]


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype shared by all parameters of `model` (float32, float64, or a half
    precision that pathkernel computes in float32: `pathkernel.precision`)."""
    dtypes = {p.dtype for p in model.parameters()}
    if not dtypes:
        raise ValueError(f"{type(model).__name__} has no parameters: there is no tangent kernel or training path "
                         "to compute")
    if len(dtypes) != 1:
        raise TypeError(f"parameters of {type(model).__name__} mix dtypes {sorted(map(str, dtypes))}")
    dtype = dtypes.pop()
    if dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise TypeError(f"parameters have dtype {dtype}; expected torch.float32 or torch.float64 (or a half "
                        "precision, computed in float32: pathkernel.precision)")
    return dtype


def model_device(model: nn.Module) -> torch.device:
    """The device holding every parameter of `model` (where pathkernel computes)."""
    devices = {p.device for p in model.parameters()}
    if len(devices) > 1:
        raise ValueError(f"parameters of {type(model).__name__} are spread over devices {sorted(map(str, devices))}; "
                         "move the model to one device")
    return devices.pop() if devices else torch.device("cpu")


def is_meta(t: torch.Tensor) -> bool:
    """Whether `t` lives on the meta device (shapes only: value checks are skipped there)."""
    return t.device.type == "meta"


def check_inputs(model: nn.Module, x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Validate a batch of inputs for `model`: a finite tensor with a batch axis, on the model's
    device, in the model's dtype."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"{name} has shape {tuple(x.shape)}; expected (batch, ...) with batch >= 1 and a feature axis")
    dtype = model_dtype(model)
    if x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the model's parameters are {dtype}; convert one of them")
    device = model_device(model)
    if x.device != device:
        raise ValueError(f"{name} is on {x.device} but the model is on {device}; move one of them "
                         f"(e.g. {name}.to('{device}'))")
    if is_meta(x):
        return x
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite.reshape(x.shape[0], -1).all(1)).flatten()
        raise ValueError(f"{name} has {int((~finite).sum())} NaN/inf entries (in examples {bad[:8].tolist()}"
                         f"{' ...' if bad.numel() > 8 else ''}); clean the data first")
    return x


def check_deterministic(model: nn.Module, what: str) -> None:
    """Refuse modules whose training mode makes f random or couples a batch's examples
    (dropout, RReLU, batch normalization; instance normalization that tracks running
    statistics): `what` needs f(theta, x) to be one function of each example. Runs before
    any forward pass, so no buffer is touched."""
    random = sorted({type(m).__name__ for m in model.modules() if isinstance(m, RANDOM_IN_TRAINING) and m.training})
    coupled = sorted({type(m).__name__ for m in model.modules() if isinstance(m, BATCH_COUPLING) and m.training
                      and (m.track_running_stats or not isinstance(m, nn.modules.instancenorm._InstanceNorm))})
    if random or coupled:
        parts = ([f"{', '.join(random)} in training mode (random masks)"] if random else []) + (
            [f"{', '.join(coupled)} in training mode (batch statistics couple the examples and update "
             "running buffers)"] if coupled else [])
        raise ValueError(f"{what} needs a deterministic per-example model, but it has {' and '.join(parts)}; "
                         "call model.eval() first")


def _first_layer(model: nn.Module) -> str:
    for module in model.modules():
        for attribute in ("in_features", "in_channels"):
            if hasattr(module, attribute):
                return f"; its first layer {type(module).__name__} expects {attribute}={getattr(module, attribute)}"
    return ""


def output_dim(model: nn.Module, x: torch.Tensor) -> tuple[int, bool]:
    """(c, scalar): number of outputs per example, and whether the output is scalar ((n,) or (n, 1)).

    Raises:
        ValueError: the model cannot evaluate an example of x's shape (naming the shape and
            the first layer's expected input size).
    """
    try:
        with torch.no_grad():
            out = model(x[:1].clone())
    except RuntimeError as error:
        raise ValueError(f"{type(model).__name__} cannot evaluate inputs of shape {tuple(x.shape)} "
                         f"(one example: {tuple(x.shape[1:])}){_first_layer(model)}: {error}") from error
    scalar = out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1)
    return int(out[0].numel()), scalar


def available_memory(device: torch.device) -> int:
    """Bytes that can still be allocated on `device` (MemAvailable on the CPU)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_allocation(what: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
    """MemoryError before allocating a result of `shape` that cannot fit, naming its size."""
    if device.type not in ("cpu", "cuda"):
        return
    need = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    have = available_memory(device)
    if need > have:
        raise MemoryError(f"{what} of shape {shape} ({dtype}) needs {need / 2**30:.1f} GiB but only "
                          f"{have / 2**30:.1f} GiB is available on {device}; ask for fewer points or outputs")


def kinked_activations(model: nn.Module) -> list[str]:
    """Sorted names of the kinked (not C^1) activation modules in `model`."""
    return sorted({type(m).__name__ for m in model.modules() if isinstance(m, NON_SMOOTH_MODULES)
                   or (isinstance(m, nn.ELU) and m.alpha != 1.0)})  # ELU's slope jumps from 1 to alpha at 0


def warn_if_non_smooth(model: nn.Module, what: str) -> None:
    """Warn when `model` contains a kinked activation: `what` needs f to be C^1 in w."""
    kinked = kinked_activations(model)
    if kinked:
        warnings.warn(
            f"{what} assumes a C^1 model, but the model contains {', '.join(kinked)}: "
            "the Taylor remainder bound does not hold at the kinks (use gelu, softplus or tanh "
            "for the theorem's setting)",
            NonSmoothActivationWarning,
            stacklevel=3,
        )


T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int, desc: str, enabled: bool | None) -> Iterable[T]:
    """A tqdm progress bar, shown by default only on an interactive terminal outside CI.

    enabled=None: on when stderr is a TTY and neither CI nor PATHKERNEL_QUIET is set.
    """
    if enabled is None:
        quiet = os.environ.get("CI") or os.environ.get("PATHKERNEL_QUIET")
        enabled = not quiet and sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False)
