"""One module per chapter experiment: a `Config` with `quick()` / `paper()` presets and
`run(config, seed=0) -> Result` (arrays and numbers, no plotting)."""

from __future__ import annotations

import os

SCALES = ("quick", "paper")


class Presets:
    """Mixin for a Config dataclass with `quick()` and `paper()` classmethods."""

    @classmethod
    def from_scale(cls, scale: str | None = None):
        """The preset named by `scale`, default ``PATHKERNEL_SCALE`` (quick)."""
        scale = scale or current_scale()
        if scale not in SCALES:
            raise ValueError(f"scale={scale!r}; expected one of {SCALES}")
        return cls.paper() if scale == "paper" else cls.quick()


def current_scale() -> str:
    """The scale the chapters run at: ``PATHKERNEL_SCALE`` (default "quick")."""
    scale = os.environ.get("PATHKERNEL_SCALE", "quick")
    if scale not in SCALES:
        raise ValueError(f"PATHKERNEL_SCALE={scale!r}; expected one of {SCALES}")
    return scale
