"""Figure helpers: one style, no computation (they draw experiment results)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

PALETTE = sns.color_palette("colorblind")


def style() -> None:
    """The book's plotting style (seaborn whitegrid, colorblind palette)."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook")


def _machine_epsilon(ax: Axes, **line) -> None:
    """A dotted horizontal line at float64's machine epsilon, the floor of the exact forms."""
    ax.axhline(np.finfo(np.float64).eps, color="0.5", ls=":", lw=1, **line)


def _ticks_at(axis: Axis, values: Sequence[float]) -> None:
    """Label a log axis at the sampled values (``:g``) only: no minor labels in between."""
    axis.set_minor_formatter(NullFormatter())
    axis.set_ticks(values, labels=[f"{v:g}" for v in values])


def residual_vs_lr(result) -> Figure:
    """Log-log |residual| of Theorem 2 and of the exact form against the learning rate.

    `result` is a `pathkernel.experiments.discrete_theorem.Result`.
    """
    style()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    lrs = result.lrs
    ax.loglog(lrs, result.residual, "o", color=PALETTE[0], label="Theorem 2 (tangent kernel at $w_k$)")
    fitted = lrs <= result.config.fit_max_lr
    grid = np.geomspace(lrs[fitted].min(), lrs[fitted].max(), 20)
    ax.loglog(grid, np.exp(result.intercept) * grid**result.slope, "-", color=PALETTE[0], alpha=0.7,
              label=f"fit on lr $\\leq$ {result.config.fit_max_lr:g}: slope {result.slope:.2f}")
    ax.loglog(lrs, np.maximum(result.residual_exact, 1e-17), "s", color=PALETTE[2],
              label="exact (segment-averaged kernel)")
    _machine_epsilon(ax, label="float64 machine epsilon")
    ax.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |residual|")
    _ticks_at(ax.xaxis, lrs)
    ax.legend(fontsize="small", loc="center", framealpha=0.9)
    return fig


# --- Chapter "The question" (experiments.planar_fill) --------------------------


def _fill_errors_rgb(filled: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB image of a fill: inside grey, outside white, wrongly inside / outside in colour."""
    rgb = np.ones(filled.shape + (3,))
    rgb[filled & truth] = 0.45
    rgb[filled & ~truth] = PALETTE[3]
    rgb[~filled & truth] = PALETTE[0]
    return rgb


def _image_panel(ax, image: np.ndarray, title: str) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1.6, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.6")


def _error_legend(fig: Figure) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color="0.45", label="inside, right"), Patch(color=PALETTE[3], label="wrongly inside"),
               Patch(color=PALETTE[0], label="wrongly outside")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize="small", frameon=False)


def question_fill(result) -> Figure:
    """A random shape's boundary, its flood fill and its parity fill with the wrong pixels.

    `result` is a `pathkernel.experiments.planar_fill.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 4, figsize=(11.0, 3.9), layout="constrained")
    wrong = int((result.parity != result.shape).sum())
    flood_wrong = int((result.flood != result.shape).sum())
    _image_panel(axes[0], _fill_errors_rgb(result.shape, result.shape), "shape\n(the target)")
    _image_panel(axes[1], result.edge, "boundary\n(the input)")
    _image_panel(axes[2], _fill_errors_rgb(result.flood, result.shape), f"flood fill\n{flood_wrong} wrong pixels")
    _image_panel(axes[3], _fill_errors_rgb(result.parity, result.shape), f"parity scan, Eq. (10)\n{wrong} wrong pixels")
    _error_legend(fig)
    return fig


def question_thin(result) -> Figure:
    """Two thin outlines and their parity fills: right on a diamond, wrong on a rectangle
    of odd width (its top and bottom rows are tangent runs).

    `result` is a `pathkernel.experiments.planar_fill.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 4, figsize=(11.0, 3.9), layout="constrained")
    for k, name in enumerate(("diamond", "rectangle")):
        edge, truth, parity = (getattr(result, f"{name}_{part}") for part in ("edge", "shape", "parity"))
        wrong = int((parity != truth).sum())
        _image_panel(axes[2 * k], edge, f"thin {name} outline\n(the input)")
        _image_panel(axes[2 * k + 1], _fill_errors_rgb(parity, truth), f"parity scan\n{wrong} wrong pixels")
    _error_legend(fig)
    return fig


# --- Chapter "Neural networks and kernel machines" (experiments.kernel_machines) ---


