"""The core API on every device (issue 19): the CPU, CUDA when present, and the meta device.

Devices. Every device test runs for "cpu" and for "cuda" (skipped, with the reason, when
``torch.cuda.is_available()`` is False). It computes on that device and compares with the
CPU float64 reference, computed on the CPU and cached for the module:

* what is compared: values, norm-wise: ``max |result - reference| <= tol * max |reference|``
  with tol = 1e-10 for float64 (`F64`) and 1e-4 for float32 results against the float64
  reference (`F32`); never bits. CUDA float64 arithmetic is not bit-identical to the CPU's
  (cuBLAS blocking and reduction orders, fused kernels, torch.optim's foreach updates on
  CUDA), so a path trained on CUDA and its decomposition differ from the CPU's at round-off,
  amplified by a few steps of training; `index_add_` on CUDA accumulates with atomics (its
  order is not fixed) unless ``torch.use_deterministic_algorithms(True)`` (here every call
  adds distinct indices, so the order does not matter; a batch drawn with replacement,
  which repeats an example, would make it matter).
  Bitwise run-to-run reproducibility on CUDA is measured, not asserted, by
  ``python -m benchmarks.gpu`` (section "reproducibility").
* TF32 is switched off for this module (cuDNN enables it by default for float32
  convolutions on Ampere and later GPUs, which would put float32 results ~1e-3 off).
* on the CPU the tests are not vacuous: kernels and features are also compared with naive
  autograd Jacobians, decompositions with their own identities (the per-sample terms add
  up to rhs - initial; the exact form's residual is round-off), on every device.
* results come back on the input's device, in the model's dtype; TrainingPath rows
  (params, lrs, losses, scales, batches) and Decomposition.quadrature_levels are CPU
  bookkeeping by design and are not checked for the device.
* a device mismatch (model on CUDA, x or params on the CPU) raises a ValueError naming both
  devices (CUDA only; the same check runs everywhere with the meta device).

The meta device (no GPU needed). `test_meta` runs the core API on the meta device
(``copy.deepcopy(model).to("meta")``, ``torch.empty(..., device="meta")``): meta tensors
have shapes and no values, and torch refuses to mix them with CPU tensors, so a function
that creates a tensor on the CPU (forgetting ``device=``) and combines it with the model's
fails there, as it would on CUDA. A value read (``.item()``, ``float(t)``, ``bool(t)``,
``torch.nonzero``, a copy to the host, ``torch.equal``) cannot run on meta either: where
the core skips a check on meta (`pathkernel.functional.is_meta`) the run goes on, and
where a function necessarily reads values it stops there. `META_CASES` records, for every
case, where the run is allowed to stop and why; a case stopping anywhere else, or failing
by mixing devices, fails the test. What meta cannot catch:

* anything after the first value read of a case (the stops in `META_CASES`): e.g. all of
  `train` after its divergence check, `Recorder` after its first torch.equal, the exact
  quadrature's refinement, the forward per-sample route of gd/sgd after its
  `torch.nonzero`; the CUDA tests cover those paths only where a GPU is present;
* wrong-device tensors that are only combined with 0-dim CPU tensors or Python numbers
  (every device accepts CPU scalars), and CPU index tensors used on device tensors (torch
  moves them: a host-to-device copy per call on CUDA, not an error);
* device-to-host copies and synchronizations (performance, not correctness), pinned-memory
  staging of CUDA snapshot rows (`pathkernel.recording.snapshots.host_copy`), CUDA memory
  checks, numerical differences, TF32, non-determinism, out-of-memory behaviour.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import os
import traceback
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pathkernel as pk

CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: "
                                                                               "no CUDA device on this machine"))]
F64, F32 = 1e-10, 1e-4
D = torch.float64
OPTIMIZERS = {"gd": {}, "sgd": {"batch_size": 4}, "momentum": {"momentum": 0.9}, "adam": {}}
LR = {"gd": 0.2, "sgd": 0.2, "momentum": 0.1, "adam": 0.02}


@pytest.fixture(autouse=True, scope="module")
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def close(result: torch.Tensor, reference: torch.Tensor, tol: float = F64, what: str = "",
          scale: float | None = None) -> None:
    """Norm-wise relative comparison (result on any device, reference on the CPU):
    max |result - reference| <= tol * scale, scale = max |reference| unless given (for a term
    that is itself round-off, such as the exact form's residual, the scale of what it is the
    residual of)."""
    assert result.shape == reference.shape, f"{what}: shape {tuple(result.shape)} != {tuple(reference.shape)}"
    result, reference = result.detach().cpu().to(reference.dtype), reference.detach()
    if scale is None:
        scale = float(reference.abs().max()) if reference.numel() else 0.0
    gap = float((result - reference).abs().max()) if reference.numel() else 0.0
    scale = max(scale, 1e-300)
    assert gap <= tol * scale, f"{what}: max gap {gap:.3e}, relative {gap / scale:.3e} > {tol:g}"


def on(device: str, *tensors: torch.Tensor | None) -> None:
    for t in tensors:
        if t is not None:
            assert t.device.type == torch.device(device).type, f"a result is on {t.device}, the input on {device}"


def seeded(*shape: int, seed: int, dtype: torch.dtype = D) -> torch.Tensor:
    """Seeded normal samples, drawn in float64 (the same numbers, rounded, in float32)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D).to(dtype)


