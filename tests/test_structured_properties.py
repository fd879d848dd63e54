"""Property tests of `pathkernel.kernels.structured` on random chains (Hypothesis).

A drawn `Spec` is 1-4 Linear layers (nn.Linear with or without bias, or `NTKLinear`), widths
1-6, input dimension 1-4, 1-3 outputs, runs of 0-3 elementwise modules (every activation of
`ELEMENTWISE`, Identity, eval-mode Dropout / AlphaDropout, no-op Flatten) before, between
and after them, an optional nested nn.Sequential, random frozen weights and biases, and a
seed for the initialization. The reference is independent of the structured route:
reverse-mode Jacobians (`torch.func.jacrev`) and forward-mode JVPs (`torch.func.jvp`) of
the model as a function of its flat parameters, restricted to the trainable columns by hand.

Tolerance (float64): max |structured - reverse| <= 1e-12 * scale + 8 max |reverse - forward|.
scale is the magnitude of the quantity (for kernels, the Cauchy-Schwarz scale
max_i |J(x_i)| max_j |J'(x'_j)|, so that entries that cancel to ~0 are not compared
relative to themselves). The second term is the disagreement between torch's own reverse-
and forward-mode references: some activation derivatives carry an absolute, not relative,
round-off (Tanhshrink' = 1 - (1 - tanh(z)^2) ~ z^2 near 0; likewise SiLU', Mish', GELU'
near their zero crossings), so when every Jacobian entry passes through such a point all
three routes differ from the exact value by ~1e-10 relative (see TANHSHRINK_NEAR_ZERO); in
well-conditioned cases that term is ~1e-17 and the bound is 1e-12 relative. The JVP is
compared with J @ delta (reverse) and torch.func.jvp (forward) the same way; the outputs
with the model's forward at 1e-12 relative. Inputs and parameters are drawn from continuous
distributions, so no pre-activation sits exactly at a kink (where forward- and
reverse-mode conventions could differ). Runs can feed a kink an exact constant (ReLU's 0
into another ReLU, Threshold's value, Hardtanh's bounds), but every such constant comes
with derivative 0 from the map that produced it, so the product of derivatives is 0 in
both routes whatever the convention at the kink.

Failures that Hypothesis shrank are kept below as @example rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import jacfwd, jacrev, jvp

from pathkernel.kernels import structured
from pathkernel.functional import flat_function, flat_parameters
from pathkernel.models import Erf, NTKLinear
from reference import randn

MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky-relu": lambda: nn.LeakyReLU(0.2),
    "elu": lambda: nn.ELU(0.7),
    "selu": nn.SELU,
    "celu": lambda: nn.CELU(1.3),
    "gelu": nn.GELU,
    "gelu-tanh": lambda: nn.GELU(approximate="tanh"),
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "softplus": lambda: nn.Softplus(beta=2.0, threshold=1.5),
    "softsign": nn.Softsign,
    "sigmoid": nn.Sigmoid,
    "log-sigmoid": nn.LogSigmoid,
    "tanh": nn.Tanh,
    "tanhshrink": nn.Tanhshrink,
    "hardtanh": lambda: nn.Hardtanh(-0.8, 0.6),
    "hardsigmoid": nn.Hardsigmoid,
    "hardswish": nn.Hardswish,
    "hardshrink": lambda: nn.Hardshrink(0.3),
    "softshrink": lambda: nn.Softshrink(0.3),
    "threshold": lambda: nn.Threshold(0.1, -0.5),
    "erf": Erf,
    "identity": nn.Identity,
    "dropout": lambda: nn.Dropout(0.5),  # the model is put in eval mode: an identity
    "alpha-dropout": lambda: nn.AlphaDropout(0.5),
    "flatten": nn.Flatten,
}

# In-place variants, drawn only first in a run: one after another activation would
# overwrite the output that activation's backward needs, so reverse-mode autograd of the
# model itself (the reference) fails, while the structured route (forward mode) would not.
IN_PLACE: dict[str, Callable[[], nn.Module]] = {
    "relu-inplace": lambda: nn.ReLU(inplace=True),
    "leaky-relu-inplace": lambda: nn.LeakyReLU(0.2, inplace=True),
    "elu-inplace": lambda: nn.ELU(inplace=True),
    "hardtanh-inplace": lambda: nn.Hardtanh(-0.8, 0.6, inplace=True),
    "silu-inplace": lambda: nn.SiLU(inplace=True),
}
FACTORIES = {**MODULES, **IN_PLACE}


@dataclass(frozen=True)
class LayerSpec:
    fan_out: int
    ntk: bool  # NTKLinear(weight_var=1.5, bias_var=0.3), which always has a bias
    bias: bool  # for nn.Linear
    freeze_weight: bool
    freeze_bias: bool


@dataclass(frozen=True)
class Spec:
    seed: int
    in_dim: int
    layers: tuple[LayerSpec, ...]  # the last fan_out is the number of outputs c
    runs: tuple[tuple[str, ...], ...]  # len(layers) + 1 runs: before layer 1, after each layer
    group: tuple[int, int] | None  # modules[i:j] wrapped in a nested nn.Sequential


def build(spec: Spec) -> nn.Module:
    """The float64 nn.Sequential (eval mode) that `spec` describes."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        modules = [FACTORIES[name]() for name in spec.runs[0]]
        fan_in = spec.in_dim
        for layer, run in zip(spec.layers, spec.runs[1:]):
            if layer.ntk:
                modules.append(NTKLinear(fan_in, layer.fan_out, weight_var=1.5, bias_var=0.3))
            else:
                modules.append(nn.Linear(fan_in, layer.fan_out, bias=layer.bias))
            modules += [FACTORIES[name]() for name in run]
            fan_in = layer.fan_out
    if spec.group is not None:
        i, j = spec.group
        modules[i:j] = [nn.Sequential(*modules[i:j])]
    model = nn.Sequential(*modules).double().eval()
    linears = [m for m in model.modules() if isinstance(m, (nn.Linear, NTKLinear))]
    for linear, layer in zip(linears, spec.layers):
        linear.weight.requires_grad_(not layer.freeze_weight)
        if linear.bias is not None:
            linear.bias.requires_grad_(not layer.freeze_bias)
    return model


