# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A torchvision MobileNetV2 checkpoint into the interpretable backbone: the mapping by name,
the refusals, and how closely torchvision's features survive the deconvolutions at start."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import mobilenet_v2

from tcvads_ros.errors import DataError
from tcvads_ros.models.mobilenet import InterpretableMobileNet, MobileNetConfig
from tcvads_ros.models.pretrained import (
    feature_cosine,
    load_torchvision_mobilenet,
    torchvision_names,
)

torch.set_num_threads(1)

WIDTH = 0.25
CFG = MobileNetConfig(width_mult=WIDTH, input_size=64, feature_dim=1280)  # torchvision: 1280 at width <= 1


def images(n: int, seed: int) -> torch.Tensor:
    """Smooth random images (neighbouring pixels correlated, as in photographs)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.randn(n, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(small, size=64, mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def reference() -> torch.nn.Module:
    """A randomly initialised torchvision MobileNetV2 whose BatchNorm statistics fit its inputs
    (as a trained checkpoint's fit ImageNet), and a non-zero BatchNorm affine part."""
    torch.manual_seed(0)
    model = mobilenet_v2(weights=None, width_mult=WIDTH)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the passes below
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.normal_(m.bias, 0.0, 0.3)
    model.train()
    with torch.no_grad():
        for seed in range(4):
            model(images(16, seed))
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ckpt") / "mobilenet_v2.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    return str(path)


def test_every_tensor_is_mapped_by_name(reference):
    names = torchvision_names(InterpretableMobileNet(CFG))
    theirs = {k for k in reference.state_dict() if not k.startswith("classifier.")}
    assert set(names.values()) == theirs
    assert not any(k.startswith("deconvs.") for k in names)  # ours alone, initialised by the rule


@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_loads_the_weights(reference, checkpoint, tmp_path, fmt):
    path = checkpoint
    if fmt == "pth":
        path = tmp_path / "mobilenet_v2.pth"
        torch.save(reference.state_dict(), path)
    model = InterpretableMobileNet(CFG)
    summary = load_torchvision_mobilenet(model, path)
    assert summary["tensors"] == len(torchvision_names(model)) and summary["dropped"] == 2
    ours = model.state_dict()
    # the stem and the depthwise convolutions are copied unchanged; pointwise ones after a
    # deconvolution are rescaled to undo it
    assert torch.equal(ours["stem.0.weight"], reference.state_dict()["features.0.0.weight"])
    assert torch.equal(ours["stages.3.1.conv.1.0.weight"], reference.state_dict()["features.8.conv.1.0.weight"])


def test_torchvision_features_survive_the_deconvolutions(reference, checkpoint):
    test_images = images(8, 99)
    measured = InterpretableMobileNet(CFG)
    load_torchvision_mobilenet(measured, checkpoint, frames=images(16, 50))
    data_free = InterpretableMobileNet(CFG)
    load_torchvision_mobilenet(data_free, checkpoint)
    untouched = InterpretableMobileNet(CFG)  # the weights, but deconvolutions left at random
    untouched.load_state_dict({k: reference.state_dict()[v] for k, v in torchvision_names(untouched).items()},
                              strict=False)
    cos_measured = feature_cosine(measured, reference, test_images)
    cos_free = feature_cosine(data_free, reference, test_images)
    assert cos_measured > 0.999 and cos_free > 0.99
    assert feature_cosine(untouched, reference, test_images) < cos_free - 0.05


def test_refuses_a_checkpoint_of_another_size_naming_the_keys(tmp_path):
    other = mobilenet_v2(weights=None, width_mult=0.5)
    path = tmp_path / "wide.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path))
    model = InterpretableMobileNet(CFG)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(DataError, match=r"mismatched \(\d+\): features\.0\.0\.weight: checkpoint \(16, 3, 3, 3\)"):
        load_torchvision_mobilenet(model, path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_refuses_missing_and_unexpected_keys(reference, tmp_path):
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    del state["features.18.1.running_var"]
    state["features.19.weight"] = torch.zeros(1)
    path = tmp_path / "odd.safetensors"
    save_file(state, str(path))
    with pytest.raises(DataError) as err:
        load_torchvision_mobilenet(InterpretableMobileNet(CFG), path)
    assert "missing (1): features.18.1.running_var" in str(err.value)
    assert "unexpected (1): features.19.weight" in str(err.value)


def test_refuses_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="no such checkpoint"):
        load_torchvision_mobilenet(InterpretableMobileNet(CFG), tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    pickled = tmp_path / "code.pth"  # a pickle that would call a function: weights_only refuses it
    torch.save({"weight": torch.zeros(1), "hook": print}, pickled)
    for path in (garbage, pickled):
        with pytest.raises(DataError, match="cannot be read"):
            load_torchvision_mobilenet(InterpretableMobileNet(CFG), path)
