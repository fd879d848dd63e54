"""Recorder (a user's own loop), exact per-example attribution and top_examples, float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pathkernel as pk
from pathkernel.attribution import RecordingError
from reference import load_flat, naive_jacobian

N, STEPS_PER_EPOCH, EPOCHS = 10, 3, 2


def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def cnn():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU(), nn.Conv2d(2, 2, 3), nn.Tanh(), nn.Flatten(),
                         nn.Linear(2 * 2 * 2, 3)).double()


def data(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 4, generator=g, dtype=torch.float64) if kind == "mlp" else \
        torch.randn(N, 1, 6, 6, generator=g, dtype=torch.float64)
    return x, torch.randint(0, 3, (N,), generator=g)


OPTIMIZERS = {
    "sgd": lambda p, wd: torch.optim.SGD(p, lr=0.2, weight_decay=wd),
    "momentum": lambda p, wd: torch.optim.SGD(p, lr=0.1, momentum=0.8, dampening=0.3, weight_decay=wd),
    "nesterov": lambda p, wd: torch.optim.SGD(p, lr=0.1, momentum=0.7, nesterov=True, weight_decay=wd),
    "adam": lambda p, wd: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), weight_decay=wd),
    "adamw": lambda p, wd: torch.optim.AdamW(p, lr=0.02, betas=(0.8, 0.95), weight_decay=10 * wd),
}


def user_loop(model, optimizer, x, y, recorder=None):
    """An ordinary hand-written loop over shuffled mini-batches (sizes 4, 3, 3); returns theta per step."""
    g = torch.Generator().manual_seed(5)
    seen = [pk.flat_parameters(model)]
    for _ in range(EPOCHS):
        for index in torch.randperm(N, generator=g).split([4, 3, 3]):
            optimizer.zero_grad()
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
            if recorder is not None:
                recorder.step(index)
            seen.append(pk.flat_parameters(model))
    return torch.stack(seen)


def recorded(kind, name, wd, storage="disk", directory=None):
    model = mlp() if kind == "mlp" else cnn()
    x, y = data(kind)
    optimizer = OPTIMIZERS[name](model.parameters(), wd)
    recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", storage=storage, directory=directory)
    user_loop(model, optimizer, x, y, recorder)
    return recorder.path, x


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_contributions_add_up_to_the_prediction(kind, name, wd):
    path, x = recorded(kind, name, wd)
    queries = x[:3] + 0.1
    dec = pk.domingos(path, queries, exact=True, per_sample=True)
    total = dec.initial + dec.per_sample.sum(1)
    if wd:
        assert dec.regularization.shape == (3, 3) and dec.regularization.abs().max() > 1e-6
        total = total + dec.regularization
    else:
        assert dec.regularization is None
    torch.testing.assert_close(total, dec.prediction, rtol=0, atol=1e-12)
    # the plain model evaluated at the end, independently of the path machinery
    torch.testing.assert_close(dec.prediction, path.model(queries).detach(), rtol=0, atol=1e-13)


def naive_per_example_terms(path, queries, name, wd):
    """(m, n, c) plain-theorem terms -lr_k <grad f(theta_k, x), S_k buffer_k^i> with per-example
    buffers updated by torch's written-out rules (autograd per example, no package kernels)."""
    model, x, y = path.model, path.x, path.y
    P, n = path.params.shape[1], x.shape[0]
    beta1, beta2 = (0.8, 0.95)
    mu, damp = {"momentum": (0.8, 0.3), "nesterov": (0.7, 0.0)}.get(name, (0.0, 0.0))
    buffers = torch.zeros(n + 1, P, dtype=torch.float64)  # row n: the weight-decay source
    v = torch.zeros(P, dtype=torch.float64)
    terms = torch.zeros(queries.shape[0], n + 1, 3, dtype=torch.float64)
    for k in range(path.steps):
        theta = path.params[k]
        clone = load_flat(model, theta)
        batch = path.batches[k]
        sources = torch.zeros(n + 1, P, dtype=torch.float64)
        for i in batch.tolist():
            loss = F.cross_entropy(clone(x[i : i + 1]), y[i : i + 1], reduction="sum") / len(batch)
            sources[i] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(clone.parameters()))])
        decoupled = 0.0
        if name == "adamw":
            decoupled = 10 * wd
        else:
            sources[n] = wd * theta
        gradient = sources.sum(0)
        if name in ("adam", "adamw"):
            buffers = beta1 * buffers + (1 - beta1) * sources
            v = beta2 * v + (1 - beta2) * gradient**2
            scale = 1 / ((1 - beta1 ** (k + 1)) * ((v / (1 - beta2 ** (k + 1))).sqrt() + 1e-8))
            direction = scale * buffers
        elif mu:
            buffers = sources.clone() if k == 0 else mu * buffers + (1 - damp) * sources
            direction = sources + mu * buffers if name == "nesterov" else buffers
        else:
            direction = sources
        J = naive_jacobian(clone, queries)  # (m, c, P)
        terms -= path.lrs[k] * torch.einsum("mcp,ip->mic", J, direction)
        terms[:, n] -= path.lrs[k] * decoupled * torch.einsum("mcp,p->mc", J, theta)
    return terms


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_contribution_against_per_example_autograd_buffers(name):
    path, x = recorded("mlp", name, 0.05)
    queries = x[:2] - 0.2
    dec = pk.domingos(path, queries, exact=False, per_sample=True)
    reference = naive_per_example_terms(path, queries, name, 0.05)
    torch.testing.assert_close(dec.per_sample, reference[:, :N], rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(dec.regularization, reference[:, N], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_recorded_run_equals_an_unrecorded_run(name):
    x, y = data("cnn")
    plain_model = cnn()
    plain = user_loop(plain_model, OPTIMIZERS[name](plain_model.parameters(), 0.05), x, y)
    path, _ = recorded("cnn", name, 0.05)
    torch.testing.assert_close(path.params, plain, rtol=0, atol=0)
    assert path.steps == EPOCHS * STEPS_PER_EPOCH and [len(b) for b in path.batches[:3]] == [4, 3, 3]


def test_disk_snapshots_equal_memory_snapshots_and_live_in_a_file(tmp_path):
    disk, _ = recorded("mlp", "adam", 0.0, storage="disk", directory=tmp_path)
    memory, _ = recorded("mlp", "adam", 0.0, storage="memory")
    torch.testing.assert_close(disk.params, memory.params, rtol=0, atol=0)
    torch.testing.assert_close(disk.scales, memory.scales, rtol=0, atol=0)
    rows, P = memory.params.shape
    on_disk = np.fromfile(tmp_path / "params.f8", dtype=np.float64)[: rows * P].reshape(rows, P)
    np.testing.assert_array_equal(on_disk, memory.params.numpy())


def test_reverse_route_equals_the_forward_route_on_train_paths():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(12, 2, generator=g, dtype=torch.float64)
    y = torch.sin(2 * x[:, 0])
    q = torch.randn(3, 2, generator=g, dtype=torch.float64)
    for optimizer, extra in [("sgd", {"batch_size": 5}), ("momentum", {}), ("adam", {})]:
        path = pk.train(pk.MLP(2, 8, 3, dtype=torch.float64), x, y, lr=0.05, steps=6, optimizer=optimizer, **extra)
        forward = pk.domingos(path, q, exact=True, per_sample=True, route="forward")
        reverse = pk.domingos(path, q, exact=True, per_sample=True, route="reverse")
        torch.testing.assert_close(reverse.per_sample, forward.per_sample, rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(reverse.path_kernel, forward.path_kernel, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "adamw"])
def test_train_with_weight_decay_is_exact(optimizer):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(10, 2, generator=g, dtype=torch.float64)
    path = pk.train(pk.MLP(2, 8, 3, dtype=torch.float64), x, torch.cos(x[:, 1]), lr=0.05, steps=5,
                    optimizer=optimizer, weight_decay=0.1)
    dec = pk.domingos(path, x[:4], exact=True, per_sample=True)
    torch.testing.assert_close(dec.initial + dec.per_sample.sum(1) + dec.regularization, dec.prediction,
                               rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="route='forward'"):
        pk.domingos(path, x[:2], per_sample=True, route="forward")


def test_top_examples_against_a_sort():
    path, x = recorded("mlp", "adam", 0.0)
    dec = pk.domingos(path, x[:4], exact=True, per_sample=True)
    top = pk.top_examples(dec, 3)
    predicted = dec.prediction.argmax(1)
    for j in range(4):
        scores = dec.per_sample[j, :, predicted[j]].numpy()
        order = np.argsort(scores)
        assert top.proponents[j].tolist() == order[::-1][:3].tolist()
        assert top.opponents[j].tolist() == order[:3].tolist()
        np.testing.assert_array_equal(top.proponent_contributions[j].numpy(), scores[order[::-1][:3]])
    top2 = pk.top_examples(dec, 2, output=1)
    assert top2.output.tolist() == [1] * 4
    assert top2.proponents[0].tolist() == np.argsort(dec.per_sample[0, :, 1].numpy())[::-1][:2].tolist()
    with pytest.raises(ValueError, match="k=0"):
        pk.top_examples(dec, 0)
    with pytest.raises(ValueError, match="per_sample=True"):
        pk.top_examples(pk.domingos(path, x[:1]), 2)


def test_unsupported_optimizer_is_named():
    model = mlp()
    x, y = data("mlp")
    with pytest.raises(TypeError, match="torch.optim.rmsprop.RMSprop"):
        pk.Recorder(model, torch.optim.RMSprop(model.parameters()), x, y, loss="cross_entropy")
    with pytest.raises(ValueError, match="amsgrad"):
        pk.Recorder(model, torch.optim.Adam(model.parameters(), amsgrad=True), x, y, loss="cross_entropy")


def test_bad_batches_and_changed_models():
    model = mlp()
    x, y = data("mlp")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy")

    def take_step(index):
        optimizer.zero_grad()
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()

    with pytest.raises(RecordingError, match="must follow optimizer.step"):
        recorder.step([0, 1])
    take_step(torch.arange(3))
    with pytest.raises(TypeError, match="indices"):
        recorder.step(None)
    with pytest.raises(TypeError, match="integer"):
        recorder.step(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        recorder.step([0, 10])
    with pytest.raises(RecordingError, match="not the gradient"):
        recorder.step(torch.arange(1, 4))  # the wrong batch
    with pytest.raises(RecordingError, match="again before"):
        take_step(torch.arange(3))
    recorder.step(torch.arange(3))
    path = recorder.path
    with torch.no_grad():
        model[0].weight.add_(1e-3)
    with pytest.raises(RecordingError, match="model changed"):
        recorder.path
    with pytest.raises(ValueError, match="model changed after recording"):
        pk.domingos(path, x[:2], per_sample=True)
    with pytest.raises(RecordingError, match="changed outside"):
        take_step(torch.arange(3))


def test_optimizer_must_be_fresh_and_cover_the_model():
    model = mlp()
    x, y = data("mlp")
    normed = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3)).double()
    with pytest.raises(ValueError, match="BatchNorm1d in training mode"):
        pk.Recorder(normed, torch.optim.SGD(normed.parameters(), lr=0.1), x, y, loss="cross_entropy")
    with pytest.raises(ValueError, match="requires_grad=True but are not in the optimizer"):
        pk.Recorder(model, torch.optim.SGD(list(model.parameters())[:2], lr=0.1), x, y, loss="cross_entropy")
    stranger = nn.Parameter(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="1 tensors that are not the model's"):
        pk.Recorder(model, torch.optim.SGD([*model.parameters(), stranger], lr=0.1), x, y, loss="cross_entropy")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    with pytest.raises(ValueError, match="already taken steps"):
        pk.Recorder(model, optimizer, x, y, loss="cross_entropy")


# --- the chapter's experiment (pathkernel.experiments.attribution) ---

from pathkernel.experiments import attribution as experiment  # noqa: E402
from pathkernel.figures import result_digest  # noqa: E402

TINY = experiment.Config(scale="quick", n_train=60, n_test=60, epochs=2, batch_size=20, channels=(2, 3),
                         checkpoint_counts=(1, 3, 6), correct=2, mistakes=1, k=3)


def tiny_path():
    x, y, xt, yt = experiment.digits(40, 20, seed=0)
    model = experiment.small_cnn((2, 3), seed=0)
    path = experiment.train_loop(model, x, y, lr=0.05, weight_decay=0.0, epochs=2, batch_size=10, seed=0)
    return path, xt[:3], torch.tensor([1, 2, 3])


def test_tracin_against_a_per_example_autograd_loop():
    path, queries, outputs = tiny_path()
    index, eta = experiment.checkpoint_schedule(path, 3)
    assert index.tolist() == [0, 3, 5] and torch.allclose(eta, torch.stack(
        [path.lrs[0:3].sum(), path.lrs[3:5].sum(), path.lrs[5:8].sum()]) / 40)
    scores = experiment.tracin_cp(path.model, path.params[index], eta, path.x, path.y, queries, outputs)
    reference = torch.zeros(3, 40, dtype=torch.float64)
    for theta, weight in zip(path.params[index], eta):
        clone = load_flat(path.model, theta)
        params = list(clone.parameters())
        for j in range(3):
            gq = torch.autograd.grad(clone(queries[j : j + 1])[0, outputs[j]], params)
            for i in range(40):
                gi = torch.autograd.grad(F.cross_entropy(clone(path.x[i : i + 1]), path.y[i : i + 1]), params)
                reference[j, i] -= weight * sum((a * b).sum() for a, b in zip(gq, gi))
    torch.testing.assert_close(scores, reference, rtol=1e-10, atol=1e-15)


def test_tracin_against_captum(tmp_path):
    captum = pytest.importorskip("captum.influence")
    path, queries, outputs = tiny_path()
    index, eta = experiment.checkpoint_schedule(path, 3)
    files = []
    for c, (k, weight) in enumerate(zip(index, eta)):
        files.append(tmp_path / f"checkpoint{c}.pt")
        torch.save({"theta": path.params[k].clone(), "eta": float(weight)}, files[-1])

    def load(model, file):
        saved = torch.load(file)
        nn.utils.vector_to_parameters(saved["theta"], model.parameters())
        return saved["eta"]

    copy = experiment.small_cnn((2, 3), seed=0)
    with pytest.warns(UserWarning, match="per-example"):  # the test loss is the logit f_a, per example
        tracin = captum.TracInCP(copy, torch.utils.data.TensorDataset(path.x, path.y), [str(f) for f in files],
                                 checkpoints_load_func=load, loss_fn=nn.CrossEntropyLoss(reduction="none"),
                                 batch_size=16, test_loss_fn=lambda out, target: out.gather(1, target[:, None])[:, 0])
    theirs = tracin.influence((queries, outputs))
    ours = experiment.tracin_cp(path.model, path.params[index], eta, path.x, path.y, queries, outputs)
    torch.testing.assert_close(ours, -theirs, rtol=1e-10, atol=1e-15)


def test_choose_queries():
    predicted = torch.tensor([0, 0, 1, 2, 5, 3])
    labels = torch.tensor([0, 0, 1, 9, 5, 4])
    assert experiment.choose_queries(predicted, labels, correct=2, mistakes=1).tolist() == [0, 2, 3]
    assert experiment.choose_queries(predicted, labels, correct=3, mistakes=3).tolist() == [0, 2, 4, 3, 5]


def test_experiment_adds_up_and_is_deterministic():
    result = experiment.run(TINY, seed=0)
    assert result.additivity_error < 1e-11 and result.residual < 1e-11
    m = len(result.predicted)
    assert result.proponents.shape == result.opponents.shape == (m, 3)
    assert np.all(result.proponent_contributions[:, 0] == result.contributions.max(1))
    assert np.all(result.opponent_contributions[:, 0] == result.contributions.min(1))
    assert result.mistake.tolist() == [False] * (m - result.mistake.sum()) + [True] * result.mistake.sum()
    assert result.spearman.shape == result.overlap.shape == (3,) and np.all(np.abs(result.spearman) <= 1)
    again = experiment.run(TINY, seed=0)
    assert result_digest(again) == result_digest(result)
    assert result_digest(experiment.run(TINY, seed=1)) != result_digest(result)


@pytest.fixture(scope="module")
def tiny_result():
    return experiment.run(TINY, seed=0)


def test_experiment_numbers_against_the_result(tiny_result):
    import re
    from pathlib import Path

    result = tiny_result
    numbers = experiment.numbers(result)
    chapter = (Path(__file__).parents[1] / "notebooks" / "attribution.md").read_text()
    assert set(re.findall(r"\{glue:text\}`([\w-]+)`", chapter)) == set(numbers)
    m, n = result.contributions.shape
    # the classes of the proponents and opponents, and the mass TracIn flips, by loops over the digits
    same = [sum(result.train_labels[i] == result.predicted[j] for i in result.proponents[j]) / TINY.k for j in range(m)]
    other = [sum(result.train_labels[i] != result.predicted[j] for i in result.opponents[j]) / TINY.k for j in range(m)]
    np.testing.assert_array_equal(experiment.proponent_classes(result)[0], same)
    np.testing.assert_array_equal(experiment.proponent_classes(result)[1], other)
    correct = [j for j in range(m) if not result.mistake[j]]
    assert numbers["attribution-pro-same-correct"] == f"{sum(same[j] for j in correct) / len(correct):.0%}"
    flipped = sum(abs(result.contributions[j, i]) for j in range(m) for i in range(n)
                  if np.sign(result.tracin[j, i]) != np.sign(result.contributions[j, i]))
    assert experiment.flip_mass(result) == pytest.approx(flipped / np.abs(result.contributions).sum(), rel=1e-12)
    best = max(range(len(TINY.checkpoint_counts)), key=lambda c: result.spearman[c])
    assert numbers["attribution-best-count"] == str(TINY.checkpoint_counts[best])
    assert numbers["attribution-sign-last"] == f"{1 - result.sign_agreement[-1]:.0%}"
    assert numbers["attribution-n"] == "60" and numbers["attribution-k"] == "3" and numbers["attribution-scale"] == "quick"
    assert numbers["attribution-epochs"] == "2" and numbers["attribution-batch"] == "20"
    assert int(numbers["attribution-steps"]) == 2 * -(-60 // 20)  # epochs x batches per epoch
    assert numbers["attribution-parameters"] == f"{result.parameters:,}"


def test_the_committed_benchmark_is_found_from_the_package_whatever_the_folder(tmp_path, monkeypatch):
    import json
    from pathlib import Path

    monkeypatch.chdir(tmp_path)  # the chapter may run from any folder
    path = experiment.benchmark_file()
    assert path == Path(__file__).parents[1] / "benchmarks" / "results" / "attribution.json"
    bench = experiment.load_benchmark()
    assert bench == json.loads(path.read_text())
    with pytest.raises(FileNotFoundError, match="not from a checkout"):  # an installed copy
        experiment.benchmark_file(tmp_path / "site-packages" / "pathkernel")
    with pytest.raises(FileNotFoundError, match="benchmarks.attribution"):  # a checkout without the results
        experiment.benchmark_file(tmp_path / "src" / "pathkernel")


def test_benchmark_rows_and_numbers_read_the_file():
    bench = experiment.load_benchmark()
    rows = experiment.scale_rows(bench)
    assert [(row["storage"], row["dtype"]) for row in rows] == [
        (storage, dtype) for storage, key in (("disk", "scale"), ("replay", "replay")) for dtype in bench[key]]
    replay32 = bench["replay"]["float32"]
    row = next(row for row in rows if (row["storage"], row["dtype"]) == ("replay", "float32"))
    assert row["measured steps"] == replay32["measured"][-1]["steps"]
    assert row["disk GB at T=10⁴"] == replay32["extrapolated"]["disk_gigabytes"]
    numbers = experiment.benchmark_numbers(bench)
    assert numbers["attribution-scale-every"] == str(replay32["extrapolated"]["checkpoint_every"])
    assert numbers["attribution-scale-replay-hours32"] == f"{replay32['extrapolated']['one_output_hours_per_query']:.1f}"
    ram = max(bench["scale"][dtype]["extrapolated"]["ram_gigabytes"] for dtype in bench["scale"])
    assert numbers["attribution-scale-disk-ram"] == f"{ram:.1f}"
    disk64 = bench["scale"]["float64"]
    assert numbers["attribution-scale-parameters"] == f"{disk64['measured'][0]['parameters']:,}"
    assert numbers["attribution-scale-target"] == f"{disk64['extrapolated']['target_steps']:,}"


def test_benchmark_numbers_refuse_runs_of_different_models():
    import copy

    bench = copy.deepcopy(experiment.load_benchmark())
    bench["replay"]["float32"]["measured"][-1]["parameters"] += 1
    with pytest.raises(ValueError, match="parameters"):
        experiment.benchmark_numbers(bench)


def test_figures_and_tables(tiny_result):
    import matplotlib.pyplot as plt

    from pathkernel import plots

    result = tiny_result
    m = len(result.predicted)
    fig = plots.attribution.examples(result)
    assert len(fig.axes) == m * (2 * TINY.k + 1)
    plt.close(fig)
    fig = plots.attribution.tracin(result)
    assert len(fig.axes) == 2
    plt.close(fig)
    frame = plots.attribution.additivity_table(result)
    np.testing.assert_allclose(frame["sum"], frame["f(θ_T, x)"], rtol=0, atol=1e-11)
    assert plots.attribution.tracin_table(result)["checkpoints"].tolist() == list(TINY.checkpoint_counts)
    scale = plots.attribution.scale_table(experiment.load_benchmark())
    assert scale.index.names == ["storage", "dtype"] and len(scale) == len(experiment.scale_rows(experiment.load_benchmark()))


@pytest.mark.parametrize("name", ["nesterov", "adam"])
def test_reverse_sweep_leaves_the_path_untouched_and_repeats(name):
    # the backward sweep updates its adjoints in place; the snapshots it reads must not change
    path, x = recorded("cnn", name, 0.05, storage="memory")
    params, scales = path.params.clone(), path.scales.clone() if path.scales is not None else None
    first = pk.domingos(path, x[:2] + 0.1, exact=True, per_sample=True)
    second = pk.domingos(path, x[:2] + 0.1, exact=True, per_sample=True)
    torch.testing.assert_close(path.params, params, rtol=0, atol=0)
    if scales is not None:
        torch.testing.assert_close(path.scales, scales, rtol=0, atol=0)
    torch.testing.assert_close(second.per_sample, first.per_sample, rtol=0, atol=0)


def test_float32_model_gives_float32_snapshots_and_float32_exactness(tmp_path):
    # the snapshots are stored in the model's dtype, so the sum closes to the model's round-off
    model = cnn().float()
    x, y = data("cnn")
    x = x.float()
    optimizer = OPTIMIZERS["adam"](model.parameters(), 0.05)
    recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", directory=tmp_path)
    user_loop(model, optimizer, x, y, recorder)
    path = recorder.path
    assert path.params.dtype == torch.float32 and (tmp_path / "params.f4").exists()
    rows, P = path.params.shape
    on_disk = np.fromfile(tmp_path / "params.f4", dtype=np.float32)[: rows * P].reshape(rows, P)
    np.testing.assert_array_equal(on_disk, path.params.numpy())
    dec = pk.domingos(path, x[:3] + 0.1, exact=True, per_sample=True)
    total = dec.initial + dec.per_sample.sum(1) + dec.regularization
    scale = float(dec.prediction.abs().max())
    assert float((total - dec.prediction).abs().max()) < 100 * torch.finfo(torch.float32).eps * scale


@pytest.mark.parametrize("name", ["momentum", "adamw"])
def test_explaining_some_outputs_equals_those_columns_of_the_full_decomposition(name):
    path, x = recorded("cnn", name, 0.05, storage="memory")
    queries = x[:2] + 0.1
    full = pk.domingos(path, queries, exact=True, per_sample=True)
    part = pk.domingos(path, queries, exact=True, per_sample=True, outputs=[2, 0])
    torch.testing.assert_close(part.prediction, full.prediction[:, [2, 0]], rtol=0, atol=0)
    torch.testing.assert_close(part.per_sample, full.per_sample[..., [2, 0]], rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(part.regularization, full.regularization[:, [2, 0]], rtol=1e-10, atol=1e-14)
    gap = part.initial + part.per_sample.sum(1) + part.regularization - part.prediction
    assert float(gap.abs().max()) < 1e-12


def test_bad_outputs_are_named():
    path, x = recorded("mlp", "sgd", 0.0, storage="memory")
    for bad in ([3], [], [0, 0], 1, [True]):
        with pytest.raises(ValueError, match="outputs="):
            pk.domingos(path, x[:1], per_sample=True, outputs=bad)
    with pytest.raises(ValueError, match="route='reverse'"):
        pk.domingos(path, x[:1], per_sample=True, outputs=[0], route="forward")


# --- storage="replay": checkpoints every K steps, the rest replayed on demand ---

from pathkernel.replay import ReplayDivergedError  # noqa: E402

REPLAYED = {
    "nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.7, nesterov=True, weight_decay=0.05),
    "adam": lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), weight_decay=0.05),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.02, betas=(0.8, 0.95), weight_decay=0.5),
}


