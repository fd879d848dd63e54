import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel.kernels import structured
from reference import load_flat, naive_jacobian, naive_kernel, randn, relative_error


def sequential():
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(6, 6, bias=False), nn.GELU(approximate="tanh"))
    return nn.Sequential(nn.Linear(3, 6), nn.Softplus(beta=2.0), inner, nn.Linear(6, 2)).double()


CHAINS = {
    "mlp-gelu": lambda: pk.MLP(3, 7, 3, dtype=torch.float64),
    "mlp-tanh-3-outputs": lambda: pk.MLP(3, 5, 4, out_dim=3, activation="tanh", dtype=torch.float64),
    "mlp-ntk-erf": lambda: pk.MLP(3, 6, 3, activation="erf", parameterization="ntk", weight_var=1.5,
                                  bias_var=0.2, dtype=torch.float64),
    "linear": lambda: pk.LinearModel(3, out_dim=2, dtype=torch.float64),
    "sequential": sequential,
}


@pytest.mark.parametrize("name", CHAINS)
def test_structured_kernel_matches_naive_loop(name):
    model = CHAINS[name]()
    assert structured.chain_of(model) is not None
    x1, x2 = randn(5, 3, seed=1), randn(4, 3, seed=2)
    K = pk.tangent_kernel(model, x1, x2, method="structured")
    reference = naive_kernel(model, x1, x2)
    if reference.shape[-1] == 1:
        reference = reference[..., 0, 0]
    assert relative_error(K, reference) < 1e-12


@pytest.mark.parametrize("name", CHAINS)
def test_structured_features_and_two_parameter_vectors(name):
    model = CHAINS[name]()
    x = randn(4, 3, seed=3)
    phi = pk.tangent_features(model, x, method="structured")
    reference = naive_jacobian(model, x)
    assert relative_error(phi, reference[:, 0] if reference.shape[1] == 1 else reference) < 1e-12
    theta = pk.flat_parameters(model)
    other = theta + 0.3 * randn(theta.numel(), seed=4)
    K = pk.tangent_kernel(model, x, x[:2], params2=other, method="structured")
    expected = naive_kernel(model, x, x[:2], model2=load_flat(model, other))
    assert relative_error(K, expected[..., 0, 0] if expected.shape[-1] == 1 else expected) < 1e-12


def test_structured_normalized_and_blocked():
    model = pk.MLP(3, 9, 3, out_dim=2, dtype=torch.float64)
    x = randn(11, 3, seed=5)
    full = pk.tangent_kernel(model, x, normalized=True, method="generic")
    for max_memory in (1, 500, 1 << 30):
        assert relative_error(pk.tangent_kernel(model, x, normalized=True, max_memory=max_memory), full) < 1e-12


class Custom(pk.MLP):
    def forward(self, x):
        return super().forward(x) ** 2


def test_non_chains_fall_back_to_the_generic_route():
    shared = nn.Linear(4, 4)
    conv = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(4, 1))
    batchnorm = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    for model in (Custom(3, 4, 2), nn.Sequential(nn.Linear(3, 4), shared, nn.Tanh(), shared, nn.Linear(4, 1)),
                  conv, batchnorm):
        assert structured.chain_of(model) is None
    model = Custom(3, 4, 2, dtype=torch.float64)
    x = randn(5, 3, seed=6)
    with pytest.raises(ValueError, match="structured"):
        pk.tangent_kernel(model, x, method="structured")
    assert relative_error(pk.tangent_kernel(model, x), naive_kernel(model, x, x)[..., 0, 0]) < 1e-12
    with pytest.raises(ValueError, match="method='fast'"):
        pk.tangent_kernel(model, x, method="fast")


