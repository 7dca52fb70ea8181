# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Per-video frame augmentation (tcvads_ros/training/augment.py)."""

import pytest
import torch

from tcvads_ros.training.augment import AugmentConfig, augment_batch, augment_video

torch.set_num_threads(1)


def _video(t=5, h=24, w=32):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


def test_disabled_is_identity():
    x = _video()[None]
    assert augment_batch(x, AugmentConfig(enabled=False), torch.Generator()) is x


def test_flip_only_is_the_same_mirror_for_every_frame():
    video = _video()
    out = augment_video(video, AugmentConfig(enabled=True, flip=1.0, brightness=0, contrast=0, crop=1.0),
                        torch.Generator().manual_seed(1))
    assert torch.equal(out, video.flip(2))


def test_one_transform_per_video_consistent_over_time():
    # a video whose frames are all the same stays so: the transform does not vary over time
    frame = _video(t=1)
    video = frame.expand(6, -1, -1, -1).contiguous()
    out = augment_video(video, AugmentConfig(enabled=True, crop=0.7), torch.Generator().manual_seed(3))
    assert out.shape == video.shape and out.dtype == torch.uint8
    assert all(torch.equal(out[0], out[i]) for i in range(1, 6))
    assert not torch.equal(out, video)


def test_batch_videos_get_different_transforms_and_seed_reproduces():
    x = _video(t=1).expand(8, 3, -1, -1, -1).contiguous()  # 8 identical videos
    cfg = AugmentConfig(enabled=True)
    a = augment_batch(x, cfg, torch.Generator().manual_seed(5))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert len({a[i].sum().item() for i in range(8)}) > 1


def test_bad_input_and_config():
    with pytest.raises(ValueError, match="uint8"):
        augment_batch(torch.zeros(1, 2, 8, 8, 3), AugmentConfig(enabled=True), torch.Generator())
    with pytest.raises(ValueError, match="crop"):
        AugmentConfig(crop=0.0)