# --- models (built on the CPU, moved with .to(device)) ------------------------------------------------------

def mlp(out_dim: int = 2, dtype: torch.dtype = D, in_dim: int = 3) -> nn.Module:
    return pk.MLP(in_dim, 12, 3, out_dim=out_dim, activation="gelu", seed=3, dtype=dtype)


def conv1d(dtype: torch.dtype = D) -> nn.Module:
    """A small Conv1d model on (n, 6) inputs with 2 outputs (the generic torch.func route)."""
    with torch.random.fork_rng(devices=[]):  # the global RNG is left as it was
        torch.manual_seed(4)
        return nn.Sequential(nn.Unflatten(1, (1, 6)), nn.Conv1d(1, 3, 3), nn.GELU(), nn.Flatten(),
                             nn.Linear(12, 2)).to(dtype)


def frozen(model: nn.Module) -> nn.Module:
    """`model` with its first parameter (a weight) frozen."""
    next(iter(model.parameters())).requires_grad_(False)
    return model


def naive_features(model: nn.Module, x: torch.Tensor, theta: torch.Tensor | None = None,
                   parameters: str = "trainable") -> torch.Tensor:
    """(n, c, P_selected) by one backward pass per example and output, on a CPU float64 copy."""
    clone = copy.deepcopy(model).cpu().to(D)
    mask = torch.cat([torch.full((p.numel(),), parameters == "all" or p.requires_grad) for p in model.parameters()])
    if theta is not None:
        nn.utils.vector_to_parameters(theta.detach().cpu().to(D).clone(), clone.parameters())
    params = list(clone.parameters())
    for p in params:
        p.requires_grad_(True)
    rows = []
    for xi in x.detach().cpu().to(D):
        out = clone(xi[None]).reshape(-1)
        rows.append(torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(o, params, retain_graph=True)])
                                 for o in out]))
    return torch.stack(rows)[:, :, mask]


def naive_kernel(model, x1, x2, theta1=None, theta2=None, parameters="trainable", normalized=False):
    J1 = naive_features(model, x1, theta1, parameters)
    J2 = naive_features(model, x2, theta2 if theta2 is not None else theta1, parameters)
    K = torch.einsum("icp,jdp->ijcd", J1, J2)
    if normalized:
        d1, d2 = J1.pow(2).sum(-1), J2.pow(2).sum(-1)
        K = K / torch.sqrt(d1[:, None, :, None] * d2[None, :, None, :])
    return K


# --- tangent kernels and features ----------------------------------------------------------------------------

KERNEL_CASES = {
    # name: (model builder, input dim)
    "structured": (lambda dtype: mlp(2, dtype), 3),
    "structured-scalar": (lambda dtype: mlp(1, dtype), 3),
    "structured-frozen": (lambda dtype: frozen(mlp(2, dtype)), 3),
    "generic-conv1d": (lambda dtype: conv1d(dtype), 6),
    "generic-conv1d-frozen": (lambda dtype: frozen(conv1d(dtype)), 6),
}


