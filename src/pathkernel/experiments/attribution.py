"""Chapter "Which training examples made this prediction?": exact attribution against TracIn.

A small CNN (smooth GELU activations, so the exact form closes to round-off) is trained
with Adam in an ordinary hand-written loop (`train_loop`) on scikit-learn's bundled 8 x 8
digits, recorded by `pathkernel.Recorder` (the two lines marked "added"). For a few test
digits, `pathkernel.domingos(..., exact=True, per_sample=True)` splits the logit of the
predicted class into one contribution per training digit (plus weight decay's term), and
`pathkernel.top_examples` ranks them.

TracIn-CP (Pruthi et al. 2020; Captum's ``TracInCP``) estimates the same kind of influence
from C checkpoints theta_c:

    TracIn(x, z_i) = - sum_c eta_c <grad f_a(theta_c, x), grad l(theta_c; z_i)>,

with l the per-example cross-entropy and eta_c = (sum of the learning rates of the
steps the checkpoint stands for) / n (each example is seen once per epoch, with weight
1/batch in the batch mean); the sign makes it an estimate of the contribution to f_a. It
ignores which batch held z_i, Adam's moments and preconditioner, and the change of the
gradients between checkpoints. `tracin_cp` implements the formula (its test checks it
against Captum); the experiment measures the Spearman correlation and the top-k overlap
of its ranking with the exact contributions as C grows, and the time of both.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.func import functional_call, grad, vmap

from pathkernel.attribution import Recorder, top_examples
from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.functional import flat_function
from pathkernel.training import TrainingPath
from pathkernel.validation import integer

CLASSES = 10


def digits(n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 8 x 8 digits, float64 in [0, 1], shape (n, 1, 8, 8); a stratified split.

    Returns x_train, y_train, x_test, y_test (labels int64).
    """
    bunch = load_digits()
    integer("n_train", n_train, 10, len(bunch.target) - 10)
    integer("n_test", n_test, 10, len(bunch.target) - n_train)
    x = bunch.images.astype(np.float64) / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, bunch.target, train_size=n_train, test_size=n_test, stratify=bunch.target, random_state=seed)
    as_images = lambda a: torch.from_numpy(a).unsqueeze(1)  # noqa: E731
    return as_images(x_train), torch.from_numpy(y_train), as_images(x_test), torch.from_numpy(y_test)


def small_cnn(channels: tuple[int, int], seed: int) -> nn.Sequential:
    """Conv(1 -> c1, 3x3, pad 1) - GELU - Conv(c1 -> c2, 3x3, stride 2) - GELU - Linear(9 c2 -> 10), float64."""
    torch.manual_seed(seed)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.GELU(),
        nn.Conv2d(c1, c2, 3, stride=2), nn.GELU(),
        nn.Flatten(), nn.Linear(9 * c2, CLASSES),
    ).double()


