"""The CNN-BiLSTM: shapes, gradients, config round trip, safe weights files."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ecg_model.errors import WeightsError
from ecg_model.model import ECGNet, ModelConfig, count_parameters
from ecg_model.weights import atomic_torch_save, build_model, load_checkpoint, load_model


@pytest.mark.parametrize("pooling", ["attention", "mean", "last"])
def test_forward_and_backward_shapes(pooling):
    torch.manual_seed(0)
    model = ECGNet(ModelConfig(pooling=pooling))
    x = torch.rand(3, 1, 256, 512, requires_grad=True)
    out = model(x)
    assert out.shape == (3, 1)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    unused = ("attn.",) if pooling != "attention" else ()
    grads = [p.grad for n, p in model.named_parameters() if not n.startswith(unused)]
    assert all(g is not None for g in grads)
    assert count_parameters(model) < 5_000_000  # small enough to ship (weights < 20 MB)


def test_sequence_runs_along_time():
    model = ECGNet(ModelConfig()).eval()
    seq = model.sequence(torch.rand(2, 1, 256, 512))
    assert seq.shape == (2, 512 // 16, model.config.step_features)


def test_bad_sizes_are_explained():
    with pytest.raises(ValueError, match="divisible"):
        ECGNet(ModelConfig(input_height=250))
    with pytest.raises(ValueError, match="expected input"):
        ECGNet(ModelConfig())(torch.rand(1, 3, 256, 512))


def test_config_round_trip_and_unknown_keys():
    cfg = ModelConfig(channels=(8, 16, 24, 32), lstm_hidden=32)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model settings"):
        ModelConfig.from_dict({**cfg.to_dict(), "evil": 1})


def test_weights_file_round_trip(tiny_weights):
    model, ckpt = load_model(tiny_weights)
    assert isinstance(model, ECGNet) and not model.training
    reference = build_model(load_checkpoint(tiny_weights))
    x = torch.rand(1, 1, 256, 512)
    with torch.inference_mode():
        assert torch.allclose(model(x), reference(x))


def test_truncated_and_foreign_weights_are_refused(tmp_path, tiny_weights):
    data = tiny_weights.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match="damaged"):
        load_checkpoint(cut)
    text = tmp_path / "text.pt"
    text.write_text("not a weights file")
    with pytest.raises(WeightsError):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(WeightsError, match="not an ecg_model weights file"):
        load_checkpoint(foreign)
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_pickled_objects_are_never_loaded(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('pwned').write_text('x')",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "ecg_model/1", "payload": Evil()}, path)
    with pytest.raises(WeightsError):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_mismatched_state_dict_is_refused(tmp_path, tiny_weights):
    ckpt = load_checkpoint(tiny_weights)
    ckpt["model"] = {**ckpt["model"], "lstm_hidden": 16}
    path = tmp_path / "mismatch.pt"
    atomic_torch_save(ckpt, path)
    with pytest.raises(WeightsError, match="do not fit"):
        load_model(path)


def test_folded_batch_norms_give_the_same_logits_and_saliency():
    """The Predictor scores with its batch norms folded into the convolutions: the logits and
    the Grad-CAM map must be those of the trained network (and the copy no longer has any)."""
    from ecg_model.explain import compute_cam
    from ecg_model.model import fuse_for_inference

    torch.manual_seed(0)
    trained = ECGNet(ModelConfig(channels=(16, 24, 32))).to(memory_format=torch.channels_last)
    # Batch statistics far from the defaults, as training leaves them.
    for m in trained.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    trained.eval()
    folded = fuse_for_inference(copy.deepcopy(trained))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = (torch.rand(3, 1, 256, 512) > 0.95).float()
    with torch.inference_mode():
        a, b = trained(x), folded(x)
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    cam_a = compute_cam(trained, x[0, 0].numpy(), 1)
    cam_b = compute_cam(folded, x[0, 0].numpy(), 1)
    assert np.abs(cam_a - cam_b).max() < 1e-3