@functools.lru_cache(maxsize=None)
def kernel_reference(case: str, normalized: bool, two_params: bool, method: str, parameters: str):
    model, dim = KERNEL_CASES[case][0](D), KERNEL_CASES[case][1]
    x1, x2 = seeded(5, dim, seed=1), seeded(4, dim, seed=2)
    theta = pk.flat_parameters(model)
    theta1 = theta + 0.05 * seeded(theta.numel(), seed=3) if two_params else None
    theta2 = theta - 0.05 * seeded(theta.numel(), seed=4) if two_params else None
    K = pk.tangent_kernel(model, x1, x2, normalized=normalized, params=theta1, params2=theta2, method=method,
                          parameters=parameters)
    naive = naive_kernel(model, x1, x2, theta1, theta2, parameters, normalized)
    return K, naive.reshape(K.shape)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case, normalized, two_params, method, parameters", [
    ("structured", False, False, "auto", "trainable"),
    ("structured", True, False, "auto", "trainable"),
    ("structured", False, True, "auto", "trainable"),
    ("structured", False, False, "generic", "trainable"),
    ("structured-scalar", True, True, "auto", "trainable"),
    ("structured-frozen", False, False, "auto", "trainable"),
    ("structured-frozen", False, True, "generic", "all"),
    ("generic-conv1d", False, False, "auto", "trainable"),
    ("generic-conv1d", True, True, "auto", "trainable"),
    ("generic-conv1d-frozen", True, False, "auto", "trainable"),
])
def test_tangent_kernel(device, case, normalized, two_params, method, parameters):
    reference, naive = kernel_reference(case, normalized, two_params, method, parameters)
    close(reference, naive, F64, "CPU reference against naive autograd")
    for dtype, tol in ((D, F64), (torch.float32, F32)):
        model, dim = KERNEL_CASES[case][0](dtype), KERNEL_CASES[case][1]
        model = model.to(device)
        x1, x2 = seeded(5, dim, seed=1, dtype=dtype).to(device), seeded(4, dim, seed=2, dtype=dtype).to(device)
        theta = pk.flat_parameters(model)
        params = params2 = None
        if two_params:
            params = (theta.to(D).cpu() + 0.05 * seeded(theta.numel(), seed=3)).to(dtype).to(device)
            params2 = (theta.to(D).cpu() - 0.05 * seeded(theta.numel(), seed=4)).to(dtype).to(device)
        K = pk.tangent_kernel(model, x1, x2, normalized=normalized, params=params, params2=params2, method=method,
                              parameters=parameters)
        on(device, K)
        assert K.dtype == dtype
        close(K, reference, tol, f"{case} {dtype}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ["structured", "structured-scalar", "structured-frozen", "generic-conv1d-frozen"])
def test_tangent_features(device, case):
    builder, dim = KERNEL_CASES[case]
    x = seeded(5, dim, seed=1)
    reference = naive_features(builder(D), x)
    if reference.shape[1] == 1:
        reference = reference[:, 0]
    features = pk.tangent_features(builder(D).to(device), x.to(device))
    on(device, features)
    close(features, reference, F64, case)
    features32 = pk.tangent_features(builder(torch.float32).to(device), x.float().to(device))
    assert features32.dtype == torch.float32
    close(features32, reference, F32, f"{case} float32")


# --- training and decomposition ----------------------------------------------------------------------------

def training_data(classes: int = 0):
    x, xq = seeded(8, 2, seed=5), seeded(3, 2, seed=6)
    y = torch.randint(0, classes, (8,), generator=torch.Generator().manual_seed(7)) if classes else \
        torch.sin(2 * x[:, 0]) + x[:, 1]
    return x, y, xq


def trained(optimizer: str, device: str, loss: str = "mse", steps: int = 5) -> pk.TrainingPath:
    classes = 3 if loss == "cross_entropy" else 0
    x, y, _ = training_data(classes)
    model = pk.MLP(2, 8, 3, out_dim=classes or 1, activation="gelu", seed=1, dtype=D).to(device)
    return pk.train(model, x.to(device), y.to(device), lr=LR[optimizer], steps=steps, optimizer=optimizer,
                    loss=loss, progress_bar=False, **OPTIMIZERS[optimizer])


DECOMPOSITIONS = {
    # name: domingos keyword arguments
    "theorem": {},
    "exact": {"exact": True},
    "per_sample": {"per_sample": True},
    "exact-per_sample-forward": {"exact": True, "per_sample": True, "route": "forward"},
    "exact-per_sample-reverse": {"exact": True, "per_sample": True, "route": "reverse"},
}
FIELDS = ("prediction", "initial", "rhs", "residual", "per_sample", "path_kernel", "weights", "regularization")


@functools.lru_cache(maxsize=None)
def cpu_path(optimizer: str, loss: str = "mse") -> pk.TrainingPath:
    return trained(optimizer, "cpu", loss)


@functools.lru_cache(maxsize=None)
def cpu_decomposition(optimizer: str, name: str, loss: str = "mse", outputs: tuple[int, ...] | None = None):
    xq = training_data()[2]
    kwargs = dict(DECOMPOSITIONS[name], outputs=list(outputs) if outputs else None)
    return pk.domingos(cpu_path(optimizer, loss), xq, progress_bar=False, **kwargs)


def check_decomposition(dec, reference, device: str, tol: float = F64) -> None:
    """`dec` (on `device`) against the CPU's, field by field, and its own identities. The residual
    is compared on the scale of the prediction (in exact mode it is round-off, which differs
    between devices); the weights a_i = weighted / path_kernel through weights * path_kernel
    (a ratio of two small numbers where the path kernel nearly vanishes is ill-conditioned)."""
    for field in FIELDS:
        value, expected = getattr(dec, field), getattr(reference, field)
        assert (value is None) == (expected is None), field
        if value is None:
            continue
        on(device, value)
        if field == "residual":
            close(value, expected, tol, field, scale=float(reference.prediction.abs().max()))
        elif field == "weights":
            close(value * dec.path_kernel, expected * reference.path_kernel, tol, "weights * path_kernel")
        else:
            close(value, expected, tol, field)
    if dec.per_sample is not None:  # the identities, on the device's own numbers
        assert dec.additivity_error <= F64, dec.additivity_error  # ~1e-15 measured; the core warns above 1e-8
        change = (dec.rhs - dec.initial)
        total = dec.per_sample.sum(1) + (dec.regularization if dec.regularization is not None else 0)
        close(total, change.cpu(), F64, "per_sample sums to rhs - initial")
        product = dec.weights * dec.path_kernel
        if product.dim() > dec.per_sample.dim():  # c outputs: per_sample[..., a] = -sum_b product[..., a, b]
            product = product.sum(-1)
        close(dec.per_sample, -product.cpu(), 1e-12, "per_sample == -weights * path_kernel")
    if dec.exact:
        assert float(dec.residual.abs().max()) <= 1e-11 * float(dec.prediction.abs().max()), "exact residual"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_train_and_domingos(device, optimizer):
    path = trained(optimizer, device)
    reference = cpu_path(optimizer)
    on(device, path.x, path.y)
    assert next(path.model.parameters()).device.type == torch.device(device).type
    close(path.params, reference.params, F64, "path")
    close(path.losses, reference.losses, F64, "losses")
    close(pk.flat_parameters(path.model), reference.params[-1], F64, "the model holds theta_T")
    xq = training_data()[2].to(device)
    for name, kwargs in DECOMPOSITIONS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error", pk.AdditivityWarning)
            dec = pk.domingos(path, xq, progress_bar=False, **kwargs)
        check_decomposition(dec, cpu_decomposition(optimizer, name), device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_domingos_of_some_outputs_with_cross_entropy(device, optimizer):
    path = trained(optimizer, device, "cross_entropy")
    close(path.params, cpu_path(optimizer, "cross_entropy").params, F64, "path")
    xq = training_data()[2].to(device)
    for outputs in ((1,), (2, 0)):
        dec = pk.domingos(path, xq, exact=True, per_sample=True, outputs=list(outputs), progress_bar=False)
        check_decomposition(dec, cpu_decomposition(optimizer, "exact-per_sample-reverse", "cross_entropy", outputs),
                            device)
        full = cpu_decomposition(optimizer, "exact-per_sample-reverse", "cross_entropy")
        close(dec.per_sample, full.per_sample[..., list(outputs)], 1e-9, "the columns of the full decomposition")
    top = pk.top_examples(dec, 3)
    reference = pk.top_examples(cpu_decomposition(optimizer, "exact-per_sample-reverse", "cross_entropy", (2, 0)), 3)
    on(device, top.output, top.proponents, top.opponents, top.proponent_contributions, top.opponent_contributions)
    assert torch.equal(top.output.cpu(), reference.output)
    assert torch.equal(top.proponents.cpu(), reference.proponents)
    assert torch.equal(top.opponents.cpu(), reference.opponents)
    close(top.proponent_contributions, reference.proponent_contributions, F64, "proponent contributions")
    top1 = pk.top_examples(dec, 2, output=1)
    on(device, top1.output, top1.proponents)


# --- a user's own loop, recorded --------------------------------------------------------------------------

def recorded_loop(device: str, storage: str, optimizer: str, directory=None, steps: int = 6) -> pk.Recorder:
    x, y, _ = training_data(3)
    x, y = x.to(device), y.to(device)
    model = pk.MLP(2, 8, 3, out_dim=3, activation="gelu", seed=2, dtype=D).to(device)
    opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "momentum"
           else torch.optim.Adam(model.parameters(), lr=0.02))
    recorder = pk.Recorder(model, opt, x, y, loss="cross_entropy", storage=storage, directory=directory)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(8))
    for k in range(steps):
        index = order.roll(-3 * k)[:3]
        opt.zero_grad()
        F.cross_entropy(model(x[index]), y[index]).backward()
        opt.step()
        recorder.step(index)
    return recorder


