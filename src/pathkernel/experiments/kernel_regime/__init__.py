"""Chapter "The kernel regime: lazy training, output scaling and the infinite-width NTK"
(notebooks/kernel_regime.md), one module per study:

* `lazy_training`: weight change and distance to the linearization against the width and the
  output scale alpha, random networks as functions;
* `output_scale`: the blog's one-parameter toy and two data points in function space;
* `ntk_limit`: the empirical NTK against the infinite-width one, kernel regression with it;
* `common`: the chapter's data, checkpointed gradient descent and the power-law fit.

The old module names ``pathkernel.experiments.lazy_training``, ``output_scale`` and
``ntk_limit`` are kept as aliases of these modules.
"""
