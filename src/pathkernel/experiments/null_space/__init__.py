"""Chapter "What a kernel machine cannot learn": the integral operator of the path kernel, its null
space, and the generalization error (after Guo, He & Morel's remark; the construction is ours).

Inputs live on a uniform grid S of [-1, 1] (the sample of the input distribution mu, weights 1/m);
a task is a target y on S and a set of training inputs X inside S. Two studies:

* `theorem`: a fixed kernel (the linearized network, tangent kernel at w_0) trained by gradient
  descent; the test error against the bound of the chapter's theorem, at every step.
* `training`: the network itself, across tasks and training time; its test error against the
  energy of y - f_0 that the kernels of training (at w_0, at w_t, the path kernel, the exact
  segment-averaged path kernel) cannot reach from the training inputs.
"""

from __future__ import annotations

from pathkernel.experiments.null_space import theorem, training
from pathkernel.experiments.null_space.tasks import TARGETS, grid, task

__all__ = ["TARGETS", "grid", "task", "theorem", "training"]