def train_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, weight_decay: float,
               epochs: int, batch_size: int, seed: int) -> TrainingPath:
    """An ordinary Adam loop over shuffled mini-batches, with the two lines that record it."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    recorder = Recorder(model, optimizer, x, y, loss="cross_entropy")  # added
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y, torch.arange(len(x))),  # the dataset also returns the index
        batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    for _ in range(epochs):
        for xb, yb, index in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
            recorder.step(index)  # added
    return recorder.path


def loop_source() -> str:
    """The source of `train_loop`, as shown in the chapter."""
    return inspect.getsource(train_loop)


def tracin_cp(model: nn.Module, checkpoints: torch.Tensor, eta: torch.Tensor, x_train: torch.Tensor,
              y_train: torch.Tensor, queries: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """(m, n) TracIn-CP estimate of each training example's contribution to f_{outputs_j}(x_j).

    -sum_c eta_c <grad f_a(theta_c, x_j), grad l(theta_c; x_i, y_i)> with l the per-example
    cross-entropy; checkpoints (C, P) flat parameters, eta (C,) their weights. Computed on the
    device of the queries (the model's): checkpoints stored on the CPU are moved there.
    """
    checkpoints, eta = checkpoints.to(queries.device), eta.to(queries.device)
    f = flat_function(model)
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def example_loss(theta: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        params = {n: t.view(s) for n, t, s in zip(names, theta.split(sizes), shapes)}
        return F.cross_entropy(functional_call(model, params, (xi[None],)), yi[None])

    def query_output(theta: torch.Tensor, xj: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return f(theta, xj[None])[0] @ onehot

    selectors = F.one_hot(outputs, f(checkpoints[0], queries[:1]).shape[1]).to(queries.dtype)
    scores = queries.new_zeros(queries.shape[0], x_train.shape[0])
    for theta, weight in zip(checkpoints, eta):
        train_grads = vmap(grad(example_loss), in_dims=(None, 0, 0))(theta, x_train, y_train)
        query_grads = vmap(grad(query_output), in_dims=(None, 0, 0))(theta, queries, selectors)
        scores -= weight * query_grads @ train_grads.T
    return scores


def checkpoint_schedule(path: TrainingPath, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (C,), eta (C,)): C evenly spaced snapshots theta_k (block starts) and their weights
    eta_c = (sum of lr over the block of steps) / n."""
    integer("count", count, 1, path.steps)
    edges = np.linspace(0, path.steps, count + 1).round().astype(int)
    eta = torch.stack([path.lrs[a:b].sum() for a, b in zip(edges[:-1], edges[1:])]) / path.x.shape[0]
    return torch.from_numpy(edges[:-1]), eta


@dataclass(frozen=True)
class Config(Presets):
    """Sizes (the chapter's choices: the paper of TracIn uses MNIST/CIFAR, we ship 8 x 8 digits).

    n_train, n_test: split of scikit-learn's 1797 digits. channels: the CNN's two conv widths.
    epochs, batch_size, lr, weight_decay: Adam(weight_decay) in `train_loop`. correct, mistakes:
    test digits explained (first correctly classified ones of distinct classes, then the first
    misclassified ones). k: proponents/opponents shown and the top-k of the overlap.
    checkpoint_counts: numbers C of TracIn checkpoints (each <= the number of steps).
    Measured on one shared core: quick ~22 s (52 steps, 1,066 parameters); paper ~10 min
    (860 steps, 2,698 parameters, 6 digits; the exact decomposition ~4.5 min of it).
    """

    scale: str
    n_train: int
    n_test: int
    epochs: int
    checkpoint_counts: tuple[int, ...]
    channels: tuple[int, int] = (4, 8)
    batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 1e-3
    correct: int = 3
    mistakes: int = 1
    k: int = 6

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n_train=400, n_test=300, epochs=4, checkpoint_counts=(1, 2, 4, 8, 16, 48))

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n_train=1347, n_test=450, epochs=20, channels=(8, 16), correct=4, mistakes=2,
                   checkpoint_counts=(1, 2, 5, 10, 20, 50, 100, 200, 840))


@dataclass
class Result:
    """Everything the chapter shows (m explained test digits, n training digits, C checkpoint counts).

    train_images (n, 8, 8), train_labels (n,); query_images (m, 8, 8), query_labels,
    predicted (m,), mistake (m,) bool; contributions (m, n): exact contribution of each
    training digit to the predicted class's logit; proponents, opponents (m, k) indices and
    their contributions; initial, prediction, regularization (m,): f_a(theta_0, x),
    f_a(theta_T, x), weight decay's term; additivity_error: max_j |initial + sum_i
    contributions + regularization - prediction|; residual: max |dec.residual| (all logits);
    train_accuracy, test_accuracy, steps, parameters; checkpoint_counts (C,), spearman,
    overlap, sign_agreement (C,) (means over the m digits; overlap of the top-k proponents),
    tracin_sum_ratio (C,): mean_j sum_i TracIn / sum_i exact; tracin (m, n) at the largest C.
    Wall-clock seconds (volatile: left out of the figure digest): train_seconds (the recorded
    loop), exact_seconds (domingos), tracin_seconds (C,).
    """

    config: Config
    train_images: np.ndarray
    train_labels: np.ndarray
    query_images: np.ndarray
    query_labels: np.ndarray
    predicted: np.ndarray
    mistake: np.ndarray
    contributions: np.ndarray
    proponents: np.ndarray
    proponent_contributions: np.ndarray
    opponents: np.ndarray
    opponent_contributions: np.ndarray
    initial: np.ndarray
    prediction: np.ndarray
    regularization: np.ndarray
    additivity_error: float
    residual: float
    train_accuracy: float
    test_accuracy: float
    steps: int
    parameters: int
    checkpoint_counts: np.ndarray
    spearman: np.ndarray
    overlap: np.ndarray
    sign_agreement: np.ndarray
    tracin_sum_ratio: np.ndarray
    tracin: np.ndarray
    train_seconds: float = field(default=0.0, metadata={"volatile": True})
    exact_seconds: float = field(default=0.0, metadata={"volatile": True})
    tracin_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0), metadata={"volatile": True})


def choose_queries(predicted: torch.Tensor, labels: torch.Tensor, correct: int, mistakes: int) -> torch.Tensor:
    """Indices of the first `correct` correctly classified test digits of distinct classes, then of
    the first `mistakes` misclassified ones (fewer if the network makes fewer mistakes)."""
    right, seen = [], set()
    for i in torch.nonzero(predicted == labels).flatten().tolist():
        if int(labels[i]) not in seen and len(right) < correct:
            right.append(i)
            seen.add(int(labels[i]))
    wrong = torch.nonzero(predicted != labels).flatten()[:mistakes].tolist()
    return torch.tensor(right + wrong)


