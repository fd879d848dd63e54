"""Recognizing a fully connected chain: `chain_of(model)` reads a module's Linear layers,
the runs of elementwise maps between them and where each weight and bias sits in the flat
parameter vector, or returns None when the module is not a chain.

A chain is a_0 = rho_0(x), z_l = s_l W_l a_{l-1} + t_l b_l, a_l = rho_l(z_l); what is
recognized, and what is refused, is listed in the docstring of `pathkernel.kernels.structured`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pathkernel.models import MLP, Erf, LinearModel, NTKLinear

ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Softplus, nn.Softsign, nn.Sigmoid, nn.LogSigmoid, nn.Tanh, nn.Tanhshrink, nn.Hardtanh,
    nn.Hardsigmoid, nn.Hardswish, nn.Hardshrink, nn.Softshrink, nn.Threshold, nn.Identity, Erf,
)
"""Parameter-free modules acting on each entry independently (matched by exact type)."""

AFFINE: tuple[type[nn.Module], ...] = (nn.Linear, NTKLinear)
DROPOUT: tuple[type[nn.Module], ...] = (nn.Dropout, nn.AlphaDropout)
PARAMETER_SETS = ("trainable", "all")


@dataclass(frozen=True)
class Affine:
    """A Linear layer z = s W a + t b: where its weight (fan_out, fan_in) and bias sit in
    the flat vector, its scales s, t, and whether each tensor enters the kernels
    (`bias_trainable` is False when there is no bias)."""

    weight: slice
    shape: tuple[int, int]
    bias: slice | None
    weight_scale: float
    bias_scale: float
    weight_trainable: bool = True
    bias_trainable: bool = True


@dataclass(frozen=True)
class Run:
    """One or more elementwise modules applied in order: rho = sigma_k o ... o sigma_1."""

    modules: tuple[nn.Module, ...]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        for module in self.modules:
            z = module(z)
        return z


Layer = Affine | Run


@dataclass(frozen=True)
class Chain:
    """Affine layers and the runs between them, in forward order: at least one Affine,
    never two Runs in a row (a leading Run is rho_0, a Run after layer l is rho_l)."""

    layers: tuple[Layer, ...]

    @property
    def affines(self) -> list[Affine]:
        return [layer for layer in self.layers if isinstance(layer, Affine)]


_CONTAINERS = (nn.Sequential, MLP, LinearModel)


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The modules a recognized container applies in order (a non-container is its own leaf)."""
    if type(module) is nn.Sequential:
        children = list(module)
    elif type(module) is MLP:
        children = [module.layers]
    elif type(module) is LinearModel:
        children = [module.linear]
    else:
        return [module]
    return [leaf for child in children for leaf in _leaves(child)]


def _is_identity(module: nn.Module) -> bool:
    """Modules that leave (n, d) activations unchanged: Identity, eval-mode dropout, a
    Flatten of the feature axis alone."""
    kind = type(module)
    if kind is nn.Identity:
        return True
    if kind in DROPOUT:
        return not module.training
    if kind is nn.Flatten:
        return module.start_dim in (1, -1) and module.end_dim in (1, -1)
    return False


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def chain_of(model: nn.Module, parameters: str = "trainable") -> Chain | None:
    """The chain structure of `model`, or None when it is not a recognized chain (see
    `pathkernel.kernels.structured` for what is recognized).

    parameters: "trainable" (the kernels sum over parameters with requires_grad=True) or
    "all" (over every parameter); recorded as `Affine.weight_trainable` / `bias_trainable`.
    """
    if parameters not in PARAMETER_SETS:
        raise ValueError(f"parameters={parameters!r}; expected one of {PARAMETER_SETS}")
    if type(model) not in _CONTAINERS or any(_hooked(m) for m in model.modules()):
        return None
    offsets: dict[int, slice] = {}
    start = 0
    for p in model.parameters():
        offsets[id(p)] = slice(start, start + p.numel())
        start += p.numel()
    every = parameters == "all"
    layers: list[Layer] = []
    run: list[nn.Module] = []
    seen: set[int] = set()
    for module in _leaves(model):
        if type(module) in AFFINE:
            params = [module.weight] + ([module.bias] if module.bias is not None else [])
            if any(id(p) in seen or id(p) not in offsets for p in params):
                return None
            seen.update(id(p) for p in params)
            if run:
                layers.append(Run(tuple(run)))
                run = []
            ntk = type(module) is NTKLinear
            layers.append(Affine(
                weight=offsets[id(module.weight)],
                shape=tuple(module.weight.shape),
                bias=offsets[id(module.bias)] if module.bias is not None else None,
                weight_scale=module.weight_scale if ntk else 1.0,
                bias_scale=module.bias_scale if ntk else 1.0,
                weight_trainable=every or module.weight.requires_grad,
                bias_trainable=module.bias is not None and (every or module.bias.requires_grad),
            ))
        elif _is_identity(module):
            continue
        elif type(module) in ELEMENTWISE:
            run.append(module)
        else:
            return None
    if run:
        layers.append(Run(tuple(run)))
    if not seen or len(seen) != len(offsets):
        return None
    return Chain(tuple(layers))


def input_and_body(chain: Chain, x: torch.Tensor) -> tuple[torch.Tensor, tuple[Layer, ...]]:
    """a_0 = rho_0(x) (x itself without a leading run) and the layers after rho_0."""
    head, *body = chain.layers
    if isinstance(head, Run):
        return head(x.clone()), tuple(body)  # clone: the run may hold in-place modules
    return x, chain.layers


def trainable_columns(chain: Chain) -> dict[int, slice]:
    """Where each trainable tensor's columns sit among the trainable coordinates alone:
    flat start of the tensor -> its slice in the compressed (P_trainable) layout."""
    pieces = []
    for layer in chain.affines:
        pieces.append((layer.weight, layer.weight_trainable))
        if layer.bias is not None:
            pieces.append((layer.bias, layer.bias_trainable))
    columns, start = {}, 0
    for place, trainable in sorted(pieces, key=lambda piece: piece[0].start):
        if trainable:
            width = place.stop - place.start
            columns[place.start] = slice(start, start + width)
            start += width
    return columns
