"""Figure helpers: one style, no computation (they draw experiment results)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

PALETTE = sns.color_palette("colorblind")


def style() -> None:
    """The book's plotting style (seaborn whitegrid, colorblind palette)."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook")


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
    ax.axhline(np.finfo(np.float64).eps, color="0.5", ls=":", lw=1, label="float64 machine epsilon")
    ax.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |residual|")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(lrs, labels=[f"{lr:g}" for lr in lrs])
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
    ax.axhline(np.finfo(np.float64).eps, color="0.5", ls=":", lw=1, label="float64 machine epsilon")
    ax.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |remainder $R$|")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(lrs, labels=[f"{lr:g}" for lr in lrs])
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
    right.xaxis.set_minor_formatter(NullFormatter())
    right.set_xticks(lrs, labels=[f"{lr:g}" for lr in lrs])
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
    right.axhline(np.finfo(np.float64).eps, color="0.5", ls=":", lw=1, label="float64 machine epsilon")
    right.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    right.set_ylabel("max$_x$ |R$_a$| (output a)")
    right.xaxis.set_minor_formatter(NullFormatter())
    right.set_xticks(lrs, labels=[f"{lr:g}" for lr in lrs])
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

