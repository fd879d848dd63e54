"""One module per chapter experiment: a `Config` with `quick()` / `paper()` presets and
`run(config, seed=0) -> Result` (arrays and numbers, no plotting)."""

from __future__ import annotations

import os

SCALES = ("quick", "paper")


def current_scale() -> str:
    """The scale the chapters run at: ``PATHKERNEL_SCALE`` (default "quick")."""
    scale = os.environ.get("PATHKERNEL_SCALE", "quick")
    if scale not in SCALES:
        raise ValueError(f"PATHKERNEL_SCALE={scale!r}; expected one of {SCALES}")
    return scale