def scheduled(kind, name, epochs=EPOCHS, model=None, criterion=F.cross_entropy, **recorder_options):
    """A loop with a learning-rate scheduler stepped after every batch; returns (path, x, thetas it went through)."""
    model = model or (mlp() if kind == "mlp" else cnn())
    x, y = data(kind)
    optimizer = REPLAYED[name](model.parameters())
    recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", **recorder_options)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.6)
    g = torch.Generator().manual_seed(5)
    seen = [pk.flat_parameters(model)]
    for _ in range(epochs):
        for index in torch.randperm(N, generator=g).split([4, 3, 3]):
            optimizer.zero_grad()
            criterion(model(x[index]), y[index]).backward()
            optimizer.step()
            recorder.step(index)
            scheduler.step()
            seen.append(pk.flat_parameters(model))
    return recorder.path, x, torch.stack(seen)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("name", list(REPLAYED))
@pytest.mark.parametrize("every", [None, 4])
def test_replay_gives_the_disk_path_and_decomposition_bit_for_bit(kind, name, every):
    disk, x, seen = scheduled(kind, name)
    replay, _, _ = scheduled(kind, name, storage="replay", checkpoint_every=every)
    assert len(set(disk.lrs.tolist())) > 1  # the scheduler changed the learning rate
    # the replayed snapshots are the ones the user's loop went through, bit for bit
    torch.testing.assert_close(replay.params[:], seen, rtol=0, atol=0)
    if name != "nesterov":
        torch.testing.assert_close(replay.scales[:], disk.scales, rtol=0, atol=0)
    queries = x[:3] + 0.1
    expected = pk.domingos(disk, queries, exact=True, per_sample=True)
    got = pk.domingos(replay, queries, exact=True, per_sample=True)
    for field in ("prediction", "initial", "per_sample", "regularization", "path_kernel"):
        torch.testing.assert_close(getattr(got, field), getattr(expected, field), rtol=0, atol=0)
    gap = got.initial + got.per_sample.sum(1) + got.regularization - got.prediction
    assert float(gap.abs().max()) < 1e-12