@functools.lru_cache(maxsize=None)
def cpu_recorded(optimizer: str):
    recorder = recorded_loop("cpu", "memory", optimizer)
    path = recorder.path
    dec = pk.domingos(path, training_data()[2], exact=True, per_sample=True, progress_bar=False)
    return torch.as_tensor(path.params[:]).clone(), dec


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("storage", ["memory", "disk", "replay"])
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_recorder(device, storage, optimizer, tmp_path):
    recorder = recorded_loop(device, storage, optimizer, directory=tmp_path if storage != "memory" else None)
    path = recorder.path
    params, reference = cpu_recorded(optimizer)
    close(torch.stack([path.params[k] for k in range(path.steps + 1)]), params, F64, "recorded path")
    dec = pk.domingos(path, training_data()[2].to(device), exact=True, per_sample=True, progress_bar=False)
    check_decomposition(dec, reference, device)
    recorder.close()


# --- the other public functions ------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_infinite_ntk(device, activation):
    x1, x2 = seeded(6, 3, seed=9), seeded(4, 3, seed=10)
    x1[0] = 0  # the degenerate origin
    kwargs = dict(depth=3, activation=activation, weight_var=1.5, bias_var=0.0)
    reference = pk.infinite_ntk(x1, x2, **kwargs)
    K = pk.infinite_ntk(x1.to(device), x2.to(device), **kwargs)
    on(device, K)
    close(K, reference, F64, activation)
    # float32 off the diagonal: at coincident inputs the ReLU form's arccos(cosine ~ 1) keeps only
    # ~sqrt(eps) of float32 (measured 9e-5 relative on the CPU, whatever the device)
    K32 = pk.infinite_ntk(x1.float().to(device), x2.float().to(device), **kwargs)
    on(device, K32)
    assert K32.dtype == torch.float32
    close(K32, reference, F32, f"{activation} float32")
    symmetric, symmetric_reference = pk.infinite_ntk(x1.to(device), **kwargs), pk.infinite_ntk(x1, **kwargs)
    off = ~torch.eye(6, dtype=torch.bool)
    close(symmetric.cpu()[off], symmetric_reference[off], F64, f"{activation} symmetric, off the diagonal")
    # on the diagonal (coincident inputs) the ReLU form's derivative term (pi - theta) / (2 pi) takes
    # theta = arccos(cosine ~ 1), conditioned like sqrt(eps): one ulp of the cosine moves it by ~1e-8, and
    # CUDA's matmul rounds the cosine differently from the CPU's (measured 2.8e-9 relative on an H200)
    close(symmetric.diagonal(), symmetric_reference.diagonal(), 1e-7, f"{activation} symmetric, diagonal")