def kernelmachines_features(result) -> Figure:
    """Random Fourier features: Gram entries against the RBF kernel for three D, and the
    root-mean-square error against D with its fitted slope.

    `result` is a `pathkernel.experiments.kernel_machines.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2), layout="constrained")
    for k, count in enumerate(result.rff_shown):
        left.plot(result.rff_kernel, result.rff_gram[k], ".", ms=2, alpha=0.5, color=PALETTE[k],
                  label=f"D = {count:,}", rasterized=True)
    left.plot([0, 1], [0, 1], "-", color="0.3", lw=1)
    left.set_xlabel("RBF kernel $K(x, x')$")
    left.set_ylabel(r"$\langle z(x), z(x') \rangle$ (random Fourier features)")
    left.legend(fontsize="small", loc="upper left", markerscale=5)
    counts = np.asarray(result.config.feature_counts)
    mean = result.rff_error.mean(1)
    right.loglog(counts, result.rff_error, ".", color=PALETTE[0], alpha=0.3)
    right.loglog(counts, mean, "o", color=PALETTE[0], label=f"mean of {result.rff_error.shape[1]} draws")
    fit = np.exp(result.rff_intercept) * counts**result.rff_slope
    right.loglog(counts, fit, "-", color=PALETTE[1], label=f"fit: slope {result.rff_slope:.2f}")
    right.set_xlabel("number of features D")
    right.set_ylabel("RMS error of the Gram matrix")
    right.xaxis.set_minor_formatter(NullFormatter())
    right.legend(fontsize="small", loc="upper right")
    return fig


def kernelmachines_svm(result) -> Figure:
    """The RBF SVM's decision function (rebuilt by hand) on the ball/sphere task, its
    margins and support vectors.

    `result` is a `pathkernel.experiments.kernel_machines.Result`.
    """
    style()
    fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
    gx, gy = result.grid_x[..., 0], result.grid_x[..., 1]
    bound = np.ceil(np.abs(result.decision).max())
    mesh = ax.contourf(gx, gy, result.decision, levels=np.linspace(-bound, bound, 21), cmap="RdBu_r", alpha=0.75)
    ax.contour(gx, gy, result.decision, levels=[-1, 0, 1], colors="k", linestyles=["--", "-", "--"], linewidths=1)
    for label, color, marker, name in [(-1, PALETTE[0], "o", "ball ($y = -1$)"), (1, PALETTE[3], "^", "sphere ($y = +1$)")]:
        mine = result.y == label
        ax.scatter(*result.x[mine].T, s=22, color=color, marker=marker, edgecolor="k", linewidth=0.5, label=name, zorder=3)
    ax.scatter(*result.x[result.support].T, s=110, facecolor="none", edgecolor="k", linewidth=1.1,
               label=f"support vectors ({len(result.support)})", zorder=4)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label=r"decision function $\sum_i a_i K(x, x_i) + b$", ticks=np.arange(-bound, bound + 1))
    fig.legend(loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    return fig


# --- Chapter "Linear regression, the exact case" (experiments.linear_regression) ---


def linear_residual(result) -> Figure:
    """Max |remainder| of Theorem 2 against lr at a fixed time: linear model vs GELU MLP.

    `result` is a `pathkernel.experiments.linear_regression.Result`.
    """
    style()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    lrs = result.lrs
    ax.loglog(lrs, result.residual_mlp, "o-", color=PALETTE[0],
              label=f"GELU MLP, depth {result.config.depth} (slope {result.mlp_slope:.2f} on lr $\\leq$ {result.config.fit_max_lr:g})")
    ax.loglog(lrs, np.maximum(result.residual_linear, 1e-17), "s-", color=PALETTE[2], label="linear model")
    _machine_epsilon(ax, label="float64 machine epsilon")
    ax.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |remainder $R$|")
    _ticks_at(ax.xaxis, lrs)
    ax.set_ylim(1e-17, max(10.0, 5 * result.residual_mlp.max()))
    ax.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


def linear_kernels(result) -> Figure:
    """Four identities of the linear model, each entry against its closed form: tangent
    kernel, normalized tangent kernel (cosine), path kernel, and the kernel machine.

    `result` is a `pathkernel.experiments.linear_regression.Result`.
    """
    style()
    fig, axes = plt.subplots(2, 2, figsize=(8.6, 7.6), layout="constrained")
    panels = [
        (result.linear_kernel, result.ntk, r"$\langle x, x' \rangle + 1$", "tangent kernel $K(x, x')$"),
        (result.cosine, result.ntk_normalized, "cosine similarity of $(x, 1)$, $(x', 1)$ (scikit-learn)",
         r"normalized tangent kernel $\hat K(x, x')$"),
        (result.path_kernel_closed, result.path_kernel, r"$(\sum_k \eta_k)\,(\langle x, x' \rangle + 1)$",
         r"path kernel $K^{\mathrm{path}}(x, x')$"),
        (result.kernel_machine, result.prediction, r"kernel machine $f(w_0, x) - \sum_i a_i K^{\mathrm{path}}(x, x_i)$",
         "trained model $f(w_T, x)$"),
    ]
    for ax, (closed, measured, xlabel, ylabel) in zip(axes.flat, panels):
        closed, measured = closed.ravel(), measured.ravel()
        ax.plot(closed, measured, ".", ms=3, alpha=0.5, color=PALETTE[0], rasterized=True)
        lims = [min(closed.min(), measured.min()), max(closed.max(), measured.max())]
        ax.plot(lims, lims, "-", color="0.3", lw=0.8)
        ax.set_xlabel(xlabel, fontsize="small")
        ax.set_ylabel(ylabel, fontsize="small")
        relative = np.abs(measured - closed).max() / np.abs(closed).max()
        ax.text(0.04, 0.95, f"max |difference| / max |value| = {relative:.1e}", transform=ax.transAxes,
                va="top", fontsize="small", bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})
    return fig


def gradient_flow_convergence(result) -> Figure:
    """Gradient descent against the gradient flow at a fixed time: distance over time and log-log in lr.

    `result` is a `pathkernel.experiments.gradient_flow.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2), layout="constrained")
    for k, lr in enumerate(result.lrs):
        left.semilogy(result.times[1:], result.gap_over_time[k, 1:], color=PALETTE[k % len(PALETTE)],
                      label=f"lr = {lr:g}")
    left.set_xlabel("time $t = k \\times$ lr")
    left.set_ylabel("max$_x$ |f(w$_k$, x) $-$ f(w(t), x)|")
    left.set_title("(a) gradient descent against the flow", loc="left", fontsize="medium")
    left.legend(fontsize="small", loc="lower right")
    lrs = result.lrs
    right.loglog(lrs, result.gap, "o", color=PALETTE[0], label="gradient descent vs flow at time $t$")
    grid = np.geomspace(lrs.min(), lrs.max(), 20)
    right.loglog(grid, np.exp(result.intercept) * grid**result.slope, "-", color=PALETTE[0], alpha=0.7,
                 label=f"fit: slope {result.slope:.2f}")
    right.axhline(result.flow_residual, color=PALETTE[2], ls="--",
                  label="Theorem 1 on the flow:\n|f(w(t), x) $-$ f(w(0), x) $-$ kernel part|")
    right.set_xlabel(f"learning rate lr (time t = {result.config.time:g} fixed)")
    right.set_ylabel("max$_x$ |difference|")
    _ticks_at(right.xaxis, lrs)
    right.set_title("(b) at the final time $t$", loc="left", fontsize="medium")
    right.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


def gradient_flow_contributions(result) -> Figure:
    """Theorem 1 per query point: path kernel, weights a_i and contributions of every training point.

    One column per query point (the star). Rows 1-3 draw the training points in the plane
    (circles: ball, label -1; squares: sphere, label +1) coloured by K^path(x, x_i), a_i(x) and
    the contribution -a_i(x) K^path(x, x_i), each panel on its own colour scale (diverging around
    0 for a_i and the contributions); row 4 shows the contributions as bars, ball points then
    sphere points, each class in angular order. `result` is a
    `pathkernel.experiments.gradient_flow.Result`.
    """
    style()
    rows = [("path kernel $K^{path}(x, x_i)$", result.path_kernel, "mako", False),
            ("weight $a_i(x)$", result.weights, "vlag", True),
            ("contribution $-a_i K^{path}$", result.per_sample, "vlag", True)]
    m = result.queries.shape[0]
    fig, axes = plt.subplots(4, m, figsize=(3.9 * m, 13.0), layout="constrained", squeeze=False,
                             gridspec_kw={"height_ratios": [1, 1, 1, 0.8]})
    sphere = result.y > 0
    order = np.lexsort((np.arctan2(result.x[:, 1], result.x[:, 0]), sphere))
    for j in range(m):
        for r, (label, values, cmap, centred) in enumerate(rows):
            ax = axes[r, j]
            top = np.abs(values[j]).max()
            limits = dict(vmin=-top, vmax=top) if centred else dict(vmin=values[j].min(), vmax=top)
            for mask, marker in ((~sphere, "o"), (sphere, "s")):
                points = ax.scatter(result.x[mask, 0], result.x[mask, 1], c=values[j, mask], cmap=cmap, s=26,
                                    marker=marker, edgecolors="0.3", linewidths=0.4, **limits)
            ax.plot(*result.queries[j], "*", color="gold", markersize=16, markeredgecolor="black")
            ax.set(aspect="equal", xlim=(-1.6, 1.6), ylim=(-1.6, 1.6))
            ax.tick_params(labelsize="x-small")
            fig.colorbar(points, ax=ax, shrink=0.8).ax.tick_params(labelsize="x-small")
            if j == 0:
                ax.set_ylabel(label)
        change = result.prediction[j] - result.initial[j]
        axes[0, j].set_title(f"query x = ({result.queries[j, 0]:g}, {result.queries[j, 1]:g})\n"
                             f"f(w$_T$, x) $-$ f(w$_0$, x) = {change:+.3f}", fontsize="medium")
        bars = axes[3, j]
        colours = np.where(sphere[order], 1, 0)
        bars.bar(np.arange(len(order)), result.per_sample[j, order], width=1.0,
                 color=[PALETTE[c] for c in colours])
        ball_sum, sphere_sum = result.per_sample[j, ~sphere].sum(), result.per_sample[j, sphere].sum()
        bars.text(0.02, 0.97, f"ball: {ball_sum:+.3f}\nsphere: {sphere_sum:+.3f}\nsum: {ball_sum + sphere_sum:+.3f}",
                  transform=bars.transAxes, va="top", fontsize="x-small",
                  bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})
        bars.axvline((~sphere).sum() - 0.5, color="0.4", lw=0.8, ls=":")
        bars.set_xlabel("training point (ball | sphere)", fontsize="small")
        bars.set_xticks([])
        bars.tick_params(labelsize="x-small")
        if j == 0:
            bars.set_ylabel("contribution")
    return fig


def vector_outputs(result) -> Figure:
    """Theorem 3 on a 3-class problem: decision regions, and the remainder of every output against lr.

    The markers of the c outputs are dodged horizontally (by a factor 1.06 per output) so that
    equal values stay visible. `result` is a `pathkernel.experiments.vector_outputs.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.6), layout="constrained",
                                      gridspec_kw={"width_ratios": [1, 1.35]})
    classes = result.residual.shape[1]
    colours = [PALETTE[a] for a in range(classes)]
    markers = ["o", "^", "D", "v", "P"]
    left.contourf(result.grid_x, result.grid_y, result.grid_class, levels=np.arange(classes + 1) - 0.5,
                  colors=colours, alpha=0.25)
    for a in range(classes):
        mask = result.y == a
        left.scatter(result.x[mask, 0], result.x[mask, 1], s=20, color=colours[a], marker=markers[a % 5],
                     edgecolors="0.2", linewidths=0.4, label=f"class {a}")
    left.set(aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    left.set_title(f"(a) data, argmax regions (lr = {result.lrs[-1]:g})\n"
                   f"training accuracy {result.train_accuracy[-1]:.0%}", loc="left", fontsize="medium")
    left.legend(fontsize="small", loc="upper right", framealpha=0.9)
    lrs = result.lrs
    grid = np.geomspace(lrs.min(), lrs.max(), 20)
    dodge = [lrs * 1.06 ** (a - (classes - 1) / 2) for a in range(classes)]
    for a in range(classes):
        right.loglog(dodge[a], result.residual[:, a], markers[a % 5], color=colours[a], alpha=0.85,
                     label=f"output {a}, Theorem 3: slope {result.slopes[a]:.2f}")
        right.loglog(grid, np.exp(result.intercepts[a]) * grid**result.slopes[a], "-", color=colours[a], alpha=0.6)
    for a in range(classes):
        right.loglog(dodge[a], np.maximum(result.residual_exact[:, a], 1e-17), markers[a % 5], color=colours[a],
                     mfc="white", label=f"output {a}, exact form")
    _machine_epsilon(right, label="float64 machine epsilon")
    right.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    right.set_ylabel("max$_x$ |R$_a$| (output a)")
    _ticks_at(right.xaxis, lrs)
    right.set_title("(b) remainder of each output\n(filled: Theorem 3, hollow: exact form)", loc="left",
                    fontsize="medium")
    right.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


def last_layer_svm(result) -> Figure:
    """Network against a linear SVM on its tangent features, in four training scenarios.

    One column per scenario. Top row: the network's sign regions; bottom row: the SVM's
    (fitted on the tangent-kernel Gram matrix). Training points coloured by the scenario's labels (flipped labels with a
    black edge); points the classifier gets wrong are crossed. `result` is a
    `pathkernel.experiments.last_layer.Result`.
    """
    style()
    m = len(result.scenarios)
    fig, axes = plt.subplots(2, m, figsize=(3.6 * m, 6.6), layout="constrained", squeeze=False, sharex=True,
                             sharey=True)
    colours = {-1: PALETTE[0], 1: PALETTE[1]}
    for j, name in enumerate(result.scenarios):
        labels = result.labels[j]
        for r, (values, signs, who, accuracy) in enumerate(
                ((result.grid_network[j], result.network_sign[j], "network", result.network_accuracy[j]),
                 (result.grid_svm[j], result.svm_sign[j], "SVM on tangent features", result.svm_accuracy[j]))):
            ax = axes[r, j]
            ax.contourf(result.grid_x, result.grid_y, np.sign(values), levels=[-2, 0, 2],
                        colors=[colours[-1], colours[1]], alpha=0.2)
            ax.contour(result.grid_x, result.grid_y, values, levels=[0], colors="0.2", linewidths=1)
            for label in (-1, 1):
                mask = labels == label
                edges = np.where(result.flipped[mask] & (j >= 2), "black", "0.3")
                ax.scatter(result.x[mask, 0], result.x[mask, 1], s=16, color=colours[label], edgecolors=edges,
                           linewidths=np.where(result.flipped[mask] & (j >= 2), 1.2, 0.3))
            wrong = signs != labels
            ax.scatter(result.x[wrong, 0], result.x[wrong, 1], marker="x", s=40, color="crimson", linewidths=1.3)
            ax.set_aspect("equal")
            ax.tick_params(labelsize="x-small")
            if r == 0:
                text = f"{name.upper()}\n{who}: training accuracy {accuracy:.0%}"
            else:
                text = (f"tangent-feature SVM: training accuracy {accuracy:.0%}\n"
                        f"same sign as the network on {result.agreement[j]:.0%} of the box")
            ax.set_title(text, fontsize="small")
    return fig


# --- Chapters "Ball versus sphere" and "The linearly separable case" (experiments.ball_sphere, separable) ---

CLASS_COLOURS = {-1: PALETTE[0], 1: PALETTE[1]}


def _regions(ax, result_x, result_y, values, *, line_colour="0.2", shade=True) -> None:
    """Sign regions of `values` (grid, grid) on the axes gx, gy and their zero level line."""
    if shade:
        ax.contourf(result_x, result_y, np.sign(values), levels=[-2, 0, 2],
                    colors=[CLASS_COLOURS[-1], CLASS_COLOURS[1]], alpha=0.18)
    ax.contour(result_x, result_y, values, levels=[0], colors=line_colour, linewidths=1.4)


def _points(ax, x: np.ndarray, y: np.ndarray, *, size: float = 10, alpha: float = 1.0) -> None:
    for label, name in ((-1, "class -1"), (1, "class +1")):
        mask = y == label
        ax.scatter(x[mask, 0], x[mask, 1], s=size, color=CLASS_COLOURS[label], edgecolors="0.3", linewidths=0.2,
                   alpha=alpha, label=name)


def _square(ax, extent: float) -> None:
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.tick_params(labelsize="x-small")


def _circles(ax, r2: float) -> None:
    t = np.linspace(0, 2 * np.pi, 200)
    for r in (np.sqrt(r2), 1.0):
        ax.plot(r * np.cos(t), r * np.sin(t), ls=":", color="0.35", lw=0.9)


def ballsphere_decision(result) -> Figure:
    """The ball/sphere data, the trained network's sign regions and its boundary radius per direction.

    `result` is a `pathkernel.experiments.ball_sphere.Result`.
    """
    style()
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(10.0, 4.4), layout="constrained", width_ratios=(1, 1.25))
    _regions(ax, result.grid_x, result.grid_y, result.grid_network)
    _points(ax, result.x, result.y)
    _circles(ax, result.config.r2)
    _square(ax, result.config.extent)
    ax.set_title(f"network after {result.config.steps} steps: training accuracy {result.accuracy:.0%}",
                 fontsize="small")
    ax.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
    degrees = np.degrees(result.angles)
    ax_r.plot(degrees, result.radius, color="0.2", lw=1.4, label="decision boundary of the network")
    ax_r.axhline(1.0, color=CLASS_COLOURS[1], lw=2, label="sphere (class +1), radius 1")
    ax_r.axhline(np.sqrt(result.config.r2), color=CLASS_COLOURS[-1], lw=2,
                 label=f"edge of the ball (class -1), radius {np.sqrt(result.config.r2):.3f}")
    ax_r.axhline((1 + np.sqrt(result.config.r2)) / 2, color="0.5", ls="--", lw=1, label="midway")
    ax_r.set_xlabel("direction (degrees)")
    ax_r.set_ylabel("radius of the boundary")
    ax_r.set_xlim(0, 360)
    ax_r.set_xticks(range(0, 361, 90))
    ax_r.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
    return fig