@pytest.mark.parametrize("name", CHAINS)
def test_batched_directional_derivatives_match_finite_differences_and_autograd(name):
    model = CHAINS[name]()
    chain = structured.chain_of(model)
    theta = pk.flat_parameters(model)
    thetas = theta + 0.2 * randn(3, theta.numel(), seed=7)
    deltas = randn(3, theta.numel(), seed=8)
    x = randn(6, 3, seed=9)
    out, derivative = structured.directional(chain, thetas, x, deltas)
    for b in range(3):
        clone = load_flat(model, thetas[b])
        torch.testing.assert_close(out[b], clone(x).detach().reshape(6, -1), rtol=1e-13, atol=1e-14)
        expected = torch.einsum("ncp,p->nc", naive_jacobian(clone, x), deltas[b])
        assert relative_error(derivative[b], expected) < 1e-12
        h = 1e-6
        central = (load_flat(model, thetas[b] + h * deltas[b])(x) - load_flat(model, thetas[b] - h * deltas[b])(x)) / (2 * h)
        assert relative_error(derivative[b], central.detach().reshape(6, -1)) < 1e-7


# ---------------------------------------------------------------------------------------------
# Issue 16: chains that do not strictly alternate Linear / one activation. Each is compared
# with the generic torch.func route (an independent computation of the same Jacobians).

def seeded(*modules: nn.Module) -> nn.Module:
    """A float64 nn.Sequential in eval mode (the caller seeds the initialization)."""
    return nn.Sequential(*modules).double().eval()


def make(build):
    """A factory calling `build` after torch.manual_seed(0)."""
    def factory():
        torch.manual_seed(0)
        return build()
    return factory


IRREGULAR = {
    # silently wrong before: one derivative per activation module, indexed by layer
    "tanh-tanh": make(lambda: seeded(nn.Linear(3, 5), nn.Tanh(), nn.Tanh(), nn.Linear(5, 2))),
    "identity-gelu": make(lambda: seeded(nn.Linear(3, 5), nn.Identity(), nn.GELU(), nn.Linear(5, 2))),
    "gelu-sigmoid": make(lambda: seeded(nn.Linear(3, 5), nn.GELU(), nn.Sigmoid(), nn.Linear(5, 4), nn.Tanh(),
                                        nn.Linear(4, 1))),
    # crashed before
    "linear-linear": make(lambda: seeded(nn.Linear(3, 5), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))),
    "linear-linear-last": make(lambda: seeded(nn.Linear(3, 5), nn.SiLU(), nn.Linear(5, 4), nn.Linear(4, 1))),
    "leading-activation": make(lambda: seeded(nn.Tanh(), nn.Linear(3, 5), nn.ELU(), nn.Linear(5, 2))),
    "leading-run": make(lambda: seeded(nn.Softsign(), nn.Mish(), nn.Linear(3, 4), nn.Linear(4, 1))),
    # refused before (chain_of required a Linear layer last)
    "trailing-activation": make(lambda: seeded(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2), nn.Sigmoid())),
    "trailing-run-scalar": make(lambda: seeded(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 1), nn.Softplus(),
                                               nn.LogSigmoid())),
    "single-layer-trailing": make(lambda: seeded(nn.Linear(3, 3), nn.Hardswish())),
    "nested": make(lambda: seeded(nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.CELU(0.5), nn.SELU())),
                                  nn.Sequential(nn.Sequential(nn.Linear(4, 4, bias=False)), nn.Tanhshrink()),
                                  nn.Linear(4, 2))),
    "mlp-inside-sequential": make(lambda: seeded(nn.Tanh(), pk.MLP(3, 4, 2, out_dim=2, dtype=torch.float64),
                                                 nn.Sigmoid(), pk.LinearModel(2, 2, dtype=torch.float64))),
    "dropout-eval": make(lambda: seeded(nn.Linear(3, 5), nn.Dropout(0.5), nn.GELU(), nn.AlphaDropout(0.3),
                                        nn.Linear(5, 2))),
    "flatten": make(lambda: seeded(nn.Flatten(), nn.Linear(3, 4), nn.Tanh(), nn.Flatten(-1), nn.Linear(4, 2))),
    "bias-free": make(lambda: seeded(nn.Linear(3, 5, bias=False), nn.Sigmoid(), nn.Linear(5, 2, bias=False))),
    "ntk-mixed": make(lambda: seeded(pk.models.NTKLinear(3, 4, weight_var=2.0, bias_var=0.5), pk.models.Erf(),
                                     nn.Linear(4, 3), nn.ReLU6(), pk.models.NTKLinear(3, 2, bias_var=0.1),
                                     nn.Softsign())),
    # (two in-place modules in a row, e.g. LeakyReLU then Hardtanh, would be fine here but break
    # reverse-mode autograd of the model itself: the second overwrites what the first's backward needs)
    "in-place": make(lambda: seeded(nn.ReLU(inplace=True), nn.Linear(3, 5), nn.LeakyReLU(0.1, inplace=True),
                                    nn.Linear(5, 2), nn.ELU(inplace=True))),
    "kinked-run": make(lambda: seeded(nn.Linear(3, 6), nn.Hardshrink(0.2), nn.Softshrink(0.1), nn.Threshold(0.05, -1.0),
                                      nn.Linear(6, 5), nn.Hardsigmoid(), nn.ReLU(), nn.Linear(5, 2))),
}


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return relative_error(a, b) if bool(b.abs().max() > 0) else float((a - b).abs().max())