@pytest.mark.parametrize("device", DEVICES)
def test_parity_net(device):
    n = 8
    x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=D)
    for dtype in (D, torch.float32):
        model = pk.ParityNet(n, exact=True, dtype=dtype).to(device)
        out = model(x.to(dtype).to(device))
        on(device, out)
        expected = (x.cumsum(1) % 2).to(dtype)
        if device == "cpu":
            assert torch.equal(out, expected)  # small integers: exact in floating point
        else:  # cuDNN may pick a convolution algorithm (FFT, Winograd) that rounds even small integers
            close(out, expected, 1e-6, f"parity {dtype}")
            assert torch.equal(out.cpu().round(), expected)
        assert torch.equal(model.parity(x.to(dtype).to(device)).cpu(), out.cpu())


@pytest.mark.parametrize("device", DEVICES)
def test_unet(device):
    x = seeded(2, 1, 4, 4, seed=11)
    model = pk.UNet(scales=2, width=2, seed=0, dtype=D).eval()
    reference_out = model(x)
    reference = pk.tangent_kernel(model, x)
    close(reference[:, :, :2, :2], naive_kernel(model, x, x)[:, :, :2, :2], F64, "CPU UNet against naive autograd")
    moved = copy.deepcopy(model).to(device)
    out = moved(x.to(device))
    on(device, out)
    close(out, reference_out, F64, "forward")
    K = pk.tangent_kernel(moved, x.to(device))
    on(device, K)
    close(K, reference, F64, "tangent kernel")
    moved.train()
    on(device, moved(x.to(device)))  # training mode (batch statistics) runs too