def _neighbour_panel(ax, x, y, query, neighbours, *, by_label: bool) -> None:
    """Training points in light grey, the neighbours of `query` highlighted, the query as a star."""
    ax.scatter(x[:, 0], x[:, 1], s=5, color="0.82", linewidths=0)
    chosen = x[neighbours]
    if by_label:
        labels = y[neighbours]
        for label in (-1, 1):
            ax.scatter(chosen[labels == label, 0], chosen[labels == label, 1], s=12, color=CLASS_COLOURS[label],
                       edgecolors="0.2", linewidths=0.3)
    else:
        ax.scatter(chosen[:, 0], chosen[:, 1], s=12, color=PALETTE[2], edgecolors="0.2", linewidths=0.3)
    ax.scatter([query[0]], [query[1]], marker="*", s=170, color="crimson", edgecolors="white", linewidths=0.8,
               zorder=5)


def ballsphere_neighbours(result) -> Figure:
    """The k nearest training points of queries t u under the normalized tangent kernel at theta_T
    (top) and in Euclidean distance (bottom), with the Jaccard index of the two sets.

    `result` is a `pathkernel.experiments.ball_sphere.Result`.
    """
    style()
    m = len(result.queries)
    fig, axes = plt.subplots(2, m, figsize=(2.7 * m, 5.9), layout="constrained", sharex=True, sharey=True)
    for j, t in enumerate(result.config.ts):
        for r, (near, who) in enumerate(((result.kernel_neighbours[j], "normalized NTK"),
                                         (result.euclidean_neighbours[j], "Euclidean"))):
            ax = axes[r, j]
            _neighbour_panel(ax, result.x, result.y, result.queries[j], near, by_label=True)
            _circles(ax, result.config.r2)
            _square(ax, 1.5)
            title = f"t = {t:g}\n{who}" if r == 0 else f"{who}\nJaccard {result.jaccard[j]:.2f}"
            ax.set_title(title, fontsize="small")
    fig.suptitle(f"the {result.config.k} nearest training points of x = t u (star)", fontsize="medium")
    return fig


