"""A tiny open_clip config (registered once per session) so fine-stage tests run in seconds."""

from __future__ import annotations

import json

import open_clip
import pytest

TINY_CLIP = "tcvads-test-tiny-clip"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """Name of a registered 2-layer, 64-wide CLIP (32 px images, CLIP's tokenizer, 77 tokens)."""
    folder = tmp_path_factory.mktemp("clip_configs")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    }
    (folder / f"{TINY_CLIP}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    return TINY_CLIP