@pytest.mark.skipif(not CUDA, reason="torch.cuda.is_available() is False: no CUDA device on this machine")
def test_device_mismatch_is_named():
    mismatch_checks("cuda")


def mismatch_checks(device: str) -> None:
    """x (or params) on the CPU, the model on `device`: a ValueError naming both devices."""
    pattern = rf"(?s)(cpu.*{device}|{device}.*cpu)"
    model = mlp(1).to(device)
    x_cpu, y_cpu = seeded(4, 3, seed=1), seeded(4, seed=2)
    x_dev = x_cpu.to(device)
    with pytest.raises(ValueError, match=pattern):
        pk.tangent_kernel(model, x_cpu)
    with pytest.raises(ValueError, match=pattern):
        pk.tangent_kernel(model, x_dev, x_cpu)
    with pytest.raises(ValueError, match=pattern):
        pk.tangent_kernel(model, x_dev, params=torch.zeros(pk.flat_parameters(model).numel(), dtype=D))
    with pytest.raises(ValueError, match=pattern):
        pk.tangent_features(model, x_cpu)
    with pytest.raises(ValueError, match=pattern):
        pk.train(model, x_cpu, y_cpu, lr=0.1, steps=1)
    with pytest.raises(ValueError, match=pattern):
        pk.Recorder(model, torch.optim.SGD(model.parameters(), lr=0.1), x_cpu, y_cpu, loss="mse")
    if device != "meta":
        path = pk.train(mlp(1).to(device), x_dev, y_cpu.to(device), lr=0.1, steps=1, progress_bar=False)
        with pytest.raises(ValueError, match=pattern):
            pk.domingos(path, x_cpu)


def test_meta_device_mismatch_is_named():
    """The mismatch check on any machine: model on meta, x on the CPU."""
    mismatch_checks("meta")


def test_targets_on_another_device_are_named():
    model = mlp(1).to("meta")
    x, y = torch.empty(4, 3, dtype=D, device="meta"), seeded(4, seed=2)
    with pytest.raises(ValueError, match=r"(?s)y.*(cpu.*meta|meta.*cpu)"):
        pk.train(model, x, y, lr=0.1, steps=1, progress_bar=False)


# --- the meta device -------------------------------------------------------------------------------------

META = "meta"
VALUE_READS = (  # torch's messages for what needs values (or has no meta kernel)
    "cannot be called on meta tensors", "register_meta function for torch.nonzero", "Cannot copy out of meta tensor",
    "can't convert meta device type tensor to numpy", "with Meta tensors, but there was no fake impl",
    "_local_scalar_dense", "data-dependent",
)


def meta(t: torch.Tensor) -> torch.Tensor:
    return torch.empty(t.shape, dtype=t.dtype, device=META)


def meta_model(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to(META)


def meta_path(path: pk.TrainingPath) -> pk.TrainingPath:
    """A CPU-trained path on a meta model: params, lrs, scales stay on the CPU (as a device's path does)."""
    return dataclasses.replace(path, model=meta_model(path.model), x=meta(path.x), y=meta(path.y))


def meta_recorder(storage: str, optimizer: str) -> None:
    model = meta_model(pk.MLP(2, 8, 3, seed=2, dtype=D))
    x, y = torch.empty(8, 2, dtype=D, device=META), torch.empty(8, dtype=D, device=META)
    opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "momentum"
           else torch.optim.Adam(model.parameters(), lr=0.02))
    recorder = pk.Recorder(model, opt, x, y, loss="mse", storage=storage)  # mse: no label check to stop at
    for k in range(2):
        index = torch.tensor([k, k + 1])
        opt.zero_grad()
        (0.5 * (model(x[index])[:, 0] - y[index]).pow(2)).mean().backward()
        opt.step()
        recorder.step(index)
    pk.domingos(recorder.path, x[:2], exact=True, per_sample=True)


