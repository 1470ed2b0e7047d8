"""CNN-BiLSTM: the CNN reads waveform shape, the BiLSTM reads its feature map along time.

Input: 1 x H x W ink map of the trace area (1 = trace). The CNN reduces it to C x H' x W';
each of the W' columns (a slice of time across all lead rows) becomes one step of a
sequence, the BiLSTM reads that sequence both ways, and an attention pool (or mean / last
state) gives one logit for "risky".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network; saved inside every weights file."""

    in_channels: int = 1
    input_height: int = 256
    input_width: int = 512
    stem_channels: int = 16
    channels: tuple[int, ...] = (24, 32, 48, 64)
    lstm_hidden: int = 64
    lstm_layers: int = 1
    step_features: int = 128
    pooling: str = "attention"  # attention | mean | last
    dropout: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model settings in weights file: {sorted(unknown)}")
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(int(c) for c in d["channels"])
        return cls(**d)

    @property
    def feature_hw(self) -> tuple[int, int]:
        """Height and width of the last conv block's output (width = sequence length)."""
        n = len(self.channels)
        return self.input_height // 2 ** (n + 1), self.input_width // 2 ** n

    def validate(self) -> None:
        n = len(self.channels)
        fh, fw = 2 ** (n + 1), 2 ** n
        if self.input_height % fh or self.input_width % fw:
            raise ValueError(
                f"input size {self.input_height}x{self.input_width}: the height must be divisible "
                f"by {fh} and the width by {fw} (stem and {n} conv blocks halve them)"
            )
        if self.pooling not in ("attention", "mean", "last"):
            raise ValueError(f"pooling must be attention, mean or last, not {self.pooling!r}")


class ConvBlock(nn.Sequential):
    """conv3x3-BN-ReLU, then max-pool (the last block pools height only, keeping time steps)."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int] = (2, 2)) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(pool),
        )


class ECGNet(nn.Module):
    """The CNN-BiLSTM. ``forward`` returns one logit per image, shape (B, 1)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        config.validate()
        # A strided 5x5 stem halves the input at once: the traces are 1-2 px wide there, and
        # full-resolution 3x3 stacks would cost most of the time for little gain.
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, config.stem_channels, 5, stride=2, padding=2, bias=False),
            nn.BatchNorm2d(config.stem_channels),
            nn.ReLU(inplace=True),
        )
        blocks = []
        c_in = config.stem_channels
        for i, c_out in enumerate(config.channels):
            last = i == len(config.channels) - 1
            blocks.append(ConvBlock(c_in, c_out, (2, 1) if last else (2, 2)))
            c_in = c_out
        self.features = nn.Sequential(self.stem, *blocks[:-1])
        # The last block on its own, so Grad-CAM can hook it by name (it must be a conv
        # block: an nn.LSTM returns a tuple and gives Grad-CAM no gradients).
        self.last_conv = blocks[-1]
        h_out = config.feature_hw[0]
        self.to_steps = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(c_in * h_out, config.step_features),
            nn.ReLU(inplace=True),
        )
        self.lstm = nn.LSTM(config.step_features, config.lstm_hidden, num_layers=config.lstm_layers,
                            batch_first=True, bidirectional=True)
        self.attn = nn.Linear(2 * config.lstm_hidden, 1)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(2 * config.lstm_hidden, 1))

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The BiLSTM's input: (B, W', step_features), one step per feature-map column."""
        fmap = self.last_conv(self.features(x))
        b, c, h, w = fmap.shape
        steps = fmap.permute(0, 3, 1, 2).reshape(b, w, c * h)
        return self.to_steps(steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected input (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        # Channels-last (the layout weights.build_model and training give the network): oneDNN's
        # and cuDNN's fastest convolutions; an input in another layout would be converted by
        # every convolution on its own.
        x = x.contiguous(memory_format=torch.channels_last)
        seq, _ = self.lstm(self.sequence(x))
        if self.config.pooling == "attention":
            weights = torch.softmax(self.attn(seq), dim=1)
            pooled = (weights * seq).sum(dim=1)
        elif self.config.pooling == "mean":
            pooled = seq.mean(dim=1)
        else:
            half = self.config.lstm_hidden
            pooled = torch.cat([seq[:, -1, :half], seq[:, 0, half:]], dim=1)
        return self.head(pooled)


def fuse_for_inference(model: ECGNet) -> ECGNet:
    """The same network in eval mode with every batch norm folded into the convolution before
    it (its scale into the weights, its shift into a bias), for scoring and saliency only.

    At inference a batch norm is a fixed affine map per channel, yet it reads and writes the
    whole feature map once more: a fifth of a forward pass on the CPU. Folded, the outputs
    agree to float rounding and every module keeps its place (Grad-CAM hooks ``last_conv``),
    but the network can no longer be trained: fold a copy, never the model being trained.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                fused = fuse_conv_bn_eval(conv, bn)
                seq[i] = fused.to(memory_format=torch.channels_last)
                seq[i + 1] = nn.Identity()
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass
class Checkpoint:
    """What a weights file holds (all plain types, so ``weights_only=True`` loads it)."""

    model: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    temperature: float = 1.0
    threshold: float = 0.5
    class_names: tuple[str, str] = ("normal", "risky")
    pipeline: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