@pytest.mark.parametrize("name", IRREGULAR)
def test_irregular_chains_match_the_generic_route(name):
    model = IRREGULAR[name]()
    assert structured.chain_of(model) is not None
    x1, x2 = randn(6, 3, seed=11), randn(5, 3, seed=12)
    theta = pk.flat_parameters(model)
    other = theta + 0.3 * randn(theta.numel(), seed=13)
    for kwargs in ({}, {"params2": other}, {"normalized": True}):
        reference = pk.tangent_kernel(model, x1, x2, method="generic", **kwargs)
        for method in ("structured", "auto"):
            assert relative(pk.tangent_kernel(model, x1, x2, method=method, **kwargs), reference) < 1e-12
    reference = pk.tangent_features(model, x1, method="generic")
    assert relative(pk.tangent_features(model, x1, method="structured"), reference) < 1e-12


@pytest.mark.parametrize("name", IRREGULAR)
def test_irregular_chains_directional_matches_autograd(name):
    model = IRREGULAR[name]()
    chain = structured.chain_of(model)
    theta = pk.flat_parameters(model)
    thetas = theta + 0.2 * randn(2, theta.numel(), seed=14)
    deltas = randn(2, theta.numel(), seed=15)
    x = randn(5, 3, seed=16)
    before = x.clone()
    out, derivative = structured.directional(chain, thetas, x, deltas)
    assert torch.equal(x, before)  # in-place activations must not touch the caller's x
    for b in range(2):
        clone = load_flat(model, thetas[b])
        assert relative(out[b], clone(x.clone()).detach().reshape(5, -1)) < 1e-12
        expected = torch.einsum("ncp,p->nc", naive_jacobian(clone, x.clone()), deltas[b])
        assert relative(derivative[b], expected) < 1e-12


def test_runs_are_merged_and_identities_dropped():
    model = seeded(nn.Tanh(), nn.Linear(3, 4), nn.Tanh(), nn.Identity(), nn.Dropout(), nn.GELU(), nn.Flatten(),
                   nn.Linear(4, 4), nn.Linear(4, 2), nn.Sigmoid())
    layers = structured.chain_of(model).layers
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == ["Run", "Affine", "Run", "Affine", "Affine", "Run"]
    assert [type(m) for m in layers[2].modules] == [nn.Tanh, nn.GELU]