def test_replay_of_a_float32_model_gives_the_float32_disk_path_bit_for_bit():
    # replay re-runs the float32 steps, so it reproduces float32 round-off exactly, not a float64 path
    paths = []
    for options in ({"storage": "disk"}, {"storage": "replay", "checkpoint_every": 4}):
        model = cnn().float()
        x, y = data("cnn")
        x = x.float()
        optimizer = REPLAYED["adam"](model.parameters())
        recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", **options)
        user_loop(model, optimizer, x, y, recorder)
        paths.append(recorder.path)
    disk, replay = paths
    assert replay.params.dtype == torch.float32
    torch.testing.assert_close(replay.params[:], disk.params[:], rtol=0, atol=0)
    torch.testing.assert_close(replay.scales[:], disk.scales[:], rtol=0, atol=0)
    dec = pk.domingos(replay, x[:3] + 0.1, exact=True, per_sample=True)
    total = dec.initial + dec.per_sample.sum(1) + dec.regularization
    scale = float(dec.prediction.abs().max())
    assert float((total - dec.prediction).abs().max()) < 100 * torch.finfo(torch.float32).eps * scale


def test_replay_of_a_loop_with_an_equivalent_loss_agrees_to_round_off():
    # log(softmax) is cross-entropy up to round-off: the replay (F.cross_entropy) is not bitwise
    # the loop's, but every replayed step is accepted and the path stays within round-off
    def criterion(out, target):
        return F.nll_loss(torch.log(F.softmax(out, dim=1)), target)

    path, x, seen = scheduled("cnn", "adam", epochs=3, criterion=criterion, storage="replay", checkpoint_every=3)
    replayed = path.params[:]
    assert not torch.equal(replayed, seen)
    torch.testing.assert_close(replayed, seen, rtol=0, atol=1e-14)
    dec = pk.domingos(path, x[:2] + 0.1, exact=True, per_sample=True)
    gap = dec.initial + dec.per_sample.sum(1) + dec.regularization - dec.prediction
    assert float(gap.abs().max()) < 1e-12


