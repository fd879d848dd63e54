"""SGD as a diffusion (Guo, He & Morel's route, after Li, Tai & E): the mini-batch gradient
covariance, the Euler-Maruyama simulation of the SDE (and of the
underdamped SDE of momentum), SGD ensembles, closed-form moments for
linear regression, and the kernel and Ito terms of E f(x, W_t).

Notation (DESIGN §3): L(w) = (1/n) sum_i 1/2 (f(w, x_i) - y_i)^2, l'_i = (f(w, x_i) - y_i) / n;
g_i(w) = n l'_i grad f(w, x_i) is example i's gradient, grad L = mean_i g_i; a mini-batch of
size B drawn uniformly without replacement estimates grad L by the mean of its g_i, with
covariance Sigma_B(w) = ((n - B) / (n - 1)) Sigma_1(w) / B.
"""

from pathkernel.sgd_diffusion.covariance import batch_covariance, noise_factor, per_example_gradients
from pathkernel.sgd_diffusion.ito import kernel_and_ito_rates
from pathkernel.sgd_diffusion.linear_moments import flow_moments, sde_moments, sgd_moments
from pathkernel.sgd_diffusion.momentum import mixed_curvature, underdamped_step
from pathkernel.sgd_diffusion.simulate import em_step, euler_maruyama, sgd_ensemble, sgd_step

__all__ = ["batch_covariance", "em_step", "euler_maruyama", "flow_moments", "kernel_and_ito_rates", "mixed_curvature",
           "noise_factor",
           "per_example_gradients", "sde_moments", "sgd_ensemble", "sgd_moments", "sgd_step", "underdamped_step"]
