"""Study "the anisotropy profile" of the chapter "The linearly separable case" (notebooks/separable.md).

Where is the learned deformation of the half-plane task strongest? Courtois, Morel & Arias (§5.2)
read their Fig. 5 as a deformation "localized around the center of the space". This study
measures it over several seeds: for each seed s it draws its own training set
(`data.halfspace`, seed s) and network (seed s), trains it as `experiments.separable` does,
and scores the anisotropy A(q) (`separable.anisotropy`) of the k nearest training points of
every probe q of a square grid under the normalized tangent kernel at theta_T, at theta_0,
and in Euclidean distance. Two profiles of log A are then binned per seed (`binned_mean`):

* across the boundary: against the signed distance t = <u, q>, over all probes;
* along the boundary: against s = <v, q>, over the probes with |t| < band.

The profiles are averaged over the seeds with a 95% Student-t interval (`seed_summary`); a
bin's value is a geometric mean of A, so 1 is isotropic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data import halfspace
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.ball_sphere import box_grid
from pathkernel.experiments.separable import anisotropy, frame
from pathkernel.experiments.separable import Config as SeparableConfig
from pathkernel.experiments.statistics import mean_interval
from pathkernel.models import MLP
from pathkernel.neighbours import euclidean_neighbours, kernel_neighbours
from pathkernel.training import train
from pathkernel.validation import integer

KERNELS = ("end", "initialization", "euclidean")
#: level of the intervals over seeds
LEVEL = 0.95


def binned_mean(coordinate: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of `values` in each bin of `coordinate`.

    Bin b holds the points with edges[b] <= coordinate < edges[b+1] (the last bin also takes
    coordinate == edges[-1]); points outside [edges[0], edges[-1]] are left out.

    Args:
        coordinate, values: (p,) finite. edges: (B+1,) strictly increasing, B >= 1.

    Returns:
        (B,) float64; NaN for an empty bin.
    """
    coordinate, values, edges = (np.asarray(a, dtype=np.float64) for a in (coordinate, values, edges))
    if coordinate.ndim != 1 or coordinate.shape != values.shape:
        raise ValueError(f"coordinate {coordinate.shape} and values {values.shape} must be two (p,) arrays")
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
        raise ValueError(f"edges={edges!r} must be a strictly increasing (B+1,) array with B >= 1")
    if not (np.all(np.isfinite(coordinate)) and np.all(np.isfinite(values))):
        raise ValueError("coordinate and values must be finite")
    index = np.searchsorted(edges, coordinate, side="right") - 1
    index[coordinate == edges[-1]] = len(edges) - 2
    inside = (index >= 0) & (index < len(edges) - 1)
    counts = np.bincount(index[inside], minlength=len(edges) - 1)
    sums = np.bincount(index[inside], weights=values[inside], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def seed_summary(profiles: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds of `profiles` (S, B), S >= 2, and its two-sided Student-t interval.

    mean_b = (1/S) sum_s profiles[s, b]; half width t_{(1+level)/2, S-1} * std_b / sqrt(S)
    (std with ddof = 1; `statistics.mean_interval`). Returns (mean, low, high), each (B,).
    """
    profiles = np.asarray(profiles, dtype=np.float64)
    if profiles.ndim != 2 or profiles.shape[0] < 2:
        raise ValueError(f"profiles of shape {profiles.shape}: expected (seeds, bins) with at least 2 seeds")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1)")
    return mean_interval(profiles, level, axis=0)


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the study: the training of `experiments.separable` (same fields and values,
    read from its presets), repeated over `seeds` seeds. probe: probes per side of the grid on
    [-probe_extent, probe_extent]^2; bins: bins of each profile on [-probe_extent,
    probe_extent], odd so that one is centred on the boundary; band: |<u, q>| < band selects the
    probes of the profile along the boundary."""

    scale: str
    seeds: int
    n: int
    width: int
    lr: float
    steps: int
    k: int
    probe: int
    bins: int
    angle: float = 30.0
    probe_extent: float = 0.6
    band: float = 0.2
    depth: int = 3
    activation: str = "gelu"

    sources: ClassVar[dict[str, str]] = {
        "seeds": "ours: Courtois et al. show one run; 40 seeds (20 at quick) resolve the profile's "
                 "contrasts (measured: 10 seeds did not)",
        "n": "ours: the paper's size was lost; the same as the separable study",
        "width": "ours: the paper's width was lost; the same as the separable study",
        "lr": "ours: the paper's learning rate was lost; the same as the separable study",
        "steps": "ours: the paper's number of iterations was lost; the same as the separable study",
        "k": "ours: the paper's k was lost; the same as the separable study",
        "probe": "ours: a grid fine enough for every bin to hold tens of probes",
        "bins": "ours: odd, one bin centred on the boundary",
        "angle": "ours: the paper's direction u was lost; 30 degrees keeps the line off the square's axes",
        "probe_extent": "ours: keeps the neighbourhoods inside the square [-1, 1]^2",
        "band": "ours: the separable study's band",
        "depth": "Courtois et al. §5.1: the 3-layers neural network (used again in §5.2)",
        "activation": "Courtois et al. §5.1: the GELU function",
    }

    def __post_init__(self) -> None:
        integer("seeds", self.seeds, 2)
        integer("probe", self.probe, 2)
        if integer("bins", self.bins, 1) % 2 == 0:
            raise ValueError(f"bins={self.bins} must be odd (one bin centred on the boundary)")
        if not 0 < self.band <= self.probe_extent:
            raise ValueError(f"band={self.band} must lie in (0, probe_extent={self.probe_extent}]")

    @classmethod
    def _of(cls, base: SeparableConfig, seeds: int, probe: int, bins: int) -> "Config":
        shared = ("n", "width", "lr", "steps", "k", "angle", "probe_extent", "band", "depth", "activation")
        return cls(scale=base.scale, seeds=seeds, probe=probe, bins=bins, **{f: getattr(base, f) for f in shared})

    @classmethod
    def quick(cls) -> "Config":
        return cls._of(SeparableConfig.quick(), seeds=20, probe=25, bins=11)

    @classmethod
    def paper(cls) -> "Config":
        return cls._of(SeparableConfig.paper(), seeds=40, probe=41, bins=15)

    @property
    def edges(self) -> np.ndarray:
        """(bins + 1,) bin edges of both profiles, evenly spaced on [-probe_extent, probe_extent]."""
        return np.linspace(-self.probe_extent, self.probe_extent, self.bins + 1)


@dataclass
class Result:
    """S = seeds, B = bins, K = 3 kernels in the order of `KERNELS` (kernel at theta_T, at
    theta_0, Euclidean distance).

    seeds (S,): the seeds run; accuracy (S,): training accuracy of each network.
    edges (B+1,), centres (B,): the bins. across (K, S, B): per seed, the mean of log A over the
    probes in each bin of <u, q>; along (K, S, B): the same over the probes with |<u, q>| < band,
    binned by <v, q>. across_counts, along_counts (B,): probes per bin (the same for every seed).
    """

    config: Config
    seeds: np.ndarray
    accuracy: np.ndarray
    edges: np.ndarray
    centres: np.ndarray
    across: np.ndarray
    along: np.ndarray
    across_counts: np.ndarray
    along_counts: np.ndarray


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train `config.seeds` networks (seeds seed * seeds .. (seed + 1) * seeds - 1, data and
    initialization) and bin the anisotropy of their probes' neighbourhoods; computed on `device`."""
    device = check_device(device)
    u, v = frame(config.angle)
    _, _, probes = box_grid(config.probe_extent, config.probe)
    offset, position = (probes @ u).numpy(), (probes @ v).numpy()
    near = np.abs(offset) < config.band
    edges = config.edges
    probes, u_device = probes.to(device), u.to(device)
    seeds = np.arange(seed * config.seeds, (seed + 1) * config.seeds)
    across = np.empty((len(KERNELS), len(seeds), config.bins))
    along = np.empty_like(across)
    accuracy = np.empty(len(seeds))
    for j, s in enumerate(seeds):
        x, y = (t.to(device) for t in halfspace(config.n, direction=u, seed=int(s)))
        model = MLP(2, config.width, config.depth, activation=config.activation, seed=int(s),
                    dtype=torch.float64).to(device)
        path = train(model, x, y, lr=config.lr, steps=config.steps)
        with torch.no_grad():
            accuracy[j] = (torch.sign(model(x)[:, 0]) == y).double().mean().item()
        sets = (kernel_neighbours(model, probes, x, config.k),
                kernel_neighbours(model, probes, x, config.k, params=path.params[0].to(device)),
                euclidean_neighbours(probes, x, config.k).to(device))
        for i, neighbours in enumerate(sets):
            log_a = anisotropy(probes, x, neighbours, u_device).log().cpu().numpy()
            across[i, j] = binned_mean(offset, log_a, edges)
            along[i, j] = binned_mean(position[near], log_a[near], edges)
    return Result(config=config, seeds=seeds, accuracy=accuracy, edges=edges, centres=(edges[:-1] + edges[1:]) / 2,
                  across=across, along=along,
                  across_counts=np.histogram(offset, edges)[0],
                  along_counts=np.histogram(position[near], edges)[0])


def _interval(per_seed: np.ndarray) -> str:
    """exp of the mean over seeds of per-seed log values (S,) and its `LEVEL` interval, as text."""
    mean, low, high = (float(np.exp(a[0])) for a in seed_summary(per_seed[:, None]))
    return f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def flanks(result: Result) -> tuple[np.ndarray, np.ndarray]:
    """(B,) bool masks of the bins beside the boundary, band <= |centre| <= 2 band, on the side of u
    (centre > 0) and on the other; ValueError when the bins leave a side without one."""
    band = result.config.band
    plus = (result.centres >= band) & (result.centres <= 2 * band)
    minus = (-result.centres >= band) & (-result.centres <= 2 * band)
    if not (plus.any() and minus.any()):
        raise ValueError(f"bins={result.config.bins}: no bin centre lies between band={band:g} and 2 band "
                         f"on both sides of the boundary")
    return plus, minus


def numbers(result: Result) -> dict[str, str]:
    """The profile's numbers, by glue name; a value "a [l, h]" is a geometric mean of A over the
    seeds with its `LEVEL` interval (paired ratios: of two per-seed values, seed by seed).

    Across the boundary (kernel at theta_T): the bin centred on the boundary, the flanks (`flanks`,
    their bin centres), the two outermost bins; the paired ratios flanks / boundary, boundary /
    outermost and flank on the side of u / flank on the other; per seed, its largest bin (its value
    and where it lies: distances, side, how many seeds have it on the boundary). Along the boundary:
    the range of the mean profile, the paired ratio centre bin / the two end bins, and the same ratio
    for the Euclidean neighbourhoods. The reference kernels (theta_0, Euclidean): the range of their
    mean profiles."""
    c = result.config
    end, centre = result.across[0], c.bins // 2
    plus, minus = flanks(result)
    side_plus, side_minus = end[:, plus].mean(axis=1), end[:, minus].mean(axis=1)
    flank = (side_plus + side_minus) / 2
    peak = np.argmax(end, axis=1)
    distances = np.abs(result.centres[peak])
    outer = end[:, [0, -1]].mean(axis=1)
    along, euclid = result.along[0], result.along[2]
    along_mean = np.exp(along.mean(axis=0))
    references = np.exp(np.concatenate([result.across[1:].mean(axis=1), result.along[1:].mean(axis=1)]))
    return {
        "separable-profile-seeds": f"{len(result.seeds)}",
        "separable-profile-level": f"{LEVEL:.0%}",
        "separable-profile-accuracy-min": f"{result.accuracy.min():.1%}",
        "separable-profile-accuracy-max": f"{result.accuracy.max():.1%}",
        "separable-profile-bin": f"{result.edges[1] - result.edges[0]:.2f}",
        "separable-profile-boundary": _interval(end[:, centre]),
        "separable-profile-flank": _interval(flank),
        "separable-profile-flank-from": f"{result.centres[plus].min():.2f}",
        "separable-profile-flank-to": f"{result.centres[plus].max():.2f}",
        "separable-profile-flank-over-boundary": _interval(flank - end[:, centre]),
        "separable-profile-plus-over-minus": _interval(side_plus - side_minus),
        "separable-profile-outer": _interval(outer),
        "separable-profile-outer-at": f"{result.centres[-1]:.2f}",
        "separable-profile-boundary-over-outer": _interval(end[:, centre] - outer),
        "separable-profile-seed-peak": _interval(end.max(axis=1)),
        "separable-profile-peak-distance-min": f"{distances.min():.2f}",
        "separable-profile-peak-distance-max": f"{distances.max():.2f}",
        "separable-profile-peak-on-boundary": f"{int(np.sum(peak == centre))}",
        "separable-profile-peak-plus": f"{int(np.sum(peak > centre))}",
        "separable-profile-peak-minus": f"{int(np.sum(peak < centre))}",
        "separable-profile-along-min": f"{along_mean.min():.2f}",
        "separable-profile-along-max": f"{along_mean.max():.2f}",
        "separable-profile-centre-over-ends": _interval(along[:, centre] - along[:, [0, -1]].mean(axis=1)),
        "separable-profile-centre-over-ends-euclid": _interval(euclid[:, centre] - euclid[:, [0, -1]].mean(axis=1)),
        "separable-profile-reference-min": f"{references.min():.2f}",
        "separable-profile-reference-max": f"{references.max():.2f}",
    }
