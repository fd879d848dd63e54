"""The module paths from before the sub-packages (issue 17) still import, and give the same
objects as the new homes: `pathkernel.structured` (now `pathkernel.kernels.structured`),
`pathkernel.replay` and `pathkernel.snapshots` (now in `pathkernel.recording`) are aliases of
those modules; `pathkernel.attribution`, `.kernels`, `.training`, `.data.digits` and
`.data.planar2d` re-export what they defined."""

import importlib

import pytest

import pathkernel as pk
from pathkernel import kernels, recording, training
from pathkernel.data import digits, planar2d

ALIASES = {
    "pathkernel.structured": "pathkernel.kernels.structured",
    "pathkernel.replay": "pathkernel.recording.replay",
    "pathkernel.snapshots": "pathkernel.recording.snapshots",
}

# every public name each former module defined (and any name of it used in tests, notebooks, benchmarks)
FORMER_NAMES = {
    "pathkernel.structured": "ELEMENTWISE AFFINE DROPOUT PARAMETER_SETS Affine Run Layer Chain chain_of Side side "
                             "kernel diagonal features directional",
    "pathkernel.replay": "FINGERPRINT_ENTRIES CACHED_SEGMENTS automatic_interval ReplayDivergedError ReplayStore "
                         "ReplayParams ReplayScales",
    "pathkernel.snapshots": "INITIAL_ROWS MAX_GROWTH_BYTES ZERO_CHUNK_BYTES UNSUPPORTED reserve host_copy SnapshotFile "
                            "SnapshotMemory snapshot_store",
    "pathkernel.attribution": "COUPLING_MODULES RecordingError Recorder TopExamples top_examples",
    "pathkernel.kernels": "DEFAULT_MAX_MEMORY METHODS chain_for jacobian jacobian_chunks trainable_features "
                          "tangent_features tangent_kernel structured",
    "pathkernel.training": "OPTIMIZERS ADAM_FAMILY SUPPORTED_TORCH_OPTIMIZERS TrainingDivergedError TrainingPath "
                           "optimizer_rule adam_scales train",
    "pathkernel.data.digits": "FONTS RENDER MNIST_FILES CIFAR10_FILES balanced_subset handwritten_digits "
                              "render_glyph affine_jitter optdigits_reduce printed_digits read_idx load_mnist "
                              "load_cifar10",
    "pathkernel.data.planar2d": "EIGHT star_radius random_shape boundary fill_parity fill_flood fill_depth "
                                "segment_distance rasterize_strokes branched_shape lanczos_downsample network_pair",
}


@pytest.mark.parametrize("former", list(ALIASES))
def test_a_former_path_is_the_new_module(former):
    module = importlib.import_module(former)
    assert module is importlib.import_module(ALIASES[former])
    assert getattr(pk, former.rsplit(".", 1)[1]) is module  # an attribute of the package, as before


@pytest.mark.parametrize("former", list(FORMER_NAMES))
def test_a_former_module_keeps_its_names(former):
    module = importlib.import_module(former)
    missing = [name for name in FORMER_NAMES[former].split() if not hasattr(module, name)]
    assert not missing, f"{former} lost {missing}"


def test_re_exports_are_the_objects_themselves():
    from pathkernel.attribution import Recorder, RecordingError
    from pathkernel.replay import ReplayDivergedError
    from pathkernel.structured import chain_of

    assert Recorder is recording.Recorder is pk.Recorder and RecordingError is pk.RecordingError
    assert ReplayDivergedError is recording.ReplayDivergedError
    assert chain_of is kernels.structured.chain_of
    assert training.train is pk.train and kernels.tangent_kernel is pk.tangent_kernel
    assert digits.printed_digits.__module__ == "pathkernel.data.digits.printed"
    assert planar2d.fill_depth.__module__ == "pathkernel.data.planar2d.oracles"


def test_patching_a_former_module_patches_the_code_that_reads_it(monkeypatch, tmp_path):
    import torch

    from pathkernel import snapshots

    monkeypatch.setattr(snapshots, "INITIAL_ROWS", 3)
    store = recording.SnapshotFile(tmp_path, "rows.f8", 2, torch.float64)
    assert (tmp_path / "rows.f8").stat().st_size == 3 * 2 * 8
    store.append(torch.ones(2, dtype=torch.float64))
    assert store.tensor().shape == (1, 2)