def ballsphere_svm(result) -> Figure:
    """The network's sign regions beside those of a linear SVM on its tangent features, and both boundaries.

    `result` is a `pathkernel.experiments.ball_sphere.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 4.3), layout="constrained", sharex=True, sharey=True)
    panels = ((result.grid_network, f"network: training accuracy {result.accuracy:.0%}"),
              (result.grid_svm, f"SVM on tangent features: training accuracy {result.svm_accuracy:.0%}"))
    for ax, (values, title) in zip(axes, panels):
        _regions(ax, result.grid_x, result.grid_y, values)
        _points(ax, result.x, result.y, size=8)
        ax.set_title(title, fontsize="small")
    ax = axes[2]
    _regions(ax, result.grid_x, result.grid_y, result.grid_network, shade=False)
    _regions(ax, result.grid_x, result.grid_y, result.grid_svm, line_colour="crimson", shade=False)
    _points(ax, result.x, result.y, size=6, alpha=0.5)
    ax.set_title(f"boundaries: network (black), SVM (red)\nsame sign on {result.agreement:.0%} of the box",
                 fontsize="small")
    for ax in axes:
        _square(ax, result.config.extent)
    return fig


def ballsphere_residual(result) -> Figure:
    """max_x |residual| of Domingos' Theorem 2 and of the exact form against lr, width and steps (log axes).

    `result` is a `pathkernel.experiments.ball_sphere.Result`.
    """
    style()
    c = result.config
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 4.0), layout="constrained", sharey=True)
    sweeps = (("learning rate lr", c.sweep_lrs, result.residual_lr, result.residual_lr_exact, c.base_lr),
              ("width", c.sweep_widths, result.residual_width, result.residual_width_exact, c.base_width),
              ("number of steps T", c.sweep_steps, result.residual_steps, result.residual_steps_exact, c.base_steps))
    floor = 1e-17
    for ax, (name, values, plain, exact, base) in zip(axes, sweeps):
        values = np.asarray(values, dtype=float)
        ax.loglog(values, plain, "o-", color=PALETTE[0], label="Theorem 2 (tangent kernel at $w_k$)")
        ax.loglog(values, np.maximum(exact, floor), "s-", color=PALETTE[2], label="exact (segment-averaged kernel)")
        ax.axvline(base, color="0.6", ls="--", lw=1)
        _machine_epsilon(ax, label="float64 machine epsilon")
        ax.set_xlabel(name)
        _ticks_at(ax.xaxis, values)
        ax.tick_params(labelsize="x-small")
    axes[0].set_ylabel("max$_x$ |residual|")
    axes[0].legend(fontsize="x-small", loc="center left", framealpha=0.9)
    fig.suptitle(f"base: lr = {c.base_lr:g}, width {c.base_width}, T = {c.base_steps} (dashed); "
                 f"{c.sweep_n} training points, {c.n_query} queries", fontsize="small")
    return fig


def _boundary_line(ax, u: np.ndarray) -> None:
    v = np.array([-u[1], u[0]])
    ends = np.outer([-2, 2], v)
    ax.plot(ends[:, 0], ends[:, 1], color="0.35", ls=":", lw=1)


def separable_decision(result) -> Figure:
    """The half-space data, the trained network's sign regions and the true boundary <u, x> = 0.

    `result` is a `pathkernel.experiments.separable.Result`.
    """
    style()
    fig, ax = plt.subplots(figsize=(5.0, 4.6), layout="constrained")
    _regions(ax, result.grid_x, result.grid_y, result.grid_network)
    _points(ax, result.x, result.y)
    _boundary_line(ax, result.direction)
    ax.annotate("", xy=0.5 * result.direction, xytext=(0, 0),
                arrowprops={"arrowstyle": "->", "color": "crimson", "lw": 1.5})
    ax.text(*(0.55 * result.direction), "u", color="crimson", fontsize="small")
    _square(ax, 1.0)
    ax.set_title(f"network after {result.config.steps} steps: training accuracy {result.accuracy:.0%}",
                 fontsize="small")
    ax.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
    return fig


def separable_neighbours(result) -> Figure:
    """Neighbours of a few queries under the normalized tangent kernel at theta_T (top) and in
    Euclidean distance (bottom), coloured by their label, with each set's anisotropy.

    `result` is a `pathkernel.experiments.separable.Result`.
    """
    style()
    q = len(result.queries)
    fig, axes = plt.subplots(2, q, figsize=(2.7 * q, 5.9), layout="constrained", sharex=True, sharey=True)
    rows = ((result.kernel_neighbours[-1], result.query_anisotropy[-1], "normalized NTK"),
            (result.euclidean_neighbours, result.euclidean_query_anisotropy, "Euclidean"))
    for r, (near, spread, who) in enumerate(rows):
        for j in range(q):
            ax = axes[r, j]
            _neighbour_panel(ax, result.x, result.y, result.queries[j], near[j], by_label=True)
            _boundary_line(ax, result.direction)
            _square(ax, 1.0)
            extra = f"\nJaccard {result.jaccard[j]:.2f}" if r == 1 else ""
            ax.set_title(f"{who}: anisotropy {spread[j]:.1f}{extra}", fontsize="small")
    fig.suptitle(f"the {result.config.k} nearest training points of each query (star)", fontsize="medium")
    return fig


def separable_anisotropy(result) -> Figure:
    """Anisotropy of the neighbour sets of probe queries: maps for the Euclidean and the kernel
    (theta_T) neighbourhoods, and against the signed distance <u, q> to the boundary for the
    three snapshots.

    `result` is a `pathkernel.experiments.separable.Result`.
    """
    from matplotlib.colors import LogNorm

    style()
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.2), layout="constrained", width_ratios=(1, 1, 1.3))
    top = max(2.0, float(result.probe_anisotropy[-1].max()))
    norm = LogNorm(vmin=1 / top, vmax=top)  # white at 1: isotropic
    p = result.config.probe
    extent = result.config.probe_extent
    for ax, values, title in ((axes[0], result.euclidean_anisotropy, "Euclidean"),
                              (axes[1], result.probe_anisotropy[-1],
                               f"normalized NTK at step {result.snapshot_steps[-1]}")):
        image = ax.imshow(values.reshape(p, p), origin="lower", extent=(-extent, extent, -extent, extent),
                          cmap="RdBu_r", norm=norm, interpolation="nearest")
        _boundary_line(ax, result.direction)
        _square(ax, extent)
        ax.grid(False)
        ax.set_title(title, fontsize="small")
    bar = fig.colorbar(image, ax=axes[:2], shrink=0.85, label=f"anisotropy of the {result.config.k} neighbours")
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if norm.vmin <= t <= norm.vmax]
    bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax = axes[2]
    ax.scatter(result.probe_offset, result.euclidean_anisotropy, s=10, color="0.5", label="Euclidean")
    for s, (step, name) in enumerate(zip(result.snapshot_steps, ("initialization", "mid-training", "end"))):
        ax.scatter(result.probe_offset, result.probe_anisotropy[s], s=10, color=PALETTE[(2, 4, 3)[s]],
                   label=f"NTK, {name} (step {step})")
    ax.set_yscale("log")
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.axvspan(-result.config.band, result.config.band, color="0.9", zorder=0)
    ax.set_xlabel("signed distance $\\langle u, q \\rangle$ to the boundary")
    ax.set_ylabel("anisotropy")
    ax.legend(fontsize="x-small", framealpha=0.9)
    return fig


def separable_snapshots(result) -> Figure:
    """Kernel neighbourhoods of the displayed queries at initialization, mid-training and the end
    (one row each, neighbours coloured by label), and the label homogeneity along training.

    `result` is a `pathkernel.experiments.separable.Result`.
    """
    style()
    q = len(result.queries)
    fig = plt.figure(figsize=(2.7 * q + 3.6, 8.2), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=(2.7 * q, 3.6))
    axes = left.subplots(3, q, sharex=True, sharey=True)
    names = ("initialization", "mid-training", "end")
    for s, (step, name) in enumerate(zip(result.snapshot_steps, names)):
        for j in range(q):
            ax = axes[s, j]
            near = result.kernel_neighbours[s, j]
            _neighbour_panel(ax, result.x, result.y, result.queries[j], near, by_label=True)
            _boundary_line(ax, result.direction)
            _square(ax, 1.0)
            ax.set_title(f"anisotropy {result.query_anisotropy[s, j]:.1f}", fontsize="x-small")
        axes[s, 0].set_ylabel(f"{name} (step {step})\nhomogeneity {result.probe_homogeneity[s].mean():.2f}",
                              fontsize="small")
    top, bottom = right.subplots(2, 1, sharex=True)
    steps = result.checkpoint_steps
    top.plot(steps, result.homogeneity_curve, "o-", color=PALETTE[0], label="NTK, all probes")
    top.plot(steps, result.band_homogeneity_curve, "s-", color=PALETTE[3],
             label=f"NTK, probes with |<u, q>| < {result.config.band:g}")
    top.axhline(result.euclidean_homogeneity.mean(), color=PALETTE[0], ls="--", lw=1, label="Euclidean, all")
    top.axhline(result.euclidean_band_homogeneity, color=PALETTE[3], ls="--", lw=1, label="Euclidean, near")
    top.plot(steps, result.accuracy_curve, "^-", color="0.4", label="training accuracy")
    top.set_ylabel("label homogeneity, accuracy")
    top.legend(fontsize="x-small", framealpha=0.9)
    bottom.plot(steps, result.anisotropy_curve, "o-", color=PALETTE[2], label="NTK (geometric mean)")
    bottom.set_ylabel("anisotropy")
    bottom.axhline(1.0, color="0.3", lw=0.8)
    bottom.set_xlabel("step")
    bottom.legend(fontsize="x-small", framealpha=0.9)
    for ax in (top, bottom):
        for step in result.snapshot_steps:
            ax.axvline(step, color="0.7", ls=":", lw=1)
        ax.tick_params(labelsize="x-small")
    return fig


# --- Chapter "Which training examples made this prediction?" (experiments.attribution) ---


def _digit_panel(ax, image: np.ndarray, title: str, edge) -> None:
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize="x-small")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(edge)
        spine.set_linewidth(2.5)


def attribution_examples(result) -> Figure:
    """For each explained test digit (one row): the digit, its k strongest proponents (green)
    and opponents (red) among the training digits, titled by contribution and label.

    `result` is a `pathkernel.experiments.attribution.Result`.
    """
    style()
    m, k = result.proponents.shape
    fig, axes = plt.subplots(m, 2 * k + 1, figsize=(0.95 * (2 * k + 1), 1.35 * m), layout="constrained",
                             squeeze=False)
    for j in range(m):
        verdict = "mistake" if result.mistake[j] else "correct"
        _digit_panel(axes[j, 0], result.query_images[j],
                     f"label {result.query_labels[j]}, says {result.predicted[j]}\n({verdict})", "0.2")
        for col, (index, value, edge) in enumerate(
            [(i, v, PALETTE[2]) for i, v in zip(result.proponents[j], result.proponent_contributions[j])]
            + [(i, v, PALETTE[3]) for i, v in zip(result.opponents[j], result.opponent_contributions[j])]
        ):
            _digit_panel(axes[j, col + 1], result.train_images[index],
                         f"{value:+.2f}\nlabel {result.train_labels[index]}", edge)
    fig.suptitle(f"test digit, then its {k} strongest proponents (green: push the predicted logit up) "
                 f"and {k} strongest opponents (red: push it down)", fontsize="small")
    return fig


def attribution_tracin(result) -> Figure:
    """TracIn-CP against the exact contributions: the two scores of one digit (most checkpoints)
    and their rank agreement against the number of checkpoints.

    `result` is a `pathkernel.experiments.attribution.Result`.
    """
    style()
    fig, (scatter, agree) = plt.subplots(1, 2, figsize=(10.0, 4.0), layout="constrained")
    exact, tracin = result.contributions[0], result.tracin[0]
    disagree = np.sign(exact) != np.sign(tracin)
    scatter.scatter(exact[~disagree], tracin[~disagree], s=9, color=PALETTE[0], label="same sign")
    scatter.scatter(exact[disagree], tracin[disagree], s=9, color=PALETTE[3], label="opposite sign")
    scatter.axhline(0, color="0.4", lw=0.8)
    scatter.axvline(0, color="0.4", lw=0.8)
    scatter.set_xlabel("exact contribution to the logit")
    scatter.set_ylabel(f"TracIn-CP, {result.checkpoint_counts[-1]} checkpoints")
    scatter.set_title(f"test digit {result.query_labels[0]}: one dot per training digit", fontsize="small")
    scatter.legend(fontsize="x-small")
    counts = result.checkpoint_counts
    agree.semilogx(counts, result.spearman, "o-", color=PALETTE[0], label="Spearman correlation")
    agree.semilogx(counts, result.overlap, "s-", color=PALETTE[2], label=f"top-{result.config.k} overlap")
    agree.semilogx(counts, result.sign_agreement, "^-", color=PALETTE[1], label="sign agreement")
    agree.axvline(result.steps, color="0.6", ls=":", lw=1, label=f"every step ({result.steps})")
    agree.set_ylim(-0.05, 1.05)
    agree.set_xlabel("TracIn checkpoints C")
    agree.set_ylabel(f"agreement with exact (mean of {len(result.predicted)} digits)")
    agree.legend(fontsize="x-small", loc="lower right")
    return fig


# --- Chapter "Stochastic Domingos theorems" (experiments.stochastic) -----------

_OPTIMIZER_LABELS = {"gd": "GD (full batch)", "sgd": "SGD", "momentum": "heavy-ball momentum", "adam": "Adam"}


def stochastic_residual(result) -> Figure:
    """Log-log max |remainder| of the first-order theorem (filled, with fitted slope) and of the
    exact form (hollow) against the base learning rate at a fixed time, one colour per optimizer.

    `result` is a `pathkernel.experiments.stochastic.Result`.
    """
    style()
    fig, ax = plt.subplots(figsize=(6.6, 4.6), layout="constrained")
    lrs = result.lrs
    fitted = lrs <= result.config.fit_max_lr
    grid = np.geomspace(lrs[fitted].min(), lrs[fitted].max(), 20)
    for a, name in enumerate(result.optimizers):
        colour = PALETTE[a]
        ax.loglog(lrs, result.residual[a], "o", color=colour,
                  label=f"{_OPTIMIZER_LABELS[name]}: slope {result.slopes[a]:.2f}")
        ax.loglog(grid, np.exp(result.intercepts[a]) * grid ** result.slopes[a], "-", color=colour, alpha=0.7)
        ax.loglog(lrs, np.maximum(result.residual_exact[a], 1e-17), "s", mfc="none", color=colour)
    _machine_epsilon(ax)
    ax.text(lrs.min(), np.finfo(np.float64).eps * 1.6, "float64 machine epsilon", fontsize="x-small", color="0.4")
    ax.plot([], [], "s", mfc="none", color="0.3", label="exact form (hollow)")
    ax.set_xlabel("base learning rate (time base lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |remainder|")
    _ticks_at(ax.xaxis, lrs)
    ax.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


def stochastic_expectation(result, shown: int = 10) -> Figure:
    """The SGD expectation over mini-batch orders: (a) per-seed and mean predictions at the first
    `shown` query points with the mean of the decompositions and GD; (b) Monte Carlo error of the
    mean against the number of seeds, with the mean remainders; (c) expected per-sample
    contributions against those of GD at the chapter's query points.

    `result` is a `pathkernel.experiments.stochastic.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.6), layout="constrained")
    ax = axes[0]
    seeds, shown = result.seed_prediction.shape[0], min(shown, result.seed_prediction.shape[1])
    index = np.arange(shown)
    spread = result.seed_prediction[:, :shown]
    ax.plot(np.repeat(index[None, :], seeds, 0) + np.linspace(-0.2, 0.2, seeds)[:, None], spread, ".",
            color="0.65", markersize=3)
    ax.plot([], [], ".", color="0.65", label=f"f(w$_T$, x), one per seed ({seeds} seeds)")
    mean, se = spread.mean(0), spread.std(0, ddof=1) / np.sqrt(seeds)
    ax.errorbar(index, mean, yerr=2 * se, fmt="o", color=PALETTE[0], capsize=3, label="mean prediction $\\pm$ 2 SE")
    ax.plot(index, result.seed_rhs_exact[:, :shown].mean(0), "x", color=PALETTE[2], markersize=9,
            label="mean of the exact decompositions")
    ax.plot(index, result.gd_prediction[:shown], "D", mfc="none", color=PALETTE[3], label="full-batch GD")
    ax.set_xticks(index)
    ax.set_xlabel("query point")
    ax.set_ylabel("prediction")
    ax.set_title("(a) E over mini-batch orders", fontsize="medium")
    ax.legend(fontsize="x-small", loc="best")
    ax = axes[1]
    counts = result.seed_counts
    ax.loglog(counts, result.mc_error, "o-", color=PALETTE[0], label="error of the mean of S seeds")
    ax.loglog(counts, result.mc_standard_error, "--", color=PALETTE[0], alpha=0.7, label="$\\sigma / \\sqrt{S}$")
    ax.loglog(counts, result.block_residual, "s-", color=PALETTE[1], label="mean remainder, first-order form")
    ax.loglog(counts, np.maximum(result.block_residual_exact, 1e-17), "^-", color=PALETTE[2],
              label="mean remainder, exact form")
    ax.set_xticks(counts, labels=[str(c) for c in counts])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("number of seeds S")
    ax.set_ylabel("root mean square over queries")
    ax.set_title("(b) Monte Carlo error against S", fontsize="medium")
    ax.legend(fontsize="x-small", loc="center right")
    ax = axes[2]
    for j, point in enumerate(result.queries):
        ax.plot(result.gd_contribution[j], result.expected_contribution[j], "o", color=PALETTE[(4 + j) % len(PALETTE)], markersize=4,
                alpha=0.8, label=f"x = ({point[0]:g}, {point[1]:g})")
    top = max(np.abs(result.gd_contribution).max(), np.abs(result.expected_contribution).max()) * 1.05
    ax.plot([-top, top], [-top, top], color="0.5", lw=0.8, ls=":")
    ax.set(xlim=(-top, top), ylim=(-top, top), aspect="equal")
    ax.set_xlabel("GD contribution of $x_i$")
    ax.set_ylabel("SGD contribution of $x_i$, mean over seeds")
    ax.set_title("(c) expected contributions", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper left")
    return fig


def stochastic_per_sample(result) -> Figure:
    """Per-sample contributions of SGD, momentum and Adam against those of GD (same data, same
    theta_0, same query points, one colour per query), and the Spearman rank correlation
    between the four optimizers within each class (mean over classes and query points).

    `result` is a `pathkernel.experiments.stochastic.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 4, figsize=(16.0, 4.3), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.15]})
    names = list(result.optimizers)
    gd = result.contribution[names.index("gd")]
    for ax, name in zip(axes[:3], ["sgd", "momentum", "adam"]):
        other = result.contribution[names.index(name)]
        for j, point in enumerate(result.queries):
            ax.plot(gd[j], other[j], "o", color=PALETTE[(4 + j) % len(PALETTE)], markersize=4, alpha=0.8,
                    label=f"x = ({point[0]:g}, {point[1]:g})")
        top = max(np.abs(gd).max(), np.abs(other).max()) * 1.05
        ax.plot([-top, top], [-top, top], color="0.5", lw=0.8, ls=":")
        ax.set(xlim=(-top, top), ylim=(-top, top), aspect="equal")
        rho = result.spearman[:, 0, names.index(name)].mean()
        within = result.spearman_within[:, 0, names.index(name)].mean()
        ax.set_title(f"{_OPTIMIZER_LABELS[name]}\nSpearman with GD: {rho:.2f} (within class {within:.2f})",
                     fontsize="medium")
        ax.set_xlabel("GD contribution of $x_i$")
        ax.set_ylabel(f"{name} contribution of $x_i$")
        ax.tick_params(labelsize="x-small")
    axes[0].legend(fontsize="x-small", loc="upper left")
    sns.heatmap(result.spearman_within.mean(0), ax=axes[3], annot=True, fmt=".2f", cmap="mako", vmin=0, vmax=1,
                xticklabels=names, yticklabels=names, square=True, cbar_kws={"shrink": 0.8})
    axes[3].set_title("Spearman rank correlation within class\n(mean over classes and query points)",
                      fontsize="medium")
    return fig