def test_domingos_per_sample_on_an_irregular_chain_matches_the_generic_route():
    model = IRREGULAR["tanh-tanh"]()
    x, y = randn(6, 3, seed=17), randn(6, 2, seed=18)
    path = pk.train(model, x, y, lr=0.1, steps=3)
    xq = randn(4, 3, seed=19)
    fast = pk.domingos(path, xq, per_sample=True, method="structured")
    slow = pk.domingos(path, xq, per_sample=True, method="generic")
    assert relative(fast.per_sample, slow.per_sample) < 1e-12
    assert relative(fast.path_kernel, slow.path_kernel) < 1e-12


class Tanh(nn.Tanh):
    """A subclass may override forward: never taken for the elementwise nn.Tanh."""


def tied() -> nn.Module:
    shared = nn.Linear(4, 4)
    return seeded(nn.Linear(3, 4), shared, nn.Tanh(), shared, nn.Linear(4, 1))


def hooked() -> nn.Module:
    model = seeded(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    model[1].register_forward_hook(lambda module, inputs, output: 2 * output)
    return model


REFUSED = {
    "dropout-train": lambda: seeded(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1)).train(),
    "alpha-dropout-train": lambda: seeded(nn.Linear(3, 4), nn.Tanh(), nn.AlphaDropout(0.5), nn.Linear(4, 1)).train(),
    "prelu": lambda: seeded(nn.Linear(3, 4), nn.PReLU(), nn.Linear(4, 1)),
    "softmax": lambda: seeded(nn.Linear(3, 4), nn.Softmax(dim=1), nn.Linear(4, 2)),
    "log-softmax-last": lambda: seeded(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.LogSoftmax(dim=1)),
    "rrelu": lambda: seeded(nn.Linear(3, 4), nn.RReLU(), nn.Linear(4, 1)),
    "flatten-batch": lambda: seeded(nn.Linear(3, 4), nn.Flatten(0), nn.Linear(4, 1)),
    "subclass": lambda: seeded(nn.Linear(3, 4), Tanh(), nn.Linear(4, 1)),
    "layernorm": lambda: seeded(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1)),
    "hook": hooked,
    "tied": tied,
    "no-linear": lambda: seeded(nn.Tanh()),
    "bare-linear": lambda: nn.Linear(3, 1).double(),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_chains(name):
    assert structured.chain_of(REFUSED[name]()) is None


# (not "prelu": torch 2.13's vmap(jacrev(...)) of nn.functional.prelu fails with a shape error,
# so the generic route cannot take it either)
@pytest.mark.parametrize("name", ["softmax", "log-softmax-last", "hook", "subclass"])
def test_refused_chains_take_the_generic_route(name):
    model = REFUSED[name]()
    x1, x2 = randn(5, 3, seed=20), randn(4, 3, seed=21)
    reference = naive_kernel(model, x1, x2)
    if reference.shape[-1] == 1:
        reference = reference[..., 0, 0]
    assert relative(pk.tangent_kernel(model, x1, x2), reference) < 1e-12
    with pytest.raises(ValueError, match="structured"):
        pk.tangent_kernel(model, x1, method="structured")


def test_every_listed_activation_is_elementwise_and_recognized():
    activations = [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.SELU(), nn.CELU(1.3), nn.GELU(),
                   nn.GELU(approximate="tanh"), nn.SiLU(), nn.Mish(), nn.Softplus(2.0, 1.5), nn.Softsign(),
                   nn.Sigmoid(), nn.LogSigmoid(), nn.Tanh(), nn.Tanhshrink(), nn.Hardtanh(-0.8, 0.6),
                   nn.Hardsigmoid(), nn.Hardswish(), nn.Hardshrink(0.3), nn.Softshrink(0.3),
                   nn.Threshold(0.1, -0.5), pk.models.Erf()]
    assert {type(m) for m in activations} <= set(structured.ELEMENTWISE)
    x = randn(4, 3, seed=22)
    for activation in activations:
        torch.manual_seed(1)
        model = seeded(nn.Linear(3, 4), activation, nn.Linear(4, 2), activation)
        assert structured.chain_of(model) is not None, activation
        reference = pk.tangent_kernel(model, x, method="generic")
        assert relative(pk.tangent_kernel(model, x, method="structured"), reference) < 1e-12, activation


