import numpy as np
import pytest
import torch

from pathkernel.segmentation import Lookahead, iou, predict, random_flips, rim, segmentation_loss, train_segmentation
from pathkernel.unet import UNet


def test_iou_of_a_hand_computed_example():
    prediction = np.array([[1, 1, 0], [0, 1, 0]], dtype=bool)
    truth = np.array([[1, 0, 0], [0, 1, 1]], dtype=bool)
    # intersection {(0,0), (1,1)}: 2 pixels; union adds (0,1) and (1,2): 4 pixels
    assert iou(prediction, truth).tolist() == [0.5]
    # leaving out (0,1): intersection 2, union 3
    ignore = np.zeros_like(truth)
    ignore[0, 1] = True
    assert iou(prediction, truth, ignore=ignore).tolist() == [2 / 3]
    empty = np.zeros((2, 4, 4), dtype=bool)
    batch = np.stack([prediction, truth, ~truth])
    assert iou(empty, empty).tolist() == [1.0, 1.0]
    assert iou(batch, np.stack([truth, truth, truth])).tolist() == [0.5, 1.0, 0.0]


def test_iou_rejects_soft_or_mismatched_masks():
    with pytest.raises(TypeError, match="float64"):
        iou(np.zeros((2, 2)), np.zeros((2, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        iou(np.zeros((2, 2), dtype=bool), np.zeros((2, 3), dtype=bool))


def test_rim_is_the_ring_around_the_edge():
    truth = np.zeros((7, 7), dtype=bool)
    truth[2:5, 2:5] = True
    expected = np.zeros((7, 7), dtype=bool)
    expected[1:6, 1:6] = True  # the 3x3 square dilated by the 4-neighbourhood is a plus-shaped 5x5 ...
    expected[[1, 1, 5, 5], [1, 5, 1, 5]] = False  # ... without its corners
    expected[3, 3] = False  # the centre is the only pixel of the eroded square
    assert np.array_equal(rim(truth), expected)
    assert np.array_equal(rim(np.stack([truth, ~truth]))[0], expected)


def test_losses_against_their_formulas():
    logits = torch.tensor([[-2.0, 0.5], [1.5, 0.0]], dtype=torch.float64)
    targets = torch.tensor([[0.0, 1.0], [0.3, 0.5]], dtype=torch.float64)
    p = 1 / (1 + torch.exp(-logits))
    bce = -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()
    torch.testing.assert_close(segmentation_loss(logits, targets, "bce"), bce, rtol=1e-12, atol=0)
    torch.testing.assert_close(segmentation_loss(logits, targets, "mse"), ((p - targets) ** 2).mean(), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="'l1'"):
        segmentation_loss(logits, targets, "l1")


def test_lookahead_against_a_hand_written_loop():
    """SGD on 1/2 ||w - c||^2 with Lookahead k=3, alpha=0.5, written out step by step."""
    c = torch.tensor([1.0, -2.0], dtype=torch.float64)
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = Lookahead(torch.optim.SGD([w], lr=0.1), k=3, alpha=0.5)
    fast = np.zeros(2)
    slow = np.zeros(2)
    for step in range(1, 8):
        optimizer.zero_grad()
        (0.5 * ((w - c) ** 2).sum()).backward()
        optimizer.step()
        fast = fast - 0.1 * (fast - c.numpy())
        if step % 3 == 0:
            slow = slow + 0.5 * (fast - slow)
            fast = slow.copy()
        np.testing.assert_allclose(w.detach().numpy(), fast, rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match="alpha=0"):
        Lookahead(torch.optim.SGD([w], lr=0.1), alpha=0)


def test_random_flips_flip_image_and_target_together():
    images = torch.arange(64 * 2 * 3, dtype=torch.float64).reshape(64, 1, 2, 3)
    targets = -images
    flipped, flipped_targets = random_flips(images, targets, torch.Generator().manual_seed(0))
    seen = set()
    for a, b, original in zip(flipped, flipped_targets, images):
        options = {(v, h): original.flip(-2) if v else original for v in (0, 1) for h in (0, 1)}
        options = {key: (value.flip(-1) if key[1] else value) for key, value in options.items()}
        match = [key for key, value in options.items() if torch.equal(a, value)]
        assert len(match) == 1 and torch.equal(b, -a)
        seen.add(match[0])
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1)}


def _tiny_data():
    g = torch.Generator().manual_seed(0)
    targets = (torch.rand(10, 1, 8, 8, generator=g) < 0.3).double()
    images = 0.5 * targets + 0.1 * torch.rand(10, 1, 8, 8, generator=g, dtype=torch.float64)
    return images, targets


def _weights(model):
    return torch.nn.utils.parameters_to_vector(model.state_dict().values())


@pytest.mark.parametrize("optimizer", ["ranger", "adam"])
def test_same_seed_same_weights(optimizer):
    images, targets = _tiny_data()
    runs = []
    for _ in range(2):
        model = UNet(scales=2, width=2, seed=1, dtype=torch.float64)
        train_segmentation(model, images, targets, epochs=2, batch_size=4, optimizer=optimizer, seed=5)
        runs.append(_weights(model))
    assert torch.equal(runs[0], runs[1])
    model = UNet(scales=2, width=2, seed=1, dtype=torch.float64)
    train_segmentation(model, images, targets, epochs=2, batch_size=4, optimizer=optimizer, seed=6)
    assert not torch.equal(runs[0], _weights(model))


@pytest.mark.parametrize("optimizer", ["ranger", "adam"])
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path, optimizer):
    """Stop after 2 of 4 epochs, resume in a fresh model from the file: same weights, same
    history (Lookahead's slow weights and the plateau schedule's counters are restored)."""
    images, targets = _tiny_data()
    kwargs = dict(batch_size=4, optimizer=optimizer, seed=2, patience=0, lr=0.05)
    whole = UNet(scales=2, width=2, seed=1, dtype=torch.float64)
    expected = train_segmentation(whole, images, targets, epochs=4, **kwargs)
    path = tmp_path / "checkpoint.pt"
    train_segmentation(UNet(scales=2, width=2, seed=1, dtype=torch.float64), images, targets, epochs=2,
                       checkpoint=path, **kwargs)
    resumed = UNet(scales=2, width=2, seed=9, dtype=torch.float64)  # a different init: the checkpoint wins
    history = train_segmentation(resumed, images, targets, epochs=4, checkpoint=path, **kwargs)
    assert torch.equal(_weights(resumed), _weights(whole))
    assert history.loss == expected.loss and history.lr == expected.lr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_a_gpu_follows_the_cpu_run():
    """Same batches and flips on both devices (drawn on the CPU): float64 weights agree to
    round-off, and predictions come back to the CPU."""
    images, targets = _tiny_data()
    kwargs = dict(epochs=2, batch_size=4, optimizer="ranger", seed=3)
    cpu = UNet(scales=2, width=2, seed=1, dtype=torch.float64)
    train_segmentation(cpu, images, targets, **kwargs)
    gpu = UNet(scales=2, width=2, seed=1, dtype=torch.float64)
    train_segmentation(gpu, images, targets, device="cuda", **kwargs)
    torch.testing.assert_close(_weights(gpu).cpu(), _weights(cpu), rtol=1e-9, atol=1e-11)
    assert predict(gpu, images).device.type == "cpu"


