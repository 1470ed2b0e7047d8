"""Grad-CAM on the last conv block, and overlays on the cleaned page and the original photo."""

from __future__ import annotations

import copy
import threading
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import torch
from .gradcam_import import import_grad_cam
from .model import ECGNet

# Method name -> class name in the grad-cam package. The package is imported on first use,
# without the libraries it loads for features not used here (``gradcam_import``).
CAM_METHODS: dict[str, str] = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "eigencam": "EigenCAM",
    # Guided Grad-CAM (Selvaraju et al. 2017): Grad-CAM times guided backpropagation. Grad-CAM
    # alone is as coarse as the last feature map (about 8 x 16 mm of paper per cell); the
    # product keeps its class evidence at pixel resolution, on the strokes themselves.
    "guided-gradcam": "GradCAM",
}


def _cam_class(method: str) -> Any:
    return getattr(import_grad_cam(), CAM_METHODS[method])


class _TwoLogits(torch.nn.Module):
    """(-z, z) from the one-logit model, so that class 0 ("normal") has an output to explain."""

    def __init__(self, model: ECGNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return torch.cat([-z, z], dim=1)


def guided_backprop(model: ECGNet, x: np.ndarray, target_label: int) -> np.ndarray:
    """|guided-backpropagation gradient| of the class's logit with respect to the input.

    The grad-cam package swaps the ReLU modules of the model it is given; it gets a copy here,
    so the shared model is never altered, even for a moment.
    """
    GuidedBackpropReLUModel = import_grad_cam().GuidedBackpropReLUModel  # noqa: N806 - the package's name

    device = next(model.parameters()).device
    copy_ = _TwoLogits(copy.deepcopy(model)).to(device).eval()
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None].to(device)
    cudnn_off = torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else nullcontext()
    with cudnn_off:
        grad = GuidedBackpropReLUModel(copy_, device=device)(tensor, target_category=int(target_label))
    return np.abs(np.asarray(grad, np.float32)[..., 0])


class _DecidedTarget:
    """A Grad-CAM target whose class (1 risky, 0 normal) is decided from the logit of the very
    forward pass being explained, so that one pass both scores the image and is explained."""

    def __init__(self, decide: Callable[[float], int]) -> None:
        self.decide = decide
        self.label: int | None = None

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        z = output.reshape(-1)[0]
        if self.label is None:
            self.label = int(self.decide(float(z.detach())))
        return z if self.label == 1 else -z


@contextmanager
def _gradients_from(layer: torch.nn.Module, model: torch.nn.Module) -> Iterator[None]:
    """Only ``layer``'s parameters require gradients for a while (the flags are restored after).

    The CAM methods here need the gradient at ``layer``'s output and nothing before it, but a
    backward pass goes on to every parameter that asks for one: through all the convolutions
    before the target, which cost most of the forward pass again. With those parameters
    frozen the backward pass stops at the target; its output still asks for a gradient
    (through its own parameters), and the gradients that reach it are the same.
    """
    own = {id(p) for p in layer.parameters()}
    params = list(model.parameters())
    before = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(id(p) in own)
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)


def compute_cam(model: ECGNet, x: np.ndarray, target_label: int, method: str = "gradcam",
                lock: threading.Lock | None = None) -> np.ndarray:
    """Saliency for ``target_label`` (1 risky, 0 normal) on one input, in [0, 1].

    Args:
        model: the network; its last conv block is hooked for the duration of the call.
        x: H x W float input in [0, 1].
        lock: held while hooks are attached, so a model shared between sessions never has
            two sets of hooks (or a plain forward pass caught by another session's hooks).

    Returns:
        H x W float32 map at the input's size.
    """
    return explain_decided(model, x, lambda _z: int(target_label), method, lock)[0]


def explain_decided(model: ECGNet, x: np.ndarray, decide: Callable[[float], int], method: str = "gradcam",
                    lock: threading.Lock | None = None) -> tuple[np.ndarray, float, int]:
    """Saliency for the class ``decide(logit)`` picks, from one forward pass that also gives the
    logit: (map, logit, label). Saves the separate scoring pass ``compute_cam`` needs beside it."""
    if method not in CAM_METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {sorted(CAM_METHODS)}")
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D input, got shape {x.shape}")
    device = next(model.parameters()).device
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None].to(device)
    # cuDNN cannot run an LSTM backward pass in eval mode; the CAM needs that backward pass.
    cudnn_off = torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else nullcontext()
    cam_class = _cam_class(method)
    target = _DecidedTarget(decide)
    grayscale = None
    logit = float("nan")
    with (lock or nullcontext()), cudnn_off, _gradients_from(model.last_conv, model):
        was_training = model.training
        with cam_class(model=model, target_layers=[model.last_conv]) as cam:
            grayscale = cam(input_tensor=tensor, targets=[target])
            if getattr(cam, "outputs", None) is not None:
                logit = float(cam.outputs.detach().reshape(-1)[0])
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    if grayscale is None:
        # BaseCAM.__exit__ swallows IndexError; surface it instead of returning nothing.
        raise RuntimeError(f"{method} produced no saliency map for an input of shape {x.shape}")
    # Methods without gradients (EigenCAM) never ask the target; decide from the logit now.
    label = target.label if target.label is not None else int(decide(logit))
    out = np.asarray(grayscale[0], dtype=np.float32)
    if out.shape != x.shape:
        out = cv2.resize(out, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_LINEAR)
    if method == "guided-gradcam":
        fine = guided_backprop(model, x, label) * out
        # A light blur makes single-pixel evidence visible; the 99.5th percentile sets the
        # scale so that one extreme pixel does not wash the rest out.
        fine = cv2.GaussianBlur(fine, (0, 0), 1.0)
        top = float(np.percentile(fine, 99.5))
        out = fine / top if top > 0 else fine
    return np.nan_to_num(np.clip(out, 0.0, 1.0)), logit, label


def colorize(cam: np.ndarray, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """RGB uint8 heat map of a [0, 1] map."""
    u8 = np.clip(cam * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, colormap), cv2.COLOR_BGR2RGB)


def overlay(rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.45,
            colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend a heat map over an image; weak saliency fades out instead of tinting the page."""
    if cam.shape != rgb.shape[:2]:
        cam = cv2.resize(cam, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = colorize(cam, colormap)
    a = (alpha * cv2.pow(np.clip(cam, 0, 1).astype(np.float32), 0.7)).astype(np.float32)
    # One fused per-pixel blend in OpenCV (float32 numpy arithmetic on a page cost ~75 ms).
    return cv2.blendLinear(heat, np.ascontiguousarray(rgb, dtype=np.uint8), a, (1.0 - a).astype(np.float32))


def cam_on_page(cam: np.ndarray, crop_box: tuple[int, int, int, int], page_hw: tuple[int, int]) -> np.ndarray:
    """Place the model-input-sized map into the trace area of the working page (zeros elsewhere)."""
    x0, y0, x1, y1 = crop_box
    page = np.zeros(page_hw, np.float32)
    page[y0:y1, x0:x1] = cv2.resize(cam, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return page


def cam_on_input(page_cam: np.ndarray, work_to_input: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray:
    """Map a working-page map back onto the original photo (inverse of the rectification)."""
    h, w = input_hw
    return cv2.warpPerspective(page_cam, work_to_input, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
