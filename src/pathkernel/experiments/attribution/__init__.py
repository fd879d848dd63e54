"""Chapter "Which training examples made this prediction?" (notebooks/attribution.md): exact attribution against TracIn.

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

One study (`Config`, `run`, `numbers`); its parts live in modules of their own and are
re-exported here: `loop` (the digits, the CNN, the recorded loop), `tracin` (TracIn-CP and its
comparison) and `benchmark` (the committed results of ``python -m benchmarks.attribution``,
which the chapter tables).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from pathkernel.attribution import top_examples
from pathkernel.decomposition import domingos
from pathkernel.determinism import fixed_threads
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.attribution.benchmark import benchmark_file, benchmark_numbers, load_benchmark, scale_rows
from pathkernel.experiments.attribution.loop import CLASSES, digits, loop_source, small_cnn, train_loop
from pathkernel.experiments.attribution.tracin import checkpoint_schedule, compare_tracin, tracin_cp

__all__ = ["CLASSES", "Config", "Result", "benchmark_file", "benchmark_numbers", "checkpoint_schedule",
           "choose_queries", "compare_tracin", "digits", "flip_mass", "load_benchmark", "loop_source", "numbers",
           "proponent_classes", "run", "scale_rows", "small_cnn", "tracin_cp", "train_loop"]


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
    sources: ClassVar[dict[str, str]] = {  # the papers have no attribution experiment: every value is ours
        "n_train": "ours: the papers train no attribution model; 1347 of the 1797 digits is scikit-learn's "
                   "default split (75% for training)",
        "n_test": "ours: the other 25% of scikit-learn's default split",
        "epochs": "ours: enough passes for a visible fit while the exact decomposition of every step stays "
                  "within minutes on one core",
        "checkpoint_counts": "ours: from one TracIn checkpoint up to nearly one per step, to see whether "
                             "TracIn approaches the exact contributions as C grows",
        "channels": "ours: a small CNN, so that the exact decomposition runs on one core",
        "batch_size": "ours: a usual mini-batch size for a shuffled DataLoader",
        "lr": "ours: Adam's usual 1e-3 raised tenfold so that few epochs suffice",
        "weight_decay": "ours: nonzero, so that weight decay's term r(x) appears in the closing sum",
        "correct": "ours: correctly classified test digits of distinct classes, one figure row each",
        "mistakes": "ours: misclassified test digits, to trace an error to the training digits behind it",
        "k": "ours: proponents and opponents shown per row; also the k of the top-k overlap",
    }

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


def proponent_classes(result: Result) -> tuple[np.ndarray, np.ndarray]:
    """(same, other), each (m,): per explained digit, the fraction of its top-k proponents that are
    training digits of the predicted class, and of its top-k opponents that are of another class."""
    predicted = result.predicted[:, None]
    same = (result.train_labels[result.proponents] == predicted).mean(1)
    other = (result.train_labels[result.opponents] != predicted).mean(1)
    return same, other


def flip_mass(result: Result) -> float:
    """Share of the total |exact contribution| carried by the training digits to which TracIn-CP
    (most checkpoints) gives the opposite sign, over all explained digits."""
    flipped = np.sign(result.tracin) != np.sign(result.contributions)
    return float(np.abs(result.contributions)[flipped].sum() / np.abs(result.contributions).sum())


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: the scale and sizes (read from the config), accuracies and timings, the closing
    check, the classes of the proponents and opponents, TracIn's agreement (one checkpoint, the
    best count, the most), and the committed benchmark's (`benchmark.benchmark_numbers`; raises
    FileNotFoundError outside a checkout of the repository, see `benchmark.benchmark_file`)."""
    c = result.config
    best = int(np.argmax(result.spearman))
    same, other = proponent_classes(result)
    return {
        "attribution-scale": c.scale,
        "attribution-steps": f"{result.steps}",
        "attribution-parameters": f"{result.parameters:,}",
        "attribution-train-accuracy": f"{result.train_accuracy:.0%}",
        "attribution-test-accuracy": f"{result.test_accuracy:.0%}",
        "attribution-train-seconds": f"{result.train_seconds:.1f}",
        "attribution-exact-seconds": f"{result.exact_seconds:.1f}",
        "attribution-additivity": f"{result.additivity_error:.0e}",
        "attribution-residual": f"{result.residual:.0e}",
        "attribution-n": f"{c.n_train}",
        "attribution-epochs": f"{c.epochs}",
        "attribution-batch": f"{c.batch_size}",
        "attribution-k": f"{c.k}",
        "attribution-spearman-1": f"{result.spearman[0]:.2f}",
        "attribution-spearman-best": f"{result.spearman[best]:.2f}",
        "attribution-best-count": f"{result.checkpoint_counts[best]}",
        "attribution-overlap-best": f"{result.overlap[best]:.0%}",
        "attribution-sign-last": f"{1 - result.sign_agreement[-1]:.0%}",
        "attribution-ratio-last": f"{result.tracin_sum_ratio[-1]:.2f}",
        "attribution-tracin-seconds": f"{result.tracin_seconds[-1]:.1f}",
        "attribution-last-count": f"{result.checkpoint_counts[-1]}",
        "attribution-flip-mass": f"{flip_mass(result):.0%}",
        "attribution-pro-same-correct": f"{same[~result.mistake].mean():.0%}",
        "attribution-opp-other-correct": f"{other[~result.mistake].mean():.0%}",
        "attribution-pro-same-mistake": f"{same[result.mistake].mean():.0%}",
        **benchmark_numbers(load_benchmark()),
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train the recorded CNN, decompose the chosen test digits exactly, compare TracIn-CP.

    Digits split and the CNN initialized on the CPU, then both moved to `device`, where the
    loop, the decomposition and TracIn run (the mini-batch order is drawn on the CPU)."""
    device = check_device(device)
    x_train, y_train, x_test, y_test = (t.to(device) for t in digits(config.n_train, config.n_test, seed))
    model = small_cnn(config.channels, seed).to(device)
    start = time.perf_counter()
    with fixed_threads():  # the trained CNN does not depend on the caller's thread count
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