def test_plateau_schedule_divides_the_rate_by_ten():
    """ReduceLROnPlateau's rule written out: after an epoch whose mean loss is not below
    (1 - 1e-4) times the best so far, patience 0 divides the rate by 10. Adam at lr 1 makes
    the loss jump, so both cases occur."""
    images, targets = _tiny_data()
    model = UNet(scales=1, width=2, seed=0, dtype=torch.float64)
    history = train_segmentation(model, images, targets, epochs=6, batch_size=10, optimizer="adam", lr=1.0,
                                 patience=0, seed=0, flips=False)
    rates = np.array(history.lr)
    losses = np.array(history.loss)
    best = np.minimum.accumulate(losses)
    for e in range(1, len(rates)):
        improved = losses[e - 1] < best[e - 2] * (1 - 1e-4) if e >= 2 else True
        assert rates[e] == pytest.approx(rates[e - 1] * (1.0 if improved else 0.1))
    assert rates[-1] < rates[0]


def test_training_reduces_the_loss():
    images, targets = _tiny_data()
    model = UNet(scales=2, width=4, seed=0, dtype=torch.float64)
    history = train_segmentation(model, images, targets, epochs=10, batch_size=5, optimizer="adam", lr=5e-2, seed=0)
    assert history.loss[-1] < 0.5 * history.loss[0]


def test_bad_training_arguments():
    images, targets = _tiny_data()
    model = UNet(scales=1, width=2, dtype=torch.float64)
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        train_segmentation(model, images, targets, epochs=1, optimizer="sgd")
    with pytest.raises(ValueError, match="loss='l1'"):
        train_segmentation(model, images, targets, epochs=1, loss="l1")
    with pytest.raises(ValueError, match=r"\(10, 1, 8, 7\)"):
        train_segmentation(model, images, targets[..., :7], epochs=1)
    with pytest.raises(ValueError, match="epochs=0"):
        train_segmentation(model, images, targets, epochs=0)


def test_predict_is_the_batched_sigmoid_and_keeps_no_graph():
    """predict against sigmoid(model(x)) in one eval-mode call: equal values, by any batch size,
    and no autograd graph (each batch's activations would otherwise be held until the end)."""
    model = UNet(in_channels=1, out_channels=1, width=4, scales=2, seed=0)
    images = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    model.eval()
    reference = torch.sigmoid(model(images)).detach()
    for batch_size in (1, 2, 64):
        probabilities = predict(model, images, batch_size=batch_size)
        assert not probabilities.requires_grad and probabilities.grad_fn is None
        torch.testing.assert_close(probabilities, reference, rtol=1e-6, atol=1e-7)