def draw_run(draw: st.DrawFn) -> tuple[str, ...]:
    """0-3 module names, the first possibly an in-place one."""
    names = draw(st.lists(st.sampled_from(sorted(MODULES)), max_size=3))
    if names and draw(st.booleans()):
        names[0] = draw(st.sampled_from(sorted(IN_PLACE)))
    return tuple(names)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    depth = draw(st.integers(1, 4))
    outputs = draw(st.integers(1, 3))
    layers = tuple(
        LayerSpec(fan_out=outputs if k == depth - 1 else draw(st.integers(1, 6)), ntk=draw(st.booleans()),
                  bias=draw(st.booleans()), freeze_weight=draw(st.booleans()), freeze_bias=draw(st.booleans()))
        for k in range(depth)
    )
    runs = tuple(draw_run(draw) for _ in range(depth + 1))
    count = depth + sum(map(len, runs))
    group = None
    if draw(st.booleans()):
        i = draw(st.integers(0, count - 1))
        group = (i, draw(st.integers(i + 1, count)))
    return Spec(seed=draw(st.integers(0, 2**16)), in_dim=draw(st.integers(1, 4)), layers=layers, runs=runs,
                group=group)


def inputs(spec: Spec, n: int, salt: int) -> torch.Tensor:
    return 1.5 * randn(n, spec.in_dim, seed=spec.seed + salt)


def trainable(model: nn.Module) -> torch.Tensor:
    return torch.cat([torch.full((p.numel(),), p.requires_grad) for p in model.parameters()])


def jacobians(model: nn.Module, theta: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, c, P) Jacobians of the flat function, every column, by reverse and by forward mode."""
    f = flat_function(model)
    return jacrev(f)(theta, x.clone()), jacfwd(f)(theta, x.clone())  # clone: in-place modules write to x


def assert_close(
    actual: torch.Tensor, reverse: torch.Tensor, forward: torch.Tensor, scale: float | None = None
) -> None:
    """max |actual - reverse| <= 1e-12 * scale + 8 max |reverse - forward|.

    scale: the magnitude of the quantity (default max |reverse|). reverse, forward: the
    reference by torch's reverse- and forward-mode autodiff; their disagreement measures the
    round-off of the activations' derivative formulas (see the module docstring).
    """
    scale = float(reverse.abs().max()) if scale is None else scale
    spread = float((reverse - forward).abs().max())
    error = float((actual - reverse).abs().max())
    assert error <= 1e-12 * scale + 8 * spread, f"error {error:.3e} > 1e-12 * {scale:.3e} + 8 * {spread:.3e}"


def gram(J1: torch.Tensor, J2: torch.Tensor) -> torch.Tensor:
    return torch.einsum("icp,jdp->ijcd", J1, J2)


def bound(J1: torch.Tensor, J2: torch.Tensor) -> float:
    """Cauchy-Schwarz scale of the kernel's entries: max_i |J1_i| max_j |J2_j|."""
    return float(J1.norm(dim=-1).max() * J2.norm(dim=-1).max())


# Shapes of the issue-16 bug (the named regression tests are in test_structured.py): a run
# of two activations; leading, middle and trailing runs around Linear-Linear, nested.
TWO_ACTIVATIONS = Spec(seed=0, in_dim=2, layers=(LayerSpec(3, False, True, False, False),
                                                 LayerSpec(1, False, True, False, False)),
                       runs=((), ("tanh", "tanh"), ()), group=None)
EVERYTHING_AROUND = Spec(seed=1, in_dim=3, layers=(LayerSpec(4, True, True, False, True),
                                                   LayerSpec(2, False, False, True, False),
                                                   LayerSpec(2, False, True, False, False)),
                         runs=(("softsign",), (), ("identity", "gelu", "sigmoid"), ("relu6", "softplus")),
                         group=(1, 4))
