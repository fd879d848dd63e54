"""The papers' own results beside ours: the rows of each chapter's results table (issue 22).

For every study a chapter shows, `PAPER_VALUES[study]` lists the numbers that answer "what did
the paper claim, and what do we measure". Each `PaperValue` names a glued number of the study
(a key of ``study.numbers(result)``, filled in from the results at each scale by
`pathkernel.book`), says what it is, quotes the paper's value or claim with its source and
section, and explains in one sentence how to read the comparison. Quotes between “ and ” are
verbatim from the plain-text copies in ``papers/`` (S1 = Courtois, Morel & Arias, *Can neural
networks extrapolate?*; the Morel talk; the NTK blog; Guo–He–Morel, of which only the abstract,
captions and statement titles survive); "not in our copy" marks a value the conversion lost,
"the paper reports none" a measurement of our own. Notes state no value of ours: those come
from the results.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperValue:
    """One result row of a chapter's table: `number` is a key of ``study.numbers(result)``."""
    number: str    # glue name produced by the study's numbers(result), e.g. "linear-slope"
    quantity: str  # what it is, short, e.g. "order of the remainder in the learning rate"
    paper: str     # the paper's value quoted with source and section, e.g. "1: the remainder is O(η) (Domingos, Theorem 1)", or "not in our copy" / "the paper reports none"
    note: str      # what to compare and why ours may differ; no numbers of ours: a number of the study
                   # named in parentheses, "(glue-name)", is shown with our values (book.with_values)


_ORDER_ONE = ("1 at fixed time Tη: Theorem 2's remainder is a second-order Taylor term, O(Σ_k η_k²) "
              "(S1 §3.1, which assumes “the gradient of the loss Lipschitz-continuous”; formula lost in our copy)")
_ADAM = "none: for Adam S1 “could not derive an analogue of Theorem 1 for this optimizer” (§6.3)"
_GUO_NULL = ("not in our copy: Guo–He–Morel “link the generalization error to the null space of the integral "
             "operator induced by the stochastic gradient kernel” (abstract only)")

