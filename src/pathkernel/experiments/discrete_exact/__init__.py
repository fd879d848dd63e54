"""Chapter "Domingos' theorem, discrete and exact" (notebooks/discrete_exact.md): two studies.

* `theorem`: the remainder of Theorem 2 (scalar output) against the learning rate at a fixed
  training time, with and without the exact segment-averaged kernel; it also holds
  `query_points`, the query disk that other chapters' experiments share;
* `vector_outputs`: the same for Theorem 3 (three logits, matrix-valued tangent kernel).

Each study has its `Config` (quick / paper), `Result`, `run(config, seed=0, *, device="cpu")`
and `numbers(result)`. The old module names ``pathkernel.experiments.discrete_theorem`` and
``pathkernel.experiments.vector_outputs`` are aliases of these two modules.
"""

from pathkernel.experiments.discrete_exact import theorem, vector_outputs

__all__ = ["theorem", "vector_outputs"]