# ---------------------------------------------------------------------------------------------
# Frozen parameters (issue 16 item 2), at the module level: the reference is a torch.func
# Jacobian over every coordinate, restricted to the columns of trainable parameters.

def reference_jacobian(model: nn.Module, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(n, c, P) by reverse-mode autodiff of the flat function (every column)."""
    return torch.func.jacrev(pk.functional.flat_function(model))(theta, x.clone())


def trainable_mask(model: nn.Module) -> torch.Tensor:
    return torch.cat([torch.full((p.numel(),), p.requires_grad) for p in model.parameters()])


def frozen_model(frozen: tuple[int, ...]) -> nn.Module:
    torch.manual_seed(3)
    model = seeded(nn.Linear(3, 5), nn.Tanh(), pk.models.NTKLinear(5, 4, bias_var=0.3), nn.GELU(), nn.GELU(),
                   nn.Linear(4, 2), nn.Sigmoid())
    for i, p in enumerate(model.parameters()):
        p.requires_grad_(i not in frozen)
    return model


@pytest.mark.parametrize("frozen", [(), (0,), (1,), (0, 1), (2, 3), (3,), (4, 5), (0, 2, 4), (0, 1, 2, 3, 4, 5)])
def test_frozen_parameters_drop_their_terms(frozen):
    model = frozen_model(frozen)
    chain = structured.chain_of(model)
    assert [(a.weight_trainable, a.bias_trainable) for a in chain.affines] == [
        (i not in frozen, i + 1 not in frozen) for i in (0, 2, 4)]
    theta = pk.flat_parameters(model)
    other = theta + 0.3 * randn(theta.numel(), seed=23)
    x1, x2 = randn(5, 3, seed=24), randn(4, 3, seed=25)
    J1, J2 = reference_jacobian(model, theta, x1), reference_jacobian(model, other, x2)
    mask = trainable_mask(model)
    expected = torch.einsum("icp,jdp->ijcd", J1[:, :, mask], J2[:, :, mask])
    K = structured.kernel(structured.side(chain, theta, x1), structured.side(chain, other, x2))
    scale = float(J1.norm(dim=-1).max() * J2.norm(dim=-1).max())
    assert float((K - expected).abs().max()) <= 1e-12 * scale
    diag = structured.diagonal(structured.side(chain, theta, x1))
    assert float((diag - J1[:, :, mask].pow(2).sum(-1)).abs().max()) <= 1e-12 * scale
    # features keep every column, frozen ones with their true values
    assert relative(structured.features(chain, theta, x1), J1) < 1e-12
    # parameters="all" counts every coordinate
    every = structured.chain_of(model, parameters="all")
    assert all(a.weight_trainable and a.bias_trainable for a in every.affines)
    K = structured.kernel(structured.side(every, theta, x1), structured.side(every, other, x2))
    assert relative(K, torch.einsum("icp,jdp->ijcd", J1, J2)) < 1e-12


def test_bias_free_layers_have_no_bias_term():
    model = seeded(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 1))
    assert [a.bias_trainable for a in structured.chain_of(model, parameters="all").affines] == [False, True]


def test_parameters_argument_is_checked():
    with pytest.raises(ValueError, match="'frozen'"):
        structured.chain_of(pk.MLP(2, 3, 2), parameters="frozen")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_structured_route_on_cuda_matches_cpu():
    model = IRREGULAR["trailing-activation"]()
    chain = structured.chain_of(model)
    theta, x = pk.flat_parameters(model), randn(5, 3, seed=26)
    one = structured.side(chain, theta, x)
    gpu = structured.side(chain, theta.cuda(), x.cuda())
    assert relative(structured.kernel(gpu, gpu).cpu(), structured.kernel(one, one)) < 1e-12
    features = structured.features(chain, theta.cuda(), x.cuda())
    assert relative(features.cpu(), structured.features(chain, theta, x)) < 1e-12