# Shrunk by Hypothesis (dev profile, thousands of examples) when the tolerance was 1e-12 *
# magnitude alone: every Jacobian entry is small because it goes through Tanhshrink near 0,
# whose derivative torch computes as 1 - (1 - tanh(z)^2) ~ z^2 with an absolute error ~eps.
# Against tanh(z)^2 computed directly, structured, jacrev and jacfwd are all off by up to
# 5e-10 relative there (checked by hand), so these are not route errors; the 8 * spread
# term of `assert_close` covers them.
TANHSHRINK_NEAR_ZERO = (
    Spec(seed=744, in_dim=2, layers=(LayerSpec(2, True, False, False, False),),
         runs=(("relu",), ("hardswish", "relu", "tanhshrink")), group=None),
    Spec(seed=0, in_dim=1, layers=(LayerSpec(1, False, False, False, False),),
         runs=(("hardtanh",), ("tanhshrink", "tanhshrink")), group=None),
    Spec(seed=0, in_dim=1,
         layers=(LayerSpec(1, False, True, False, False),) + (LayerSpec(1, False, False, False, False),) * 3,
         runs=((), (), (), (), ("tanhshrink", "tanhshrink")), group=None),
    Spec(seed=0, in_dim=1, layers=(LayerSpec(1, False, False, False, False),) * 3,
         runs=((), (), ("tanhshrink",), ()), group=None),
)


def examples(test):
    for spec in (TWO_ACTIVATIONS, EVERYTHING_AROUND, *TANHSHRINK_NEAR_ZERO):
        test = example(spec=spec)(test)
    return test


SETTINGS = settings(max_examples=70)


@SETTINGS
@given(spec=specs())
@examples
def test_kernel_with_two_parameter_vectors_matches_the_trainable_jacobians(spec):
    model = build(spec)
    chain = structured.chain_of(model)
    assert chain is not None
    theta = flat_parameters(model)
    other = theta + 0.3 * randn(theta.numel(), seed=spec.seed + 1)
    x1, x2 = inputs(spec, 4, 2), inputs(spec, 3, 3)
    (R1, F1), (R2, F2) = jacobians(model, theta, x1), jacobians(model, other, x2)
    mask = trainable(model)
    K = structured.kernel(structured.side(chain, theta, x1), structured.side(chain, other, x2))
    assert_close(K, gram(R1[:, :, mask], R2[:, :, mask]), gram(F1[:, :, mask], F2[:, :, mask]), bound(R1, R2))
    every = structured.chain_of(model, parameters="all")
    K = structured.kernel(structured.side(every, theta, x1), structured.side(every, other, x2))
    assert_close(K, gram(R1, R2), gram(F1, F2), bound(R1, R2))


@SETTINGS
@given(spec=specs())
@examples
def test_features_are_the_full_jacobian(spec):
    model = build(spec)
    chain = structured.chain_of(model)
    theta = flat_parameters(model)
    theta = theta + 0.2 * randn(theta.numel(), seed=spec.seed)
    x = inputs(spec, 4, 4)
    before = x.clone()
    features = structured.features(chain, theta, x)
    assert torch.equal(x, before)  # in-place modules must not write to the caller's x
    assert_close(features, *jacobians(model, theta, x))


@SETTINGS
@given(spec=specs())
@examples
def test_diagonal_is_the_squared_norm_of_the_trainable_jacobian(spec):
    model = build(spec)
    chain = structured.chain_of(model)
    theta = flat_parameters(model)
    x = inputs(spec, 5, 5)
    mask = trainable(model)
    R, F = (J[:, :, mask] for J in jacobians(model, theta, x))
    diagonal = structured.diagonal(structured.side(chain, theta, x))
    assert_close(diagonal, R.pow(2).sum(-1), F.pow(2).sum(-1), float(R.norm(dim=-1).max()) ** 2)


@SETTINGS
@given(spec=specs())
@examples
def test_directional_outputs_and_jvps_match_torch_func(spec):
    model = build(spec)
    chain = structured.chain_of(model)
    theta = flat_parameters(model)
    thetas = theta + 0.2 * randn(2, theta.numel(), seed=spec.seed + 6)
    deltas = randn(2, theta.numel(), seed=spec.seed + 7)
    x = inputs(spec, 4, 8)
    out, derivative = structured.directional(chain, thetas, x, deltas)
    alone, none = structured.directional(chain, thetas, x)
    assert none is None
    f = flat_function(model)
    for b in range(2):
        value, tangent = jvp(lambda t: f(t, x.clone()), (thetas[b],), (deltas[b],))
        torch.testing.assert_close(out[b], value, rtol=1e-12, atol=1e-12 * float(value.abs().max()))
        torch.testing.assert_close(alone[b], value, rtol=1e-12, atol=1e-12 * float(value.abs().max()))
        R = jacrev(f)(thetas[b], x.clone())
        assert_close(derivative[b], R @ deltas[b], tangent, float(R.norm(dim=-1).max() * deltas[b].norm()))