# --- Chapter "The kernel regime" (experiments.lazy_training, output_scale, ntk_limit) ---


def _kernelregime_fit(ax, xs, slope: float, intercept: float, colour, label: str) -> None:
    grid = np.geomspace(np.min(xs), np.max(xs), 20)
    ax.loglog(grid, np.exp(intercept) * grid**slope, "-", color=colour, alpha=0.6, lw=1.2, label=label)


def kernelregime_functions(result) -> Figure:
    """Random 2-hidden-layer ReLU networks as functions of a 1D input, and trained ones with their linearization.

    Top row: `n_functions` initializations per width. Bottom row: each seed's trained network
    (solid) and trained linearization (dashed) on the training points. `result` is a
    `pathkernel.experiments.lazy_training.Result`.
    """
    style()
    widths = result.config.function_widths
    fig, axes = plt.subplots(2, len(widths), figsize=(3.7 * len(widths), 6.0), layout="constrained",
                             sharex=True, sharey="row", squeeze=False)
    for j, width in enumerate(widths):
        top, bottom = axes[0, j], axes[1, j]
        top.plot(result.grid, result.functions[j].T, color=PALETTE[0], lw=0.7, alpha=0.45)
        top.set_title(f"width {width}: {result.functions.shape[1]} initializations", fontsize="medium")
        for s in range(result.trained.shape[1]):
            bottom.plot(result.grid, result.trained[j, s], color=PALETTE[s % len(PALETTE)], lw=1.4,
                        label="network" if s == 0 else None)
            bottom.plot(result.grid, result.trained_linear[j, s], "--", color="0.15", lw=1.0,
                        label="linearization" if s == 0 else None)
        bottom.plot(result.x, result.y, "o", color="black", ms=6, zorder=5, label="training points")
        bottom.set_title(f"width {width}: trained ({result.trained.shape[1]} seeds)", fontsize="medium")
        bottom.set_xlabel("input x")
    axes[0, 0].set_ylabel("f(w$_0$, x)")
    axes[1, 0].set_ylabel("f(w$_T$, x)")
    axes[1, 0].legend(fontsize="small", loc="lower left")
    return fig


def kernelregime_weight_change(result) -> Figure:
    """Relative weight change ||w_k - w_0|| / ||w_0|| along training per width, and at the end against width.

    `result` is a `pathkernel.experiments.lazy_training.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained")
    colours = sns.color_palette("viridis", len(result.config.widths))
    for i, width in enumerate(result.config.widths):
        left.semilogy(result.times[1:], result.weight_change[i, :, 1:].mean(0), color=colours[i], label=f"m = {width}")
    left.set(xlabel="time t = lr $\\times$ step", ylabel="$\\|w_k - w_0\\| \\,/\\, \\|w_0\\|$")
    left.set_title("(a) along training (mean over seeds)", loc="left", fontsize="medium")
    left.legend(fontsize="small", ncol=2)
    widths = np.asarray(result.config.widths, dtype=float)
    final = result.weight_change[:, :, -1]
    for s in range(final.shape[1]):
        right.loglog(widths, final[:, s], "o", color=PALETTE[0], alpha=0.4, ms=4, label="one seed" if s == 0 else None)
    right.loglog(widths, final.mean(1), "s", color=PALETTE[0], label="mean over seeds")
    _kernelregime_fit(right, widths, result.weight_slope, result.weight_intercept, PALETTE[0],
                      f"fit: slope {result.weight_slope:.2f}")
    right.set(xlabel="width m", ylabel="$\\|w_T - w_0\\| \\,/\\, \\|w_0\\|$")
    right.set_title(f"(b) after training (t = {result.times[-1]:g})", loc="left", fontsize="medium")
    right.legend(fontsize="small")
    return fig


def kernelregime_linearization(result) -> Figure:
    """Distance between the network and its linearization: along training, against width, against alpha.

    The inverse relative scale kappa of Chizat & Bach is drawn beside the final distances.
    `result` is a `pathkernel.experiments.lazy_training.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.3), layout="constrained")
    colours = sns.color_palette("viridis", len(result.config.widths))
    for i, width in enumerate(result.config.widths):
        axes[0].semilogy(result.times[1:], result.distance[i, :, 1:].mean(0), color=colours[i], label=f"m = {width}")
    axes[0].set(xlabel="time t = lr $\\times$ step", ylabel="RMS$_x$ |f(w$_k$, x) $-$ f$_{lin}$(w$_k$, x)|")
    axes[0].set_title("(a) network vs linearization along training", loc="left", fontsize="medium")
    axes[0].set_ylim(bottom=0.2 * result.distance[:, :, 1:].mean(1).min())  # room for the legend below
    axes[0].legend(fontsize="small", ncol=3, loc="lower right")
    widths = np.asarray(result.config.widths, dtype=float)
    final = result.distance[:, :, -1]
    ax = axes[1]
    for s in range(final.shape[1]):
        ax.loglog(widths, final[:, s], "o", color=PALETTE[0], alpha=0.4, ms=4,
                  label="distance, one seed" if s == 0 else None)
    ax.loglog(widths, final.mean(1), "s", color=PALETTE[0], label="distance, mean")
    _kernelregime_fit(ax, widths, result.distance_slope, result.distance_intercept, PALETTE[0],
                      f"fit: slope {result.distance_slope:.2f}")
    ax.loglog(widths, result.kappa, "^", color=PALETTE[3], label="$\\kappa(w_0)$ (seed 0)")
    ax.set(xlabel="width m", ylabel="distance (RMS) and $\\kappa$")
    ax.set_title("(b) at the end, against the width", loc="left", fontsize="medium")
    ax.legend(fontsize="small")
    ax = axes[2]
    alphas = np.asarray(result.config.alphas)
    ax.loglog(alphas, result.alpha_distance[:, -1], "s", color=PALETTE[2], label="distance")
    large = alphas >= 1
    _kernelregime_fit(ax, alphas[large], result.alpha_slope, result.alpha_intercept, PALETTE[2],
                      f"fit on $\\alpha \\geq 1$: slope {result.alpha_slope:.2f}")
    ax.loglog(alphas, result.alpha_kappa, "^", color=PALETTE[3], label="$\\kappa_\\alpha(w_0)$")
    ax.set(xlabel="output scale $\\alpha$ (step lr / $\\alpha^2$)", ylabel="distance (RMS) and $\\kappa$")
    ax.set_title(f"(c) at the end, against $\\alpha$ (m = {result.config.alpha_width})", loc="left", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def kernelregime_toy(result) -> Figure:
    """The blog's 1-parameter model: alpha f against its tangent line, and the normalized losses with their minima.

    `result` is a `pathkernel.experiments.output_scale.Result`.
    """
    style()
    config = result.config
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.3), layout="constrained")
    colours = sns.color_palette("rocket_r", len(config.toy_alphas) + 1)[1:]
    for a, alpha in enumerate(config.toy_alphas):
        left.plot(result.toy_w, result.toy_f[a], color=colours[a], label=f"$\\alpha$ = {alpha:g}")
        left.plot(result.toy_w, result.toy_linear[a], "--", color=colours[a], lw=1)
        right.plot(result.toy_w, result.toy_loss[a], color=colours[a], label=f"$\\alpha$ = {alpha:g}")
        right.plot(result.toy_w, result.toy_loss_linear[a], "--", color=colours[a], lw=1)
        right.plot(result.toy_minimum[a], 0, "o", color=colours[a], ms=6)
        right.plot(result.toy_minimum_linear[a], 0, "x", color=colours[a], ms=7)
    for ax in (left, right):
        ax.axvline(0.4, color="0.5", ls=":", lw=1)
        ax.set_xlabel("weight w ($w_0$ = 0.4 dotted)")
    left.axhline(config.toy_target, color="0.3", lw=0.8, ls="-.", label=f"target $\\bar y$ = {config.toy_target:g}")
    left.set_ylim(-2.5, 2.5)
    left.set_ylabel(f"$\\alpha$ f(x = {config.toy_x:g}, w)   (dashed: tangent line)")
    left.set_title("(a) the scaled model and its linearization", loc="left", fontsize="medium")
    left.legend(fontsize="small", loc="lower right")
    right.set_ylim(-0.02, 0.6)
    right.set_ylabel("($\\alpha$ f $-$ $\\bar y$)$^2$ / (2 $\\alpha^2$)   (dashed: linearized)")
    right.set_title("(b) normalized losses; minima: o model, x linearized", loc="left", fontsize="medium")
    right.legend(fontsize="small", loc="upper right")
    return fig


def _kernelregime_ellipse(centre: np.ndarray, kernel: np.ndarray, level: float) -> np.ndarray:
    """Points (200, 2) of {u : (u - centre)^T kernel (u - centre) = level}."""
    values, vectors = np.linalg.eigh(kernel)
    angle = np.linspace(0, 2 * np.pi, 200)
    unit = np.stack([np.cos(angle), np.sin(angle)], 1) * np.sqrt(level / values)
    return centre + unit @ vectors.T


def kernelregime_ellipses(result) -> Figure:
    """Two data points: the 2 x 2 tangent kernel as an ellipse along training, for each alpha, with the outputs.

    Each ellipse is the level set through the starting point of the quadratic
    (u - y)^T K_{w_k} (u - y), coloured by training time; solid: the outputs f(w_k, X); dashed:
    the kernel-regime ODE with K_{w_0}. `result` is a `pathkernel.experiments.output_scale.Result`.
    """
    style()
    alphas = result.config.alphas
    fig, axes = plt.subplots(1, len(alphas), figsize=(3.2 * len(alphas), 3.9), layout="constrained",
                             sharex=True, sharey=True, squeeze=False)
    colours = sns.color_palette("viridis", len(result.kernel_steps))
    level = float(result.y @ result.kernels[0, 0] @ result.y)
    for a, alpha in enumerate(alphas):
        ax = axes[0, a]
        for c, step in enumerate(result.kernel_steps):
            points = _kernelregime_ellipse(result.y, result.kernels[a, c], level)
            ax.plot(points[:, 0], points[:, 1], color=colours[c], lw=1.1,
                    label=f"t = {result.times[step]:g}" if a == 0 else None)
        ax.plot(result.outputs[a, :, 0], result.outputs[a, :, 1], color="crimson", lw=1.6,
                label="outputs f(w$_k$, X)" if a == 0 else None)
        ax.plot(result.ode[:, 0] + result.y[0], result.ode[:, 1] + result.y[1], "--", color="black", lw=1.1,
                label="ODE, fixed K$_{w_0}$" if a == 0 else None)
        ax.plot(*result.y, "*", color="black", ms=10)
        ax.plot(0, 0, "o", color="crimson", ms=4)
        ax.set_aspect("equal")
        ax.set_title(f"$\\alpha$ = {alpha:g}: $\\|K_T - K_0\\| / \\|K_0\\|$ = {result.kernel_change[a]:.1%}",
                     fontsize="small")
        ax.set_xlabel("output at $x_1$")
    axes[0, 0].set_ylabel("output at $x_2$")
    fig.legend(loc="outside lower center", ncol=len(result.kernel_steps) + 2, fontsize="small", frameon=False)
    return fig


def kernelregime_ode(result) -> Figure:
    """The kernel-regime ODE u(t) = exp(-t K_0 / n) u(0) against the real trajectory, and the gap against alpha.

    `result` is a `pathkernel.experiments.output_scale.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2), layout="constrained")
    alphas = np.asarray(result.config.alphas)
    residuals = result.outputs - result.y
    for a, ls in ((0, "-"), (len(alphas) - 1, "-.")):
        for i in range(2):
            left.plot(result.times, residuals[a, :, i], ls, color=PALETTE[i], lw=1.5,
                      label=f"$u_{i + 1}$, network, $\\alpha$ = {alphas[a]:g}")
    for i in range(2):
        left.plot(result.times, result.ode[:, i], ":", color="black", lw=1.5,
                  label="exp($-t K_0 / n$) u(0)" if i == 0 else None)
    left.set(xlabel="time t = lr $\\times$ step", ylabel="residual u = f(w, X) $-$ y")
    left.set_title("(a) residuals of the two points", loc="left", fontsize="medium")
    left.legend(fontsize="small")
    right.loglog(alphas, result.ode_gap, "o", color=PALETTE[0], label="max$_t$ |u $-$ ODE| (expm)")
    right.loglog(alphas, result.linear_gap, "s", color=PALETTE[2], label="max$_k$ |u $-$ fixed-kernel GD|")
    large = alphas >= 1
    _kernelregime_fit(right, alphas[large], result.gap_slope, result.gap_intercept, PALETTE[2],
                      f"fit on $\\alpha \\geq 1$: slope {result.gap_slope:.2f}")
    right.axhline(result.discretization_gap, color="0.4", ls=":", lw=1.2,
                  label=f"fixed-kernel GD vs ODE (step lr = {result.config.lr:g})")
    right.set(xlabel="output scale $\\alpha$ (step lr / $\\alpha^2$)", ylabel="gap")
    right.set_title("(b) distance to the kernel regime", loc="left", fontsize="medium")
    right.legend(fontsize="small")
    return fig