def meta_decomposition(per_sample_c: int | None) -> pk.Decomposition:
    shape = (3,) if per_sample_c is None else (3, per_sample_c)
    e = lambda *s: torch.empty(*s, dtype=D, device=META)  # noqa: E731
    return pk.Decomposition(prediction=e(*shape), initial=e(*shape), rhs=e(*shape), residual=e(*shape), exact=True,
                            per_sample=e(3, 8, *shape[1:]))


def meta_domingos(optimizer: str, loss: str = "mse", **kwargs):
    def run():
        path = meta_path(cpu_path(optimizer, loss))
        return pk.domingos(path, torch.empty(3, 2, dtype=D, device=META), progress_bar=False, **kwargs)
    return run


def meta_kernel(builder, dim: int, two_params: bool = False, **kwargs):
    def run():
        model = meta_model(builder())
        if two_params:
            theta = pk.flat_parameters(model)
            kwargs.update(params=theta, params2=theta + 1)
        return pk.tangent_kernel(model, torch.empty(5, dim, dtype=D, device=META),
                                 torch.empty(4, dim, dtype=D, device=META), **kwargs)
    return run


def meta_train(optimizer: str):
    def run():
        model = meta_model(pk.MLP(2, 8, 3, seed=1, dtype=D))
        pk.train(model, torch.empty(8, 2, dtype=D, device=META), torch.empty(8, dtype=D, device=META), lr=0.1, steps=2,
                 optimizer=optimizer, progress_bar=False, **OPTIMIZERS[optimizer])
    return run