PAPER_VALUES: dict[str, tuple[PaperValue, ...]] = {
    "question": (
        PaperValue("question-parity", "shapes the parity scan of Eq. 10 fills exactly from the 8-neighbour boundary",
                   "all: “An elementary low complexity algorithm solves this task” (S1 §6, Eq. 10); "
                   "“it can be solved with 2 lines of code!” (Morel talk)",
                   "S1 states the scan for one-pixel transversal crossings, so a shortfall here comes from thick or "
                   "tangent boundaries in the data, not from a network."),
        PaperValue("question-flood", "shapes flood fill from the border recovers exactly", "the paper reports none",
                   "Flood fill is our reference for simply connected shapes; the papers use Eq. 10 only."),
    ),
    "kernel_machines": (
        PaperValue("kernelmachines-slope", "slope of the random-Fourier-feature error against the number of features",
                   "the paper reports none",
                   "Our own illustration: Rahimi and Recht's features reach the RBF kernel at the Monte Carlo rate "
                   "D^(-1/2), the reference for this slope."),
        PaperValue("kernelmachines-by-hand", "SVM decision function rebuilt by hand against scikit-learn's",
                   "the paper reports none",
                   "A check of the kernel-machine form of S1 Eq. 3 (§2.2), expected at float64 round-off at every scale."),
    ),
    "gradient_flow": (
        PaperValue("gradientflow-flow-residual", "remainder of Theorem 1 on the reference flow",
                   "0: “the time derivative of the network is exactly a kernel machine” (S1 §3.0.1, Theorem 1)",
                   "Theorem 1 is exact on the flow; ours is an ODE solver's flow at finite tolerance with a time "
                   "quadrature, so the remainder measures those errors."),
        PaperValue("gradientflow-slope", "order in η of the distance from gradient descent to the flow at fixed time",
                   "the paper reports none",
                   "Euler's method converges at order one (Hairer et al. §I.7), the reference; the fit covers the "
                   "preset's learning rates only."),
        PaperValue("gradientflow-weight-spread", "change of the weights a_i(x) from one query to another",
                   "nonzero: “This differs from typical kernel machines in that the” a_i and b depend on x "
                   "(Domingos, Remark 1, in the Morel talk)",
                   "This is what separates Theorem 1 from an ordinary kernel machine, whose weights are the same for "
                   "every query; the papers give no size for it."),
    ),
    "discrete_exact.theorem": (
        PaperValue("discrete-slope", "order of Theorem 2's remainder in the learning rate at fixed time", _ORDER_ONE,
                   "S1 gives no measurement; the slope is fitted on the learning rates up to the preset's fit_max_lr, "
                   "where steps are short against the network's curvature."),
        PaperValue("discrete-exact-max", "largest remainder of the exact segment-averaged form",
                   "the paper reports none (the exact form is ours)",
                   "Expected at round-off at every learning rate; a larger value would point at the quadrature, not "
                   "at the identity."),
    ),
    "discrete_exact.vector_outputs": (
        PaperValue("discrete-vector-slopes", "order of Theorem 3's remainder per output, at fixed time",
                   "1: Theorem 3 (S1 §3.2) carries Theorem 2's remainder to c outputs (formula lost in our copy)",
                   "S1 states Theorem 3 without a numerical check; three rings with cross-entropy are our example."),
    ),
    "linear_regression": (
        PaperValue("linear-max", "largest remainder of Theorem 2 for linear regression",
                   "0: “the term disappears and the formula becomes exact” (S1 §4.1)",
                   "Ours is float64 round-off accumulated over the steps, so it need not be exactly zero."),
        PaperValue("linear-slope", "order of a GELU MLP's remainder in the learning rate at fixed time", _ORDER_ONE,
                   "S1 gives no measurement for a network on this data; the slope is fitted up to the preset's "
                   "fit_max_lr."),
    ),
    "ball_sphere.network": (
        PaperValue("ballsphere-accuracy", "training accuracy of the GELU network",
                   "100%: “The network quickly reached an accuracy of 100%” (S1 §5.1.1)",
                   "S1's sample size, width, learning rate and iterations are lost in our copy, so our presets are "
                   "our choices."),
        PaperValue("ballsphere-svm-accuracy", "training accuracy of a linear SVM on the tangent features",
                   "100%: the SVM's boundary “closely matches the one obtained by the network, and that it reaches a "
                   "100% accuracy” (S1 §5.1.3)",
                   "S1 gives no SVM penalty; ours is large, a nearly hard margin."),
    ),
    "ball_sphere.residual": (
        PaperValue("ballsphere-residual-max", "largest remainder of the discrete formula over the sweep",
                   "not in our copy: S1 §5 measures “how well the RHS approximates the LHS when varying different "
                   "hyper-parameters”, its numbers are lost",
                   "Our sweep moves the learning rate, width and steps one at a time around a base setting of our "
                   "choosing."),
    ),
    "separable": (
        PaperValue("separable-accuracy", "training accuracy on the half-plane task",
                   "not in our copy (S1 §5.2 gives “The accuracy obtained by the network after training”, value lost)",
                   "S1's sizes are lost; our presets train until the set is separated at seed 0."),
        PaperValue("separable-aniso-end", "anisotropy of the kernel neighbourhoods after training (along / across)",
                   "“the learned deformation follows the direction orthogonal to” u (S1 §5.2, Fig. 5; no number)",
                   "S1 shows the neighbours of a few queries; the anisotropy is our measure of that sentence, 1 being "
                   "isotropic."),
    ),
    "separable_profile": (
        PaperValue("separable-profile-centre-over-ends", "anisotropy at the centre of the boundary over its ends",
                   "“is localized around the center of the space” (S1 §5.2; no number)",
                   "S1 shows one run; ours is a paired ratio over seeds with its interval, above 1 when the stretching "
                   "is localized at the centre."),
    ),
    "last_layer": (
        PaperValue("lastlayer-linear-gap", "gap between the network and a linear function of its tangent features",
                   "0: “the set of all the linear regressions that can be computed on the feature space contains the "
                   "network itself” (S1 §4.2)",
                   "An identity, so ours is expected at float64 round-off."),
        PaperValue("lastlayer-svm-full", "training accuracy of a linear SVM on the trained network's tangent features",
                   "100%: “If the network has a 100% accuracy, then the feature space will be perfectly linearly "
                   "separable” (S1 §4.2)",
                   "S1 checks it on the ball/sphere task, ours on two moons, and it holds only when the network itself "
                   "reaches 100% (lastlayer-net-full)."),
        PaperValue("lastlayer-agree-full", "sign agreement of the network and that SVM over a box",
                   "“the decision boundary obtained by the SVM closely matches the one obtained by the network” "
                   "(S1 §5.1.3)",
                   "S1 compares two pictures; our box reaches beyond the data, where nothing forces the two to agree."),
    ),
    "kernel_evolution.neighbourhoods": (
        PaperValue("kernelevolution-h-end", "label homogeneity of the kernel neighbourhoods at the end of training",
                   "“Training progressively sharpens these kernel neighborhoods toward label-homogeneous sets”; "
                   "Euclidean ones are “largely class mixed” (Guo–He–Morel, Fig. 1)",
                   "Guo et al. show pictures after SGD epochs and we train by full-batch Adam; compare with the "
                   "Euclidean homogeneity (kernelevolution-euclid-h)."),
    ),
    "kernel_evolution.waves": (
        PaperValue("kernelevolution-rmse-square", "root-mean-square error of the trained network on the square wave",
                   "not in our copy: Fig. 2(c) shows the “Learned prediction versus ground truth for the square-wave "
                   "target” (Guo–He–Morel, caption only)",
                   "Their figure gives no error; compare with the error on the sine (kernelevolution-rmse-sine), "
                   "which has no jump."),
    ),
    "kernel_evolution.svms": (
        PaperValue("kernelevolution-svm-ellipse-tangent", "accuracy of a linear SVM on the tangent features, ellipse task",
                   "not in our copy: Fig. 3 sets it beside “an SVM with a Gaussian RBF kernel on the raw inputs” on the "
                   "circle and “the anisotropic ellipse variant” (Guo–He–Morel, caption only)",
                   "Compare with the RBF SVM on the raw inputs (kernelevolution-svm-ellipse-rbf) and with the network "
                   "itself (kernelevolution-svm-ellipse-net)."),
    ),
    "kernel_evolution.umap": (
        PaperValue("kernelevolution-sil-end-unseen", "silhouette of the unseen digits in the trained tangent features",
                   "unseen digits 5–9 “fail to form distinct clusters” (Guo–He–Morel, Fig. 4)",
                   "Guo et al. judge a UMAP picture of MNIST; we score scikit-learn's 8x8 digits, a lower silhouette "
                   "meaning less distinct clusters."),
    ),
    "kernel_evolution.digits": (
        PaperValue("kernelevolution-printed-acc", "accuracy on printed digits of the network trained on handwriting",
                   "not in our copy: Fig. 5(c) is a confusion matrix “for classifying printed digits using the "
                   "network trained on MNIST” (Guo–He–Morel)",
                   "Our printed digits are rendered from matplotlib's fonts at the 8x8 digits' resolution, so their "
                   "domain gap differs from Guo et al.'s."),
    ),
    "kernel_regime.lazy_training": (
        PaperValue("kernelregime-weight-slope", "exponent of the relative weight change against the width",
                   "no rate: “The weights don't change much at all for larger hidden widths” (NTK blog, Setup)",
                   "The blog plots a few widths in PyTorch's parameterization; the chapter's reference is m^(-1) in the "
                   "NTK parameterization."),
    ),
    "kernel_regime.output_scale": (
        PaperValue("kernelregime-kernel-change-large", "relative change of the tangent kernel at the largest α",
                   "“larger α (pink) leads to a more constant NTK, while the NTK for smaller α (red) changes "
                   "significantly” (NTK blog, Seeing the Kernel Regime)",
                   "The blog shows ellipses, not numbers; compare with the kernel's change at the smallest α "
                   "(kernelregime-kernel-change-small)."),
    ),
    "kernel_regime.ntk_limit": (
        PaperValue("kernelregime-kernel-slope-relu", "exponent of the empirical NTK's error to the limit (ReLU)",
                   "no rate: the NTK “converges in probability to a deterministic limiting kernel” (Jacot et al., "
                   "Theorem 1, in the Morel talk)",
                   "Neither source gives a rate; the reference m^(-1/2) is that of averages over m independent units."),
    ),
    "null_space.theorem": (
        PaperValue("nullspace-margin", "smallest relative margin of a fixed kernel's test error over its bound",
                   _GUO_NULL,
                   "The theorem is ours, so the margin should be nonnegative up to round-off at every scale; a negative "
                   "value would be a bug, not a disagreement."),
    ),
    "null_space.training": (
        PaperValue("nullspace-square-ratio", "smallest ratio of test error to the path kernel's unreachable energy",
                   _GUO_NULL,
                   "For a network whose kernel moves the bound is no theorem; a ratio below 1 would mean the test "
                   "error went below the energy the path kernel cannot reach."),
    ),
    "stochastic.residual": (
        PaperValue("stochastic-slope-sgd", "order of the mini-batch SGD theorem's remainder at fixed time",
                   "no order: for SGD “it suffices to multiply each term in the summation over data points by an "
                   "indicator function” (Domingos, Remark 5, in the Morel talk)",
                   "First order follows from the same Taylor step as Theorem 2; the fit covers the preset's base rates "
                   "up to fit_max_lr."),
        PaperValue("stochastic-slope-adam", "order of the Adam theorem's remainder at fixed time", _ADAM,
                   "Adam's moment buffers remember many steps, so first order shows only at small rates and the slope "
                   "depends on the preset's range."),
    ),
    "stochastic.expectation": (
        PaperValue("stochastic-machine-gap", "gap between the mean SGD prediction and the expected kernel machine",
                   "“the expected network output admits a kernel-machine representation with optimizer-specific "
                   "weighting” (Guo–He–Morel, abstract)",
                   "Their statement is lost; ours is the first-order form, so the gap is its remainder plus the Monte "
                   "Carlo error of the seeds. The paper preset trains a wider network longer at the same rate, and the "
                   "remainder grows with the path; the exact form's gap (stochastic-mean-exact-gap) stays at round-off."),
    ),
    "stochastic_kernel.weak_order": (
        PaperValue("sk-weak-slope", "order in η of the gap between SGD and its SDE (ensembles)",
                   "1: Lemma 3.1 “First-order weak approximation of SGD” (Guo–He–Morel, after Li, Tai and E; "
                   "statement lost in our copy)",
                   "The quick preset is linear regression and the paper preset an MLP; first order only bounds the "
                   "gap by O(η), so a steeper slope (the MLP's) means its first-order term is small at these rates, "
                   "not that the lemma fails; only gaps above three standard errors enter the fit."),
    ),
    "stochastic_kernel.ito_term": (
        PaperValue("sk-ito-ratio-max", "largest Itô term relative to the kernel term",
                   "not in our copy: Theorem 3.4 “Stochastic Domingos' Theorem (SGD)” survives as a title only "
                   "(Guo–He–Morel)",
                   "Our theorem is derived from the titles; whether theirs has the same Itô term we cannot tell. "
                   "The largest is over the (η, B) pairs whose walkers all stayed finite; pairs where some diverged "
                   "(sk-ito-diverged) are left out, so it says nothing of the noisiest settings."),
    ),
    "stochastic_kernel.momentum": (
        PaperValue("sk-mom-z", "largest gap between the noise term and the memory term, in standard errors",
                   "not in our copy: Theorem 3.5 “(SGDM)” survives as a title only (Guo–He–Morel)",
                   "A check of our own momentum theorem: a few standard errors is what sampling noise gives."),
    ),
    "generative.ddpm": (
        PaperValue("generative-ddpm-small-stage", "share of a small-noise query's correction made in its own stage",
                   "“diffusion induces stage-wise, noise-localized corrections” (Guo–He–Morel, abstract)",
                   "Their measurement is lost; compare with the stage's share of the draws "
                   "(generative-ddpm-small-stage-uniform), which a stage-blind correction would match."),
    ),
    "generative.gan": (
        PaperValue("generative-gan-alignment", "alignment of the draws' corrections with the discriminator's push",
                   "“GANs induce distribution-guided corrections shaped by discriminator geometry” (Guo–He–Morel, "
                   "abstract)",
                   "The alignment is our reading of “shaped by discriminator geometry”, measured on an exact "
                   "decomposition."),
    ),
    "attribution": (
        PaperValue("attribution-additivity", "largest gap between the exact contributions' sum and the logit", _ADAM,
                   "The exact Adam form is ours; it is expected to close at float64 round-off at every scale."),
        PaperValue("attribution-spearman-best", "best rank agreement of TracIn-CP with the exact contributions",
                   "the paper reports none (TracIn-CP is Pruthi et al.'s estimate)",
                   "TracIn-CP samples the path at checkpoints and leaves out Adam's moments and step scale, so more "
                   "checkpoints need not close the gap."),
    ),
    "parity_rates": (
        PaperValue("parityrates-s1-random", "exact runs from a random initialization (S1's structure)",
                   "none: “the network never converged to the optimal solution” “despite heavy hyper-parameter "
                   "tuning” (S1 §6.1.3)",
                   "S1's n, k, optimizer and budget are lost and its structure is rebuilt from the prose, so one exact "
                   "run already contradicts “never”."),
        PaperValue("parityrates-s1-noise", "exact runs from w* plus noise σ (S1's structure)",
                   "all: “the network converged without any further help to an optimal solution” (S1 §6.1.3; σ's "
                   "bound lost in our copy)",
                   "S1's bound on σ is lost and our σ is of our choosing (parityrates-sigma), so a shortfall from "
                   "“all” may be a σ beyond S1's bound; read it with the mean pixel error on the unseen k' "
                   "(parityrates-s1-noise-error)."),
        PaperValue("parityrates-s1-wide", "exact runs from w* plus noise σ with the first kernel enlarged (S1's structure)",
                   "none: “by increasing the kernel size of one of the convolutions, the network stopped converging” "
                   "(S1 §6.1.3)",
                   "S1's enlarged size is lost and ours is our choice (parityrates-wide), with w* padded by zeros; one "
                   "exact run would contradict “stopped converging” (parityrates-s1-wide-verdict)."),
        PaperValue("parityrates-s1-extra-error", "pixel error on unseen k' with inserted convolutions (S1's structure)",
                   "not in our copy: “an error of order” (value lost), a solution “not the optimal one, but whose error "
                   "was low” (S1 §6.1.3)",
                   "Read it against the best constant output's error (parityrates-chance); S1's count and width of "
                   "inserted convolutions are lost."),
    ),
    "two_peaks.two_peak": (
        PaperValue("twopeaks-unseen-acc", "accuracy on the two-peak inputs never seen in training",
                   "100%: “The network reached 100% accuracy on both seen and unseen samples” (S1 §6.3)",
                   "S1's n, training-set size, learning rate and iterations are lost in our copy."),
        PaperValue("twopeaks-ntk-one", "inputs whose nearest training point under the normalized NTK shares one peak",
                   "“data points that share exactly one peak” are the closest (S1 §6.3; no number)",
                   "Euclidean distance ties every training point that shares one peak, so compare with the share "
                   "under Euclidean distance (twopeaks-euclid-one) and with the label agreement."),
    ),
    "two_peaks.multi_peak": (
        PaperValue("twopeaks-gd-unseen", "gradient descent's accuracy on the unseen inputs with more than two peaks",
                   "fails: “All experiments featuring more than two peaks failed to maintain its level of precision "
                   "outside the training set” (S1 §6.3)",
                   "One size and seed under the budget rule both optimizers share; compare with Adam's "
                   "(twopeaks-adam-unseen), and the sweep over sizes and seeds (two_peaks.sizes) for the claim."),
    ),
    "two_peaks.sizes": (
        PaperValue("twopeaks-sizes-holds", "training-set sizes where Adam's unseen accuracy beats gradient descent's",
                   "all: gradient descent “failed to maintain its level of precision outside the training set”; "
                   "“Changing the optimizer for Adam [9] fixed the this issue” (S1 §6.3)",
                   "S1 gives no sizes, learning rates or budget; ours trains both optimizers under one budget rule, "
                   "and where the row names no size, S1's claim (Adam fixes what gradient descent breaks) fails here."),
    ),
    "shape_filling": (
        PaperValue("shapefilling-test-iou", "U-Net's mean IoU on the test shapes",
                   "99.80%: “The network reached a final IOU (Intersection Over Union) of 99.80%” (S1 §6.2.3)",
                   "S1's U-Net widths and learning rate are lost in our copy, and on smaller images the ambiguous rim "
                   "weighs more in the IoU."),
        PaperValue("shapefilling-branches-iou", "U-Net's mean IoU at the highest branch count",
                   "fails: “further increasing the complexity of the presented shape causes the network to fail!” "
                   "(S1 §6.2.3); hard shapes at “IOU: 51%” and “IOU: 85%” (Morel talk)",
                   "The papers show single images; our suite averages many, and its highest level differs between "
                   "presets."),
    ),
    "shape_filling_architectures": (
        PaperValue("shapearch-local-blob", "local CNN's IoU on one large blob",
                   "fails: “It's an impossible task for CNNs working locally” (Morel talk)",
                   "The talk's local CNN is lost in our copy; ours sees a fixed window (shapearch-local-window), "
                   "smaller than a large blob's middle."),
    ),
}