def test_replay_keeps_about_sqrt_T_checkpoints_and_two_segments_in_ram(tmp_path):
    path, x, seen = scheduled("mlp", "adam", epochs=16, storage="replay", directory=tmp_path)  # T = 48
    store = path.params.store
    T, K = path.steps, store.every
    assert T == 48 and K * K <= 2 * T and T <= 2 * K * K  # K ~ sqrt(T), chosen while recording
    files = sorted(tmp_path.glob("checkpoint-*.pt"))
    assert [int(f.stem.split("-")[1]) for f in files] == list(range(0, T + 1, K))
    dec = pk.domingos(path, x[:2] + 0.1, exact=True, per_sample=True)
    gap = dec.initial + dec.per_sample.sum(1) + dec.regularization - dec.prediction
    assert float(gap.abs().max()) < 1e-12
    # RAM: at most two replayed segments (K + 1 parameter rows and K scale rows each)
    assert store.peak_cached_rows <= 2 * (2 * K + 1) < T
    # time: one replay of the run per sweep (kernel part forwards, per-sample terms backwards)
    assert store.replayed_steps <= 2 * T
    torch.testing.assert_close(path.params[T - 3 :], seen[T - 3 :], rtol=0, atol=0)


def test_replay_of_a_changed_or_non_deterministic_run_names_the_step(tmp_path):
    # the model changed after recording (same parameters, another activation)
    path, x, _ = scheduled("mlp", "nesterov", storage="replay")
    path.model[1] = nn.Sigmoid()
    with pytest.raises(ReplayDivergedError, match=r"replaying step 0 \(theta_0 -> theta_1\)"):
        pk.domingos(path, x[:2], exact=True, per_sample=True)
    # an edited checkpoint: the optimizer state (Adam's first moment) of step 4
    path, x, _ = scheduled("mlp", "adam", storage="replay", directory=tmp_path, checkpoint_every=4)
    checkpoint = torch.load(tmp_path / "checkpoint-000000004.pt", weights_only=True)
    checkpoint["optimizer"]["state"][0]["exp_avg"] += 0.01
    torch.save(checkpoint, tmp_path / "checkpoint-000000004.pt")
    path.params[3]  # the segment before is intact
    with pytest.raises(ReplayDivergedError, match=r"replaying step 4 \(theta_4 -> theta_5\)"):
        path.params[5]
    checkpoint["theta"][0] += 0.01
    torch.save(checkpoint, tmp_path / "checkpoint-000000004.pt")
    with pytest.raises(ReplayDivergedError, match="the checkpoint of step 4"):
        path.scales[4]
    # a non-deterministic model (dropout), recorded without the gradient check
    torch.manual_seed(3)
    dropout = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 3)).double()
    path, x, _ = scheduled("mlp", "adamw", model=dropout, storage="replay", verify=False)
    with pytest.raises(ReplayDivergedError, match="replaying step 0"):
        path.params[1]


def test_bad_checkpoint_every():
    model = mlp()
    x, y = data("mlp")
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="checkpoint_every="):
            pk.Recorder(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss="cross_entropy",
                        storage="replay", checkpoint_every=bad)
    with pytest.raises(ValueError, match="storage='replay'"):
        pk.Recorder(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss="cross_entropy",
                    checkpoint_every=4)
    with pytest.raises(ValueError, match="'replay'"):
        pk.Recorder(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss="cross_entropy", storage="tape")