REFINE = "exact mode's adaptive quadrature compares each step's error with its round-off bound"
ADDITIVITY = "the additivity check reads max |per_sample sum - (rhs - initial)| (float())"
NONZERO = "the forward gd/sgd route selects the training points a step used with torch.nonzero(lr_sum)"
LABELS = "cross_entropy labels are range-checked (int(y.min())); skippable on meta, see the report"
COMPLETES = None
META_CASES = {
    # case: (callable, allowed stops {"module.function": why} or COMPLETES)
    "tangent_kernel/structured": (meta_kernel(lambda: mlp(2), 3), COMPLETES),
    "tangent_kernel/structured-scalar-params2": (meta_kernel(lambda: mlp(1), 3, two_params=True), COMPLETES),
    "tangent_kernel/structured-frozen": (meta_kernel(lambda: frozen(mlp(2)), 3), COMPLETES),
    "tangent_kernel/generic-frozen-all": (meta_kernel(lambda: frozen(mlp(2)), 3, method="generic", parameters="all"),
                                          COMPLETES),
    "tangent_kernel/conv1d": (meta_kernel(conv1d, 6), COMPLETES),
    "tangent_kernel/conv1d-frozen-params2": (meta_kernel(lambda: frozen(conv1d()), 6, two_params=True), COMPLETES),
    "tangent_kernel/normalized": (meta_kernel(lambda: mlp(2), 3, normalized=True),
                                  {"checks.check_normalizable": "refuses K(x, x) = 0 (torch.nonzero)"}),
    "tangent_kernel/conv1d-normalized": (meta_kernel(conv1d, 6, normalized=True),
                                         {"checks.check_normalizable": "refuses K(x, x) = 0 (torch.nonzero)"}),
    "tangent_features/structured": (
        lambda: pk.tangent_features(meta_model(mlp(2)), torch.empty(5, 3, dtype=D, device=META)), COMPLETES),
    "tangent_features/conv1d-frozen": (lambda: pk.tangent_features(meta_model(frozen(conv1d())),
                                                                   torch.empty(5, 6, dtype=D, device=META)), COMPLETES),
    **{f"train/{name}": (meta_train(name), {"loop.train": "the divergence check reads the loss (bool); the path "
                                            "is kept on the CPU, a device-to-host copy per step"})
       for name in OPTIMIZERS},
    **{f"domingos/{name}/theorem": (meta_domingos(name), COMPLETES) for name in OPTIMIZERS},
    "domingos/adam/cross_entropy/theorem": (meta_domingos("adam", "cross_entropy"), COMPLETES),
    **{f"domingos/{name}/exact": (meta_domingos(name, exact=True), {"quadrature.refine": REFINE})
       for name in ("gd", "adam")},
    **{f"domingos/{name}/per_sample-forward": (meta_domingos(name, per_sample=True, route="forward"),
                                               {"forward.forward_terms": NONZERO})
       for name in ("gd", "sgd")},
    "domingos/sgd/per_sample-forward-generic": (meta_domingos("sgd", per_sample=True, method="generic"),
                                                {"forward.forward_terms": NONZERO}),
    **{f"domingos/{name}/per_sample-forward": (meta_domingos(name, per_sample=True, route="forward"),
                                               {"checks.additivity": ADDITIVITY})
       for name in ("momentum", "adam")},
    "domingos/adam/per_sample-forward-generic": (meta_domingos("adam", per_sample=True, method="generic"),
                                                 {"checks.additivity": ADDITIVITY}),
    **{f"domingos/{name}/per_sample-reverse": (meta_domingos(name, per_sample=True, route="reverse"),
                                               {"checks.additivity": ADDITIVITY}) for name in OPTIMIZERS},
    "domingos/gd/cross_entropy/per_sample-reverse-outputs": (
        meta_domingos("gd", "cross_entropy", per_sample=True, outputs=[1]),
        {"losses.prepare_targets": LABELS, "checks.additivity": ADDITIVITY}),
    "domingos/adam/cross_entropy/per_sample-forward": (
        meta_domingos("adam", "cross_entropy", per_sample=True, route="forward"),
        {"losses.prepare_targets": LABELS, "checks.additivity": ADDITIVITY}),
    "Recorder/memory": (lambda: meta_recorder("memory", "adam"),
                        {"snapshots.host_copy": "snapshot rows are kept in CPU memory (a copy to the host)"}),
    "Recorder/disk": (lambda: meta_recorder("disk", "momentum"),
                      {"snapshots.host_copy": "the snapshot row is copied to the host (numpy memory map)"}),
    "Recorder/replay": (lambda: meta_recorder("replay", "adam"),
                        {"replay.fingerprint": "the fingerprint of theta_t is copied to the host"}),
    "top_examples/predicted-class": (lambda: pk.top_examples(meta_decomposition(4), 2), COMPLETES),
    "top_examples/scalar": (lambda: pk.top_examples(meta_decomposition(None), 2), COMPLETES),
    "top_examples/output=1": (lambda: pk.top_examples(meta_decomposition(4), 2, output=1),
                              {"attribution.top_examples": "range check of output (int(chosen.min()))"}),
    "infinite_ntk": (lambda: pk.infinite_ntk(torch.empty(4, 3, dtype=D, device=META), depth=3),
                     {"infinite.infinite_ntk": "the inputs are checked finite (bool)"}),
    "ParityNet/forward": (
        lambda: meta_model(pk.ParityNet(8, exact=True, dtype=D))(torch.empty(4, 8, dtype=D, device=META)), COMPLETES),
    "ParityNet/tangent_kernel": (lambda: pk.tangent_kernel(meta_model(pk.ParityNet(4, exact=True, dtype=D)),
                                                           torch.empty(3, 4, dtype=D, device=META)), COMPLETES),
    "UNet/forward": (lambda: meta_model(pk.UNet(scales=2, width=2, dtype=D))(torch.empty(2, 1, 4, 4, dtype=D,
                                                                                         device=META)), COMPLETES),
    "UNet/tangent_kernel": (lambda: pk.tangent_kernel(meta_model(pk.UNet(scales=2, width=2, dtype=D).eval()),
                                                      torch.empty(2, 1, 4, 4, dtype=D, device=META)), COMPLETES),
}


def meta_outcome(run) -> tuple[str, str | None, str | None]:
    """("completed" | "value-read" | "error", the innermost pathkernel frame "module.function", message)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run()
    except Exception as error:  # noqa: BLE001 (classified below)
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f"{os.sep}pathkernel{os.sep}" in f.filename]
        site = f"{os.path.basename(frames[-1].filename)[:-3]}.{frames[-1].name}" if frames else None
        message = f"{type(error).__name__}: {error}"
        kind = "value-read" if any(p in str(error) for p in VALUE_READS) else "error"
        return kind, site, message
    return "completed", None, None


@pytest.mark.parametrize("case", list(META_CASES))
def test_meta(case):
    """The case runs on meta up to a documented value read (or to the end); never a device mix."""
    run, stops = META_CASES[case]
    kind, site, message = meta_outcome(run)
    if kind == "error":
        pytest.fail(f"{case} fails on meta at {site} (a tensor on the wrong device, or another failure): {message}")
    if kind == "value-read":
        assert stops is not None and site in stops, (
            f"{case} reads values on meta at {site}, which META_CASES does not list ({message[:300]}); skip that "
            "check on meta (pathkernel.functional.is_meta) or record the stop with its reason")