def kernelregime_ntk_limit(result) -> Figure:
    """Relative error of the empirical NTK at width m against the analytic infinite-width NTK, ReLU and erf.

    `result` is a `pathkernel.experiments.ntk_limit.Result`.
    """
    style()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    widths = np.asarray(result.config.widths, dtype=float)
    for a, activation in enumerate(result.activations):
        errors = result.kernel_error[a]
        jitter = widths * 1.04 ** (a - 0.5)
        for s in range(errors.shape[1]):
            ax.loglog(jitter, errors[:, s], "o", color=PALETTE[a], alpha=0.3, ms=3)
        ax.loglog(widths, errors.mean(1), "s", color=PALETTE[a], label=f"{activation}: mean over seeds")
        _kernelregime_fit(ax, widths, result.kernel_slope[a], result.kernel_intercept[a], PALETTE[a],
                          f"{activation}: fit, slope {result.kernel_slope[a]:.2f}")
    reference = np.exp(np.mean(result.kernel_intercept)) * widths**-0.5
    ax.loglog(widths, reference, ":", color="0.3", label="$m^{-1/2}$")
    ax.set(xlabel="width m", ylabel="$\\|K_m - \\Theta\\|_F \\,/\\, \\|\\Theta\\|_F$")
    ax.legend(fontsize="small")
    return fig


def kernelregime_regression(result) -> Figure:
    """Kernel regression with the analytic NTK against trained centred networks of growing width.

    `result` is a `pathkernel.experiments.ntk_limit.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.3), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.5, 1]})
    colours = sns.color_palette("viridis", len(result.config.regression_widths))
    for i, width in enumerate(result.config.regression_widths):
        for s in range(result.networks.shape[1]):
            left.plot(result.grid, result.networks[i, s], color=colours[i], lw=1.0, alpha=0.8,
                      label=f"network, m = {width}" if s == 0 else None)
    left.plot(result.grid, result.analytic, color="black", lw=1.8, label=f"analytic NTK flow, t = {result.time:g}")
    left.plot(result.grid, result.kernel_regression, "--", color="crimson", lw=1.3,
              label="kernel regression (t = $\\infty$)")
    left.plot(result.x, result.y, "o", color="black", ms=6, zorder=5, label="training points")
    left.set(xlabel="input x", ylabel="prediction")
    left.set_title("(a) predictions", loc="left", fontsize="medium")
    left.legend(fontsize="small")
    widths = np.asarray(result.config.regression_widths, dtype=float)
    for s in range(result.network_error.shape[1]):
        right.loglog(widths, result.network_error[:, s], "o", color=PALETTE[0], alpha=0.4, ms=4,
                     label="one seed" if s == 0 else None)
    right.loglog(widths, result.network_error.mean(1), "s", color=PALETTE[0], label="mean over seeds")
    _kernelregime_fit(right, widths, result.regression_slope, result.regression_intercept, PALETTE[0],
                      f"fit: slope {result.regression_slope:.2f}")
    right.set(xlabel="width m", ylabel="RMS$_x$ |network $-$ analytic|")
    _ticks_at(right.xaxis, widths)
    right.set_title("(b) distance to the analytic prediction", loc="left", fontsize="medium")
    right.legend(fontsize="small")
    return fig


# --- Chapter "How the kernel evolves" (experiments.kernel_evolution, kernel_evolution_digits) ---


def _kernel_image(ax, kernel: np.ndarray, title: str, *, vmin: float, ticks=None, labels=None):
    """A normalized kernel matrix as an image (viridis, vmax 1), optional block ticks."""
    image = ax.imshow(kernel, cmap="viridis", vmin=vmin, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize="medium")
    ax.grid(False)
    if ticks is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xticks(ticks, labels=labels, fontsize="x-small")
        ax.set_yticks(ticks, labels=labels, fontsize="x-small")
    return image


def kernelevolution_neighbours(result) -> Figure:
    """Neighbourhoods of anchor points on the disk / circle task: the data and the trained
    network's sign regions, the k Euclidean nearest neighbours of each anchor, and its k
    nearest under the normalized tangent kernel at initialization, mid-training and the end.

    `result` is a `pathkernel.experiments.kernel_evolution.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 5, figsize=(17.0, 4.0), layout="constrained", sharex=True, sharey=True)
    colours = {-1: PALETTE[0], 1: PALETTE[1]}
    anchor_colours = [PALETTE[j] for j in (2, 3, 4, 5)]
    axes[0].contourf(result.grid_x, result.grid_y, np.sign(result.grid_f), levels=[-2, 0, 2],
                     colors=[colours[-1], colours[1]], alpha=0.2)
    axes[0].contour(result.grid_x, result.grid_y, result.grid_f, levels=[0], colors="0.2", linewidths=1)
    for label, name in ((-1, "disk (-1)"), (1, "circle (+1)")):
        mask = result.y == label
        axes[0].scatter(result.x[mask, 0], result.x[mask, 1], s=8, color=colours[label], label=name)
    axes[0].legend(fontsize="x-small", loc="lower left", framealpha=0.9)
    axes[0].set_title(f"(a) data, trained network\n(test accuracy {result.test_accuracy:.0%})", fontsize="medium")
    panels = [("(b) Euclidean", result.euclidean, result.euclidean_homogeneity, result.euclidean_mean_homogeneity)]
    names = ("initialization", "mid-training", "end")
    for j, step in enumerate(result.checkpoints):
        panels.append((f"({'cde'[j]}) kernel, {names[j]} (step {step})", result.neighbours[j],
                       result.homogeneity[j], result.mean_homogeneity[j]))
    for ax, (title, neighbours, per_anchor, mean) in zip(axes[1:], panels):
        ax.scatter(result.x[:, 0], result.x[:, 1], s=5, color="0.82")
        for a, colour in enumerate(anchor_colours[: len(result.anchors)]):
            ax.scatter(result.x[neighbours[a], 0], result.x[neighbours[a], 1], s=12, color=colour,
                       label=f"({result.anchors[a, 0]:g}, {result.anchors[a, 1]:g}): {per_anchor[a]:.0%}")
        ax.set_title(f"{title}\nmean homogeneity {mean:.0%}", fontsize="medium")
        ax.legend(fontsize="xx-small", loc="lower left", framealpha=0.9, title="anchor: homogeneity",
                  title_fontsize="xx-small")
    for ax in axes:
        ax.scatter(result.anchors[:, 0], result.anchors[:, 1], marker="x", s=60, color="black", linewidths=2,
                   zorder=5)
        ax.set_aspect("equal")
        ax.tick_params(labelsize="x-small")
    return fig


def kernelevolution_waves(result) -> Figure:
    """Regression of sin x (top) and a square wave (bottom): predictions at initialization and
    after training, and the normalized tangent kernel on the training points (ordered by x)
    at both ends.

    `result` is a `pathkernel.experiments.kernel_evolution.Result`.
    """
    style()
    fig, axes = plt.subplots(2, 3, figsize=(13.0, 7.6), layout="constrained",
                             gridspec_kw={"width_ratios": [1.5, 1, 1]})
    vmin = float(result.wave_kernel.min())
    extent = (result.wave_x[0], result.wave_x[-1], result.wave_x[-1], result.wave_x[0])
    for r, name in enumerate(("sin x", "square wave")):
        ax = axes[r, 0]
        ax.plot(result.wave_grid, result.wave_truth[r], color="0.3", lw=1, label="target")
        ax.plot(result.wave_grid, result.wave_prediction[r, 0], color=PALETTE[0], ls="--", label="initialization")
        ax.plot(result.wave_grid, result.wave_prediction[r, 1], color=PALETTE[1],
                label=f"trained (RMSE {result.wave_rmse[r]:.3f})")
        ax.plot(result.wave_x, result.wave_y[r], "o", color="0.3", markersize=3, label="training points")
        ax.set_title(f"({'ad'[r]}) {name}: predictions", fontsize="medium", loc="left")
        ax.set_xlabel("x")
        ax.legend(fontsize="x-small", loc="upper left")
        for c, when in enumerate(("initialization", "trained")):
            image = axes[r, 1 + c].imshow(result.wave_kernel[r, c], cmap="viridis", vmin=vmin, vmax=1.0,
                                          extent=extent, interpolation="nearest")
            axes[r, 1 + c].set_title(f"({'bcef'[2 * r + c]}) {name}: kernel, {when}", fontsize="medium")
            axes[r, 1 + c].set_xlabel("x")
            axes[r, 1 + c].grid(False)
            axes[r, 1 + c].tick_params(labelsize="x-small")
    fig.colorbar(image, ax=axes[:, 2], shrink=0.6, label="normalized tangent kernel")
    return fig


def kernelevolution_svm(result) -> Figure:
    """A linear SVM on the tangent features of the trained network (top) against an RBF SVM on
    the inputs (bottom), on the circle task (left) and the ellipse 100 x1^2 + x2^2 (right):
    decision regions, boundary, training points, test accuracy.

    `result` is a `pathkernel.experiments.kernel_evolution.Result`.
    """
    style()
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 8.4), layout="constrained")
    colours = {-1: PALETTE[0], 1: PALETTE[1]}
    methods = ("linear SVM on tangent features", "RBF SVM on inputs")
    for c, task in enumerate(("circle", "ellipse $100 x_1^2 + x_2^2$")):
        gx, gy = result.svm_grid_x[c], result.svm_grid_y[c]
        for r, method in enumerate(methods):
            ax = axes[r, c]
            values = result.svm_decision[c, r]
            ax.contourf(gx, gy, np.sign(values), levels=[-2, 0, 2], colors=[colours[-1], colours[1]], alpha=0.2)
            ax.contour(gx, gy, values, levels=[0], colors="0.2", linewidths=1)
            for label in (-1, 1):
                mask = result.svm_y[c] == label
                ax.scatter(result.svm_x[c, mask, 0], result.svm_x[c, mask, 1], s=7, color=colours[label])
            ax.set_title(f"{task}: {method}\ntest accuracy {result.accuracies[c, 1 + r]:.1%} "
                         f"(network {result.accuracies[c, 0]:.1%})", fontsize="small")
            ax.tick_params(labelsize="x-small")
            ax.set_xlim(gx[0], gx[-1])
            ax.set_ylim(gy[0], gy[-1])
    return fig


def _class_ticks(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    classes = np.unique(labels)
    return np.array([np.flatnonzero(labels == c).mean() for c in classes]), [str(c) for c in classes]


def kernelevolution_digits(result) -> Figure:
    """Normalized (trace) tangent kernel of held-out handwritten digits ordered by class, at
    initialization and after training on the ten classes.

    `result` is a `pathkernel.experiments.kernel_evolution_digits.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.6), layout="constrained")
    ticks, labels = _class_ticks(result.show_labels)
    vmin = float(result.class_kernel.min())
    for ax, kernel, contrast, when in zip(axes, result.class_kernel, result.class_contrast,
                                          ("(a) initialization", "(b) trained")):
        image = _kernel_image(ax, kernel, f"{when}\nwithin classes {contrast[0]:.2f}, between {contrast[1]:.2f}",
                              vmin=vmin, ticks=ticks, labels=labels)
    fig.colorbar(image, ax=axes, shrink=0.8, label="normalized tangent kernel (trace)")
    return fig


