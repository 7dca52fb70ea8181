# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A torchvision MobileNetV2 checkpoint (e.g. ImageNet) as the interpretable backbone's start.

Every real user starts from a pretrained backbone (paper §V.B: the coarse stage's MobileNet is
ImageNet-pretrained). `load_torchvision_mobilenet` reads a local file (safetensors, or a torch
state dict read with ``weights_only=True``), maps each torchvision tensor to ours by name and
refuses the file with the lists of missing, unexpected and shape-mismatched keys if it does not
fit. ``classifier.*`` (the 1000-class ImageNet head) has no place in the backbone and is left
out on purpose.

torchvision has no deconvolutions: ours (``f = σ(W_D·h + b_D)`` after every stage, §IV.A) are
initialised so the pretrained features pass through as closely as the formula allows. The
only loss is σ = ReLU6, which keeps [0, 6]: per channel, the stage output ``h`` (mean μ, spread
σ_h) is mapped affinely onto ``y = s·(h − μ) + 3`` with ``s = min(1, 3 / (k·σ_h))``, so
μ ± k·σ_h lands inside [0, 6] (the deconvolution is the identity kernel and its BatchNorm does
the affine part; exact in evaluation mode, approximate under a training batch's statistics). The
next layer, always a 1×1 convolution followed by BatchNorm, undoes it exactly: its weights are
divided by ``s`` and its BatchNorm's running mean absorbs the shift. Only values beyond k·σ_h of the channel's mean
(or beyond ±3 when ``s = 1``) are clipped. μ and σ_h come from the checkpoint's own BatchNorm
statistics (data-free) or, given `frames`, are measured on them.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from tcvads_ros.errors import DataError
from tcvads_ros.models.mobilenet import InterpretableMobileNet

SPREAD = 8.0  # k: channel values within μ ± k·σ_h pass the deconvolution's ReLU6 unclipped (k = 4 clipped 0.1-0.3 % of the values of a test model and cost 0.07 of feature cosine)
_CENTRE = 3.0  # the middle of ReLU6's linear range [0, 6]
_DROPPED = ("classifier.",)  # the ImageNet classifier: no place in the backbone


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file: safetensors, or a torch state dict (no pickle: weights_only)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such checkpoint file (a torchvision MobileNetV2 state dict, "
                        ".safetensors or .pth)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise DataError(f"{path}: cannot be read as a checkpoint ({type(exc).__name__}: {exc})") from None
    for wrapper in ("state_dict", "model"):  # common training-script wrappers around the weights
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict) and len(state) <= 3:
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{path}: not a state dict of tensors")
    return state


def torchvision_names(model: InterpretableMobileNet) -> dict[str, str]:
    """Our parameter/buffer name -> torchvision MobileNetV2's, for everything but the deconvolutions.

    torchvision numbers its layers ``features.0`` (stem), ``features.1..17`` (the inverted
    residual blocks in order), ``features.18`` (the final 1×1 convolution); we group the same
    blocks into ``stages`` and call the ends ``stem`` and ``head``.
    """
    prefixes = {"stem.": "features.0."}
    index = 1
    for i, stage in enumerate(model.stages):
        for j in range(len(stage)):
            prefixes[f"stages.{i}.{j}."] = f"features.{index}."
            index += 1
    prefixes["head."] = f"features.{index}."
    names = {}
    for ours in model.state_dict():
        for prefix, theirs in prefixes.items():
            if ours.startswith(prefix):
                names[ours] = theirs + ours[len(prefix):]
    return names


def load_torchvision_mobilenet(model: InterpretableMobileNet, path: str | Path,
                               frames: torch.Tensor | None = None) -> dict[str, float | int | str]:
    """Load a torchvision MobileNetV2 checkpoint into `model` and initialise its deconvolutions.

    Args:
        model: the backbone; its width and ``feature_dim`` must be the checkpoint's
            (torchvision: ``feature_dim`` 1280 for any width ≤ 1).
        path: the checkpoint file.
        frames: optional normalised images (N, 3, H, W) to measure the stage outputs on;
            without them the checkpoint's BatchNorm statistics estimate them.
    Returns a summary (tensors loaded, what was left out, the statistics' source).
    Raises DataError naming every missing, unexpected and mismatched key; the model is
    unchanged then.
    """
    state = read_state_dict(path)
    names = torchvision_names(model)
    ours = model.state_dict()
    theirs_used = set(names.values())
    missing = sorted(v for v in names.values() if v not in state)
    unexpected = sorted(k for k in state if k not in theirs_used and not k.startswith(_DROPPED))
    mismatched = sorted(f"{names[k]}: checkpoint {tuple(state[names[k]].shape)}, model {tuple(ours[k].shape)}"
                        for k in names if names[k] in state and state[names[k]].shape != ours[k].shape)
    if missing or unexpected or mismatched:
        problems = [f"{label} ({len(keys)}): {', '.join(keys[:12])}{' ...' if len(keys) > 12 else ''}"
                    for label, keys in (("missing", missing), ("unexpected", unexpected),
                                        ("mismatched", mismatched)) if keys]
        raise DataError(f"{path}: not a torchvision MobileNetV2 of this backbone's size "
                        f"(width_mult {model.cfg.width_mult}, feature_dim {model.cfg.feature_dim}); "
                        + "; ".join(problems))
    model.load_state_dict({k: state[names[k]].to(ours[k].dtype) for k in names}, strict=False)
    stats = stage_statistics(model, frames)
    init_deconvolutions(model, stats)
    return {"tensors": len(names), "dropped": sum(k.startswith(_DROPPED) for k in state),
            "statistics": "frames" if frames is not None else "batchnorm"}


def _bn_output_moments(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance per channel of a BatchNorm's output on the data it was trained on."""
    return bn.bias.detach().clone(), bn.weight.detach().square()


def _relu6_moments(mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ReLU6(x) for Gaussian x per channel (on 199 normal quantiles)."""
    q = torch.linspace(0.005, 0.995, 199, dtype=mean.dtype)
    z = math.sqrt(2.0) * torch.erfinv(2 * q - 1)
    values = (mean[:, None] + var.sqrt()[:, None] * z[None, :]).clamp(0.0, 6.0)
    return values.mean(dim=1), values.var(dim=1)


@torch.no_grad()
def stage_statistics(model: InterpretableMobileNet,
                     frames: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mean, std) per channel of every stage's output as torchvision computes it (no deconvolution).

    Data-free: a block's output is its projection BatchNorm's (mean β, variance γ²), and a
    residual block adds it to its input (independent parts: means and variances add); the
    first stage's input is the stem's ReLU6 of its BatchNorm output.
    """
    if frames is not None:
        stats = []
        was_training = model.training
        model.eval()
        x = model.stem(frames)
        for stage in model.stages:
            x = stage(x)
            stats.append((x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))))
        model.train(was_training)
        return stats
    stats = []
    mean, var = _relu6_moments(*_bn_output_moments(model.stem[1]))
    for stage in model.stages:
        for block in stage:
            m, v = _bn_output_moments(block.conv[-1])
            mean, var = (mean + m, var + v) if block.use_res_connect else (m, v)
        stats.append((mean, var.sqrt()))
    return stats


def _next_pointwise(model: InterpretableMobileNet, i: int) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """The 1×1 convolution + BatchNorm that reads stage i's deconvolution."""
    if i + 1 < len(model.stages):
        first = model.stages[i + 1][0].conv[0]  # the expansion of an expand_ratio > 1 block
    else:
        first = model.head
    conv, bn = first[0], first[1]
    if conv.kernel_size != (1, 1):
        raise ValueError(f"stage {i + 1} does not start with a 1x1 convolution")
    return conv, bn


@torch.no_grad()
def init_deconvolutions(model: InterpretableMobileNet,
                        stats: list[tuple[torch.Tensor, torch.Tensor]], spread: float = SPREAD) -> None:
    """Deconvolution i = the affine map y = s·(h − μ) + 3 onto ReLU6's range; the next 1×1
    convolution and its BatchNorm undo it (module docstring)."""
    for i, (deconv, (mean, std)) in enumerate(zip(model.deconvs, stats)):
        transpose, bn = deconv[0], deconv[1]
        std = std.clamp_min(1e-6)
        scale = (_CENTRE / (spread * std)).clamp(max=1.0)
        centre = transpose.kernel_size[0] // 2
        transpose.weight.zero_()
        idx = torch.arange(transpose.in_channels)
        transpose.weight[idx, idx, centre, centre] = 1.0
        # BatchNorm: (h − μ)/sqrt(σ² + eps)·γ + β = s·(h − μ) + 3 in evaluation mode
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(std.square())
        bn.weight.copy_(scale * torch.sqrt(std.square() + bn.eps))
        bn.bias.fill_(_CENTRE)
        conv, next_bn = _next_pointwise(model, i)
        # h = (y − 3)/s + μ, so W·h = (W/s)·y + W·(μ − 3/s): rescale W, shift the running mean
        shift = torch.einsum("oi,i->o", conv.weight[:, :, 0, 0], mean - _CENTRE / scale)
        conv.weight.div_(scale.view(1, -1, 1, 1))
        next_bn.running_mean.sub_(shift)


def feature_cosine(model: InterpretableMobileNet, reference: nn.Module, images: torch.Tensor) -> float:
    """Mean cosine between our features and a torchvision MobileNetV2's pooled features."""
    with torch.no_grad():
        ours = model.eval()(images)
        theirs = reference.eval().features(images).mean(dim=(2, 3))
    return float(torch.nn.functional.cosine_similarity(ours, theirs, dim=1).mean())