def compare_tracin(path: TrainingPath, queries: torch.Tensor, outputs: torch.Tensor, exact: torch.Tensor,
                   counts: tuple[int, ...], k: int) -> dict[str, np.ndarray]:
    """Spearman, top-k proponent overlap, sign agreement, time and sum ratio of TracIn-CP for each C."""
    rows = {key: [] for key in ("spearman", "overlap", "sign", "seconds", "ratio")}
    scores = None
    exact_np = exact.cpu().numpy()
    top_exact = [set(np.argsort(-e)[:k]) for e in exact_np]
    for count in counts:
        start = time.perf_counter()
        index, eta = checkpoint_schedule(path, count)
        scores = tracin_cp(path.model, path.params[index], eta, path.x, path.y, queries, outputs)
        s = scores.cpu().numpy()  # waits for the device: the time includes the computation
        rows["seconds"].append(time.perf_counter() - start)
        rows["spearman"].append(np.mean([spearmanr(a, b).statistic for a, b in zip(s, exact_np)]))
        rows["overlap"].append(np.mean([len(set(np.argsort(-a)[:k]) & t) / k for a, t in zip(s, top_exact)]))
        rows["sign"].append(float(np.mean(np.sign(s) == np.sign(exact_np))))
        rows["ratio"].append(float(np.mean(s.sum(1) / exact_np.sum(1))))
    return {key: np.array(value) for key, value in rows.items()} | {"tracin": scores.cpu().numpy()}


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train the recorded CNN, decompose the chosen test digits exactly, compare TracIn-CP.

    Digits split and the CNN initialized on the CPU, then both moved to `device`, where the
    loop, the decomposition and TracIn run (the mini-batch order is drawn on the CPU)."""
    device = check_device(device)
    x_train, y_train, x_test, y_test = (t.to(device) for t in digits(config.n_train, config.n_test, seed))
    model = small_cnn(config.channels, seed).to(device)
    start = time.perf_counter()
    path = train_loop(model, x_train, y_train, lr=config.lr, weight_decay=config.weight_decay,
                      epochs=config.epochs, batch_size=config.batch_size, seed=seed)
    train_seconds = time.perf_counter() - start
    with torch.no_grad():
        predicted_test = model(x_test).argmax(1)
        train_accuracy = float((model(x_train).argmax(1) == y_train).double().mean())
    chosen = choose_queries(predicted_test, y_test, config.correct, config.mistakes).to(device)
    queries = x_test[chosen]
    start = time.perf_counter()
    dec = domingos(path, queries, exact=True, per_sample=True)
    exact_seconds = time.perf_counter() - start
    top = top_examples(dec, config.k)
    rows = torch.arange(len(chosen), device=device)
    a = top.output.to(device)
    contributions = dec.per_sample[rows, :, a]
    regularization = (dec.regularization[rows, a] if dec.regularization is not None
                      else torch.zeros(len(chosen), device=device))
    total = dec.initial[rows, a] + contributions.sum(1) + regularization
    tracin = compare_tracin(path, queries, a, contributions, config.checkpoint_counts, config.k)
    return Result(
        config=config,
        train_images=x_train[:, 0].cpu().numpy(), train_labels=y_train.cpu().numpy(),
        query_images=queries[:, 0].cpu().numpy(), query_labels=y_test[chosen].cpu().numpy(), predicted=a.cpu().numpy(),
        mistake=(a != y_test[chosen]).cpu().numpy(),
        contributions=contributions.cpu().numpy(),
        proponents=top.proponents.cpu().numpy(), proponent_contributions=top.proponent_contributions.cpu().numpy(),
        opponents=top.opponents.cpu().numpy(), opponent_contributions=top.opponent_contributions.cpu().numpy(),
        initial=dec.initial[rows, a].cpu().numpy(), prediction=dec.prediction[rows, a].cpu().numpy(),
        regularization=regularization.cpu().numpy(),
        additivity_error=float((total - dec.prediction[rows, a]).abs().max()),
        residual=float(dec.residual.abs().max()),
        train_accuracy=train_accuracy, test_accuracy=float((predicted_test == y_test).double().mean()),
        steps=path.steps, parameters=path.params.shape[1],
        train_seconds=train_seconds, exact_seconds=exact_seconds,
        checkpoint_counts=np.array(config.checkpoint_counts), spearman=tracin["spearman"],
        overlap=tracin["overlap"], sign_agreement=tracin["sign"], tracin_seconds=tracin["seconds"],
        tracin_sum_ratio=tracin["ratio"], tracin=tracin["tracin"],
    )