def kernelevolution_umap(result) -> Figure:
    """UMAP embeddings of tangent features of held-out digits, for a network trained on the
    digits 0-4: all digits at initialization, the seen digits after training, all digits
    after training (seen: dots, unseen: crosses).

    `result` is a `pathkernel.experiments.kernel_evolution_digits.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.8), layout="constrained")
    colours = sns.color_palette("tab10", 10)
    titles = ("(a) initialization, digits 0-9", "(b) trained on 0-4, digits 0-4", "(c) trained on 0-4, digits 0-9")
    scores = {0: 0, 2: 1}
    for j, (ax, title) in enumerate(zip(axes, titles)):
        embedding = result.embeddings[j]
        for digit in range(10):
            mask = (result.umap_labels == digit) & np.isfinite(embedding[:, 0])
            if not mask.any():
                continue
            seen = digit < 5
            ax.scatter(embedding[mask, 0], embedding[mask, 1], s=14 if seen else 20, marker="o" if seen else "x",
                       color=colours[digit], label=str(digit))
        if j in scores:
            s = result.embedding_silhouette[scores[j]]
            title += f"\nsilhouette seen {s[0]:.2f}, unseen {s[1]:.2f}"
        ax.set_title(title, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    axes[2].legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5), title="digit",
                   title_fontsize="x-small", markerscale=1.2)
    return fig


def kernelevolution_printed(result) -> Figure:
    """Handwritten against printed digits: examples, the normalized (trace) tangent kernel on
    blocks handwritten 0, printed 0, handwritten 1, ... at initialization and after training,
    and the confusion matrix of the trained network on printed digits.

    `result` is a `pathkernel.experiments.kernel_evolution_digits.Result`.
    """
    style()
    fig = plt.figure(figsize=(16.0, 6.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 3.6])
    # one strip of 8 x 8 images (handwritten 0, printed 0, handwritten 1, ...), 2 blank columns apart:
    # a single axes lays out far faster than 20
    pairs = np.stack([result.handwritten_examples, result.printed_examples], 1).reshape(20, 8, 8)
    strip = np.pad(pairs, ((0, 0), (0, 0), (0, 2))).transpose(1, 0, 2).reshape(8, -1)[:, :-2]
    examples = top.subplots()
    examples.imshow(strip, cmap="gray_r", vmin=0, vmax=16, interpolation="nearest")
    examples.set_xticks(10 * np.arange(20) + 3.5, labels=[f"{d}{kind}" for d in range(10) for kind in "hp"],
                        fontsize="x-small")
    examples.set_yticks([])
    examples.grid(False)
    axes = bottom.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 0.95]})
    starts = np.flatnonzero(np.diff(np.r_[-1, result.mixed_labels * 2 + result.mixed_printed]))
    block = np.diff(np.r_[starts, len(result.mixed_labels)])
    ticks = starts + block / 2 - 0.5
    labels = [f"{d}{'p' if p else 'h'}" for d, p in zip(result.mixed_labels[starts], result.mixed_printed[starts])]
    vmin = float(result.mixed_kernel.min())
    for ax, kernel, contrast, when in zip(axes[:2], result.mixed_kernel, result.cross_contrast,
                                          ("(a) initialization", "(b) trained on handwritten digits")):
        image = _kernel_image(ax, kernel, f"{when}\nhandwritten-printed: same digit {contrast[0]:.2f}, "
                              f"different {contrast[1]:.2f}", vmin=vmin, ticks=ticks, labels=labels)
        ax.tick_params(axis="x", labelrotation=90)
    bottom.colorbar(image, ax=axes[:2], shrink=0.8, label="normalized tangent kernel (trace)")
    sns.heatmap(result.confusion, ax=axes[2], annot=True, fmt="d", cmap="mako_r", cbar=False, square=True,
                annot_kws={"fontsize": "x-small"})
    axes[2].set_xlabel("predicted digit")
    axes[2].set_ylabel("printed digit")
    axes[2].set_title(f"(c) trained network on printed digits\naccuracy {result.printed_accuracy:.0%} "
                      f"(handwritten test {result.test_accuracy:.0%})", fontsize="medium")
    return fig


# --- Chapter "Shape filling in 2D" (experiments.shape_filling) ------------------

_SUITE_LABELS = {
    "shapes": "several shapes (number of shapes)",
    "nesting": "holes (nested boundary curves)",
    "spiral": "spirals (turns)",
    "maze": "mazes (cells per side)",
    "branches": "branches (strokes; training: 1 to 4)",
    "size": "larger images (size / training size)",
}


def _probability_panel(ax, image: np.ndarray, title: str) -> None:
    """A [0, 1] image (1 black), no ticks, with a title."""
    _image_panel(ax, np.repeat(1.0 - np.clip(image, 0, 1)[..., None], 3, axis=-1), title)


def shapefilling_examples(result) -> Figure:
    """In-distribution test images: the network's input (the filtered boundary), its
    prediction (probability) and the ground truth, with each image's IoU.

    `result` is a `pathkernel.experiments.shape_filling.Result`.
    """
    style()
    k = len(result.examples_input)
    fig, axes = plt.subplots(3, k, figsize=(2.4 * k, 7.6), layout="constrained", squeeze=False)
    for j in range(k):
        _probability_panel(axes[0, j], result.examples_input[j], "input (boundary)")
        _probability_panel(axes[1, j], result.examples_prediction[j],
                           f"prediction, IoU {result.test_iou[j]:.3f}\n(interior {result.test_interior_iou[j]:.3f})")
        _probability_panel(axes[2, j], result.examples_target[j], "ground truth")
    return fig


def shapefilling_failures(result) -> Figure:
    """The network's worst image at the highest complexity of each out-of-distribution
    suite: input, prediction (probability), ground truth, and its IoU.

    `result` is a `pathkernel.experiments.shape_filling.Result`.
    """
    style()
    names = result.suite_names
    fig, axes = plt.subplots(3, len(names), figsize=(2.4 * len(names), 7.6), layout="constrained", squeeze=False)
    for j, name in enumerate(names):
        last = np.flatnonzero(~np.isnan(result.complexity[j]))[-1]
        worst = np.nanmin(result.ood_iou[j, last])
        _probability_panel(axes[0, j], result.worst_input[j], f"{name} = {result.complexity[j, last]:g}\ninput")
        _probability_panel(axes[1, j], result.worst_prediction[j], f"prediction\nIoU {worst:.2f}")
        _probability_panel(axes[2, j], result.worst_target[j], "ground truth")
    return fig


def shapefilling_complexity(result) -> Figure:
    """Mean IoU against the complexity parameter of each out-of-distribution suite: the
    network (all pixels, and without the target's rim; the band is the 10-90% range over
    images), its in-distribution IoU, and the three oracles (nesting depth, flood fill,
    naive parity scan of Eq. 10) run on the boundary at the drawing resolution.

    `result` is a `pathkernel.experiments.shape_filling.Result`.
    """
    style()
    names = result.suite_names
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.9), layout="constrained",
                             sharey=True, squeeze=False)
    oracle_styles = [("nesting-depth parity", PALETTE[2], "-", 3.0), ("flood fill", PALETTE[4], "--", 1.4),
                     ("naive parity scan", PALETTE[3], ":", 1.6)]
    for j, (ax, name) in enumerate(zip(axes[0], names)):
        keep = ~np.isnan(result.complexity[j])
        x = result.complexity[j, keep]
        for m, (label, colour, dash, width) in enumerate(oracle_styles):
            ax.plot(x, result.oracle_iou[j, keep, m], dash, color=colour, lw=width, label=label, zorder=2 - m)
        scores = result.ood_iou[j, keep]
        ax.fill_between(x, np.quantile(scores, 0.1, axis=1), np.quantile(scores, 0.9, axis=1),
                        color=PALETTE[0], alpha=0.2, lw=0)
        ax.plot(x, scores.mean(axis=1), "o-", color=PALETTE[0], label="U-Net")
        ax.plot(x, result.ood_interior_iou[j, keep].mean(axis=1), "s--", color=PALETTE[1], markersize=4,
                label="U-Net, without the rim")
        ax.axhline(result.test_iou.mean(), color=PALETTE[0], lw=0.8, ls="-.", alpha=0.7,
                   label="U-Net in distribution")
        ax.set_xlabel(_SUITE_LABELS.get(name, name), fontsize="small")
        ax.set_xticks(x, labels=[f"{v:g}" for v in x])
        ax.tick_params(labelsize="x-small")
    axes[0, 0].set_ylabel("mean IoU")
    axes[0, 0].set_ylim(min(0.0, np.nanmin(result.oracle_iou) - 0.05), 1.03)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=6, fontsize="small", frameon=False)
    return fig


# --- Chapter "Planar topology in 1D" (experiments.parity_training) -------------


def parity1d_levels(result) -> Figure:
    """The exact ParityNet on one training sequence: block parities s^m going down the encoder
    (top) and the parities t^m up to each block's end coming back through the decoder (bottom).

    `result` is a `pathkernel.experiments.parity_training.Result`.
    """
    style()
    p = result.block_parity.shape[0] - 1
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5.2), layout="constrained", sharex=True)
    for ax, image, name, rows in ((axes[0], result.block_parity, "encoder: $s^m$", range(p + 1)),
                                  (axes[1], result.prefix_levels[::-1], "decoder: $t^m$", range(p, -1, -1))):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1.6, interpolation="nearest", aspect="auto")
        ax.set_yticks(range(p + 1), labels=[f"$m = {m}$" for m in rows], fontsize="small")
        ax.grid(False)
        for j in np.flatnonzero(result.example):
            ax.axvline(j, color=PALETTE[3], lw=1.0, alpha=0.6)
        ax.set_title(name, fontsize="medium")
    axes[0].set_title("encoder: $s^m$ (block parities; $s^0 = x$, red lines: the ones of $x$)", fontsize="medium")
    axes[1].set_title("decoder: $t^m$ (parity up to each block's end; $t^0$ = Eq. 10)", fontsize="medium")
    axes[1].set_xlabel("position $j$")
    return fig


def parity1d_training(result) -> Figure:
    """Training the structure: losses from a random initialization (exact architecture and with
    inserted convolutions), and the pixel error on Omega_{n,k'} of every run against k'.

    `result` is a `pathkernel.experiments.parity_training.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.0), layout="constrained")
    steps = np.arange(1, result.random_loss.shape[1] + 1)
    runs = (("exact architecture, random init", result.random_loss, result.random_error, PALETTE[0], "o"),
            ("with inserted convolutions, random init", result.extra_loss, result.extra_error, PALETTE[1], "s"),
            (f"exact architecture, $w^* + {result.sigmas[0]:g}\\,\\epsilon$", None, result.noise_error[0],
             PALETTE[2], "^"))
    for name, losses, errors, colour, marker in runs:
        if losses is not None:
            for r, curve in enumerate(losses):
                left.semilogy(steps, curve, color=colour, lw=1.2, alpha=0.8, label=name if r == 0 else None)
        for r, row in enumerate(errors):
            right.plot(result.k_eval, np.maximum(row, 1e-4), marker=marker, color=colour, alpha=0.8, lw=1,
                       label=name if r == 0 else None)
    left.set_xlabel("step")
    left.set_ylabel("training loss (MSE)")
    left.legend(fontsize="x-small")
    right.set_yscale("log")
    right.axvline(result.config.k_train, color="0.5", ls=":", lw=1)
    right.text(result.config.k_train, 0.6, " trained on this $k$", fontsize="x-small", color="0.4")
    right.axhline(1e-4, color="0.7", lw=0.8)
    right.set_xticks(result.k_eval)
    right.set_xlabel("number of ones $k'$ of the evaluation set $\\Omega_{n,k'}$")
    right.set_ylabel("pixel error (0 drawn at $10^{-4}$)")
    right.legend(fontsize="x-small", loc="lower right")
    return fig


def parity1d_noise(result) -> Figure:
    """Starting near the exact weights: fraction of seeds that end exact, and the mean pixel
    error on the unseen k', against the noise level sigma, for the exact architecture and the
    one with an enlarged first kernel.

    `result` is a `pathkernel.experiments.parity_training.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.9), layout="constrained")
    unseen = result.k_eval != result.config.k_train
    for name, exact, errors, colour in (
            ("exact architecture", result.noise_exact, result.noise_error, PALETTE[0]),
            (f"first kernel of size {result.config.wide_kernel}", result.wide_exact, result.wide_error, PALETTE[1])):
        left.semilogx(result.sigmas, exact.mean(axis=1), "o-", color=colour, label=name)
        right.loglog(result.sigmas, np.maximum(errors[:, :, unseen].mean(axis=(1, 2)), 1e-4), "o-", color=colour,
                     label=f"{name}, trained")
    right.loglog(result.sigmas, np.maximum(result.init_error[:, unseen].mean(axis=1), 1e-4), "x--", color="0.4",
                 label="exact architecture, before training")
    for ax in (left, right):
        _ticks_at(ax.xaxis, result.sigmas)
    left.set_ylim(-0.05, 1.05)
    left.set_xlabel("noise $\\sigma$ of the initialization $w^* + \\sigma \\epsilon$")
    left.set_ylabel(f"fraction of {result.config.seeds} seeds ending exact")
    left.legend(fontsize="x-small")
    right.set_xlabel("noise $\\sigma$")
    right.set_ylabel("mean pixel error on unseen $k'$ (0 at $10^{-4}$)")
    right.legend(fontsize="x-small")
    return fig


