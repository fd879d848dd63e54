import torch

from pathkernel.losses import loss_derivative, prepare_targets
from reference import randn


def test_mse_derivative_is_residual_over_n():
    out, y = randn(6, 2, seed=0), randn(6, 2, seed=1)
    torch.testing.assert_close(loss_derivative("mse", out, y), (out - y) / 6, rtol=1e-14, atol=0)


def test_bce_derivative_is_sigmoid_minus_target_over_n():
    out = randn(6, 1, seed=0)
    y = prepare_targets("bce", torch.tensor([0, 1, 1, 0, 1, 0]), 6, 1, torch.float64)
    torch.testing.assert_close(loss_derivative("bce", out, y), (torch.sigmoid(out) - y) / 6, rtol=1e-13, atol=1e-16)


def test_cross_entropy_derivative_is_softmax_minus_onehot_over_n():
    out, y = randn(5, 3, seed=2), torch.tensor([0, 2, 1, 1, 0])
    onehot = torch.nn.functional.one_hot(y, 3).double()
    expected = (torch.softmax(out, dim=1) - onehot) / 5
    torch.testing.assert_close(loss_derivative("cross_entropy", out, y), expected, rtol=1e-13, atol=1e-16)
