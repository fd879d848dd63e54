"""Chapter "Diffusion models and GANs in path-kernel form, decomposed exactly" (after Guo, He &
Morel's reading; the experiments are ours).

* `ddpm`: a tiny DDPM on a 2D mixture, recorded with its per-step draws (`pk.Recorder.step(...,
  inputs=, targets=)`), its denoiser's output at queries (x_t, t) split exactly over the training
  points and over the draws' noise levels.
* `gan`: a tiny GAN on the same mixture, two optimizers; its generator's output at latent queries
  split exactly over its latent draws, each draw's term the discriminator's push at its sample
  transported by the kernel.
"""

from __future__ import annotations

from pathkernel.experiments.generative import ddpm, gan
from pathkernel.experiments.generative.data import alpha_bar, mixture

__all__ = ["alpha_bar", "ddpm", "gan", "mixture"]