# --- Chapter "The two-peak task" (experiments.two_peaks) ------------------------

GROUP_MARKERS = ("<", "D", "o", ">")


def twopeaks_examples(result) -> Figure:
    """One input of each peak-position group (Fig. 11): the two peaks, the filled row, the
    central pixel and its label.

    `result` is a `pathkernel.experiments.two_peaks.Result`.
    """
    style()
    from pathkernel.experiments.two_peaks import GROUPS

    n, c = result.x.shape[1], result.x.shape[1] // 2
    fig, axes = plt.subplots(len(GROUPS), 1, figsize=(7.5, 3.8), layout="constrained", sharex=True)
    for g, ax in enumerate(axes):
        i = np.flatnonzero(result.group == g)[len(np.flatnonzero(result.group == g)) // 2]
        image = np.stack([result.x[i], result.filled[i]])
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1.6, interpolation="nearest", aspect="auto")
        ax.add_patch(plt.Rectangle((c - 0.5, 0.5), 1, 1, fill=False, ec=PALETTE[3], lw=2))
        ax.set_yticks([0, 1], labels=["input", "filled"], fontsize="x-small")
        ax.set_title(f"{GROUPS[g]}: peaks {tuple(int(p) for p in result.peaks[i])}, label {int(result.labels[i])}",
                     fontsize="small", loc="left")
        ax.grid(False)
    axes[-1].set_xticks(range(0, n, 4))
    axes[-1].set_xlabel(f"position (centre $c$ = {c}, red box)")
    return fig


def twopeaks_tsne(result) -> Figure:
    """t-SNE of the tangent features of all two-peak inputs, coloured by class, one marker per
    peak-position group (Fig. 12); training points drawn larger.

    `result` is a `pathkernel.experiments.two_peaks.Result`.
    """
    style()
    from pathkernel.experiments.two_peaks import GROUPS

    fig, ax = plt.subplots(figsize=(7.0, 5.2), layout="constrained")
    trained = np.zeros(len(result.x), dtype=bool)
    trained[result.train_index] = True
    for g, name in enumerate(GROUPS):
        for label in (0, 1):
            mask = (result.group == g) & (result.labels == label)
            if mask.any():
                ax.scatter(*result.embedding[mask].T, s=np.where(trained[mask], 30, 12), marker=GROUP_MARKERS[g],
                           color=PALETTE[label], edgecolors="0.3", linewidths=0.3, alpha=0.85,
                           label=f"{name}, class {label}")
        centre = result.embedding[result.group == g].mean(axis=0)
        ax.annotate(name, centre, fontsize="small", ha="center", weight="bold",
                    bbox=dict(boxstyle="round", fc="white", alpha=0.7, lw=0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize="x-small", ncol=2, loc="best", framealpha=0.8)
    return fig


def twopeaks_neighbours(result) -> Figure:
    """Nearest training points of every input, normalized NTK against Euclidean distance: the
    fraction of the k nearest that share exactly one peak with the query, and that share its label.

    `result` is a `pathkernel.experiments.two_peaks.Result`.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained", sharex=True)
    k = np.arange(1, len(result.ntk_one_peak) + 1)
    for ax, ntk, euclid, what in ((left, result.ntk_one_peak, result.euclid_one_peak, "share exactly one peak"),
                                  (right, result.ntk_same_label, result.euclid_same_label, "have the query's label")):
        ax.plot(k, ntk, "o-", color=PALETTE[0], label="normalized NTK")
        ax.plot(k, euclid, "s--", color=PALETTE[1], label="Euclidean")
        ax.set_ylim(0.4, 1.02)
        ax.set_xlabel("number of neighbours $k$")
        ax.set_ylabel(f"fraction of the $k$ nearest that {what}", fontsize="small")
        ax.legend(fontsize="small")
    return fig


def twopeaks_multipeak(result) -> Figure:
    """More than two peaks: accuracy on the training set and on the unseen inputs along training,
    full-batch gradient descent against Adam.

    `result` is a `pathkernel.experiments.two_peaks.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained", sharey=True)
    for ax, name, steps, train, unseen in zip(axes, ("full-batch gradient descent", "Adam"), result.multi_steps,
                                              result.multi_train_accuracy, result.multi_unseen_accuracy):
        ax.plot(steps, train, "--", color=PALETTE[0], label="training set")
        ax.plot(steps, unseen, "-", color=PALETTE[2], label="unseen inputs")
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("step")
        ax.legend(fontsize="small", loc="lower right")
    axes[0].set_ylabel("accuracy")
    axes[0].set_ylim(0.4, 1.02)
    return fig
