"""One module per chapter experiment: a `Config` with `quick()` / `paper()` presets and
`run(config, seed=0, *, device="cpu") -> Result` (arrays and numbers, no plotting).

Every `run` draws its data on the CPU with its seeded generators, moves the data and the
freshly initialized models to `device` and computes there; its `Result` holds CPU numpy
arrays and Python numbers whatever the device. On the CPU the moves are no-ops, so the
default reproduces the CPU results bit for bit (a GPU's arithmetic is not bit-identical).
"""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any, ClassVar

import torch

SCALES = ("quick", "paper", "large")
#: device types the figure command accepts (`check_device(..., types=DEVICES)`)
DEVICES = ("cpu", "cuda")


class Presets:
    """Mixin for a Config dataclass with `quick()` and `paper()` classmethods, and `large()`.

    `large()` is the preset the book renders from the results store beside the quick one: the
    paper preset itself where it runs on a CPU (the default); where that needs a GPU or many CPU
    hours or memory (the U-Net's 128² images, the parity trainings at sequences of 128, the
    kernel-regime networks of widths 8192 and 10^4), a stated smaller
    one (``scale="large"``) that 2 CPU cores run in minutes to a few hours. `large_reason`
    says why a study has a separate one and what the paper preset would cost.

    `sources` says, for every field but ``scale``, where the `paper()` value comes from:
    quoted from a paper ("S1 §6.1.2: 10 images per class") or our choice ("ours: the
    papers give no size; 200 keeps ...") — "paper" is the papers' setting only where our
    copies kept it.
    """

    sources: ClassVar[dict[str, str]] = {}
    large_reason: ClassVar[str] = ""

    @classmethod
    def from_scale(cls, scale: str | None = None):
        """The preset named by `scale`, default ``PATHKERNEL_SCALE`` (quick)."""
        scale = scale or current_scale()
        if scale not in SCALES:
            raise ValueError(f"scale={scale!r}; expected one of {SCALES}")
        return {"quick": cls.quick, "paper": cls.paper, "large": cls.large}[scale]()

    @classmethod
    def large(cls):
        """The preset the book renders from the store (the default: `paper()`); a study whose paper
        preset needs a GPU or many CPU hours overrides it with ``scale="large"`` and says why in
        `large_reason`."""
        return cls.paper()

    @classmethod
    def preset_rows(cls) -> list[tuple[str, Any, Any, str]]:
        """(field, quick value, paper value, source) for every field but ``scale``, in field order
        (`pathkernel.book.presets` adds the large preset's values where `has_large`).

        Raises ValueError naming the fields that have no source, or the sources that name no field.
        """
        names = [field.name for field in fields(cls) if field.name != "scale"]
        missing = [name for name in names if name not in cls.sources]
        unknown = sorted(set(cls.sources) - set(names))
        if missing or unknown:
            raise ValueError(f"{cls.__module__}.{cls.__qualname__}.sources: "
                             + (f"no source for {missing}" if missing else "")
                             + ("; " if missing and unknown else "")
                             + (f"{unknown} are not fields" if unknown else ""))
        quick, paper = cls.quick(), cls.paper()
        return [(name, getattr(quick, name), getattr(paper, name), cls.sources[name]) for name in names]

    @classmethod
    def has_large(cls) -> bool:
        """Whether the study has a separate large preset (``large().scale == "large"``)."""
        return cls.large().scale == "large"


def current_scale() -> str:
    """The scale the chapters run at: ``PATHKERNEL_SCALE`` (default "quick")."""
    scale = os.environ.get("PATHKERNEL_SCALE", "quick")
    if scale not in SCALES:
        raise ValueError(f"PATHKERNEL_SCALE={scale!r}; expected one of {SCALES}")
    return scale


def parameters_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter: where it computes (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def check_device(device: str | torch.device, *, types: tuple[str, ...] | None = None) -> torch.device:
    """`device` as a `torch.device` this machine has, checked before any work starts.

    Accepts what ``torch.device`` accepts ("cpu", "cuda", "cuda:1", a torch.device); `types`
    limits the device types (e.g. `DEVICES`). Raises ValueError naming the value when it is
    not a device, of another type, or not available here (CUDA or MPS missing, a CUDA index
    beyond the GPUs present).
    """
    if types:
        expected = "expected " + " or ".join(repr(t) for t in types) + (" (or 'cuda:N')" if "cuda" in types else "")
    else:
        expected = "expected a torch device such as 'cpu', 'cuda' or 'cuda:N'"
    if isinstance(device, bool):
        raise ValueError(f"device={device!r} is not a device; {expected}")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a device; {expected}") from None
    if types and resolved.type not in types:
        raise ValueError(f"device={device!r} is not supported here; {expected}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r}: CUDA is not available on this machine "
                             f"(torch {torch.__version__}); use 'cpu'")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0")
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r}: MPS is not available on this machine; use 'cpu'")
    return resolved
