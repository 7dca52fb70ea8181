# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Fine stage: triplet prompts within 77 tokens, retrieval, edge-table rule, frozen encoders."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.fine import FineConfig, FineStage, topk_mean, triplet_tokens

torch.set_num_threads(1)

CLASSES = ["normal", "fighting", "shooting", "car accident"]
BANK = CaptionBank([
    "an empty street at night",
    "two people fighting and punching each other",
    "a person shooting a gun " + "with a very long and detailed description " * 8,
    "a car crashing into another car",
])


def make(tiny_clip, classes=CLASSES, **kw) -> FineStage:
    torch.manual_seed(0)
    return FineStage(FineConfig(clip_model=tiny_clip, **kw), classes, BANK)


@pytest.fixture(scope="module")
def stage(tiny_clip):
    return make(tiny_clip, n_ctx=8)


@pytest.mark.parametrize("n_ctx", [0, 8, 40, 70])
def test_prompts_never_exceed_77_tokens(tiny_clip, n_ctx):
    fine = make(tiny_clip, n_ctx=n_ctx)
    tokens, eot = fine.prompt_tokens([0, 1, 2, 3, 2], [None, 0, 2, 3, 2])
    assert tokens.shape == (5, 77)
    assert (eot <= 76).all()
    eot_id = fine.tokenizer.eot_token_id
    assert (tokens[torch.arange(5), eot] == eot_id).all()
    assert (tokens[:, 0] == fine.tokenizer.sot_token_id).all()
    label = fine.label_tokens[2]
    # the label follows the context whole; the long caption is cut to the room left
    assert tokens[2, 1 + n_ctx:1 + n_ctx + len(label)].tolist() == label
    if n_ctx >= 40:
        assert eot[2] == 76
    assert eot[0] == 1 + n_ctx + len(fine.label_tokens[0])  # no caption: SOT ctx label EOT


def test_context_too_long_for_a_label_is_refused(tiny_clip):
    with pytest.raises(ConfigError, match="n_ctx"):
        make(tiny_clip, n_ctx=75)


def test_class_order_and_names_drive_text_features(tiny_clip, stage):
    reordered = make(tiny_clip, classes=list(reversed(CLASSES)), n_ctx=8)
    reordered.load_state_dict(stage.state_dict())
    with torch.no_grad():
        a = stage.text_features()
        b = reordered.text_features()
        assert a.shape == (4, 32)
        assert torch.allclose(a.flip(0), b, atol=1e-5)
        assert torch.allclose(a.norm(dim=-1), torch.ones(4))
        assert not torch.allclose(a[1], a[2], atol=1e-3)


def test_captions_change_text_features_by_the_edge_rule(stage):
    with torch.no_grad():
        table = stage.class_caption_table()
        plain = stage.text_features()
        one = stage.text_features(torch.tensor([1]))
        two = stage.text_features(torch.tensor([1, 3]))
        batched = stage.text_features(torch.tensor([[1, 3], [0, 2]]))
    assert table.shape == (4, len(BANK), 32)
    assert torch.allclose(table.norm(dim=-1), torch.ones(4, len(BANK)), atol=1e-5)
    assert torch.allclose(one, table[:, 1], atol=1e-5)
    assert torch.allclose(two, F.normalize(table[:, [1, 3]].mean(1), dim=-1), atol=1e-5)
    assert batched.shape == (2, 4, 32) and torch.allclose(batched[0], two, atol=1e-5)
    assert not torch.allclose(one, plain, atol=1e-3)
    assert not torch.allclose(one, stage.text_features(torch.tensor([3])), atol=1e-3)
    with pytest.raises(ValueError):
        stage.text_features(torch.tensor([len(BANK)]))


def test_retrieval_finds_the_matching_caption(stage):
    bank = stage.caption_embeddings()
    assert bank.shape == (len(BANK), 32)
    clip = bank[2].expand(5, -1) + 0.01 * torch.randn(5, 32)
    indices, sims = stage.retrieve_captions(clip, top_m=2)
    assert indices[0] == 2 and sims[0] > 0.99 and sims[0] >= sims[1]
    assert len(stage.retrieve_captions(clip, top_m=10)[0]) == len(BANK)


def test_frozen_encoders_get_no_gradient_and_the_prompt_does(tiny_clip):
    fine = make(tiny_clip, n_ctx=4).train()
    assert not fine.clip.training
    images = torch.randn(6, 3, *fine.input_size)
    feats = fine.encode_images(images).view(2, 3, -1)
    out = fine(feats, fine.text_features(torch.tensor([0, 1])))
    loss = F.cross_entropy(out["video_scores"], torch.tensor([1, 2]))
    loss.backward()
    assert all(p.grad is None for p in fine.clip.parameters())
    assert fine.ctx.grad is not None and fine.ctx.grad.abs().sum() > 0
    assert all(p.grad is not None for p in fine.rwkv.parameters())
    trainable = {n for n, p in fine.named_parameters() if p.requires_grad}
    assert trainable and all(n == "ctx" or n.startswith("rwkv.") for n in trainable)


def test_forward_scores(stage):
    torch.manual_seed(3)
    feats = torch.randn(2, 20, 32)
    text = stage.text_features().detach()
    out = stage(feats, text, lengths=torch.tensor([20, 5]))
    assert out["logits"].shape == (2, 20, 4) and out["probs"].shape == (2, 20, 4)
    assert torch.allclose(out["probs"].sum(-1), torch.ones(2, 20))
    video = F.normalize(stage.temporal(feats), dim=-1)
    assert torch.allclose(out["logits"], video @ text.t() / 0.07, atol=1e-4)
    k0, k1 = 20 // 16 + 1, 5 // 16 + 1
    want0 = out["logits"][0].topk(k0, dim=0)[0].mean(0)
    want1 = out["logits"][1, :5].topk(k1, dim=0)[0].mean(0)
    assert torch.allclose(out["video_scores"], torch.stack([want0, want1]), atol=1e-5)
    per_video = stage(feats, text[None].expand(2, -1, -1))
    assert torch.allclose(per_video["logits"], out["logits"], atol=1e-5)


def test_topk_mean_ignores_padding():
    logits = torch.tensor([[[1.0], [5.0], [100.0]]])
    assert topk_mean(logits, torch.tensor([2])).item() == 5.0
    assert topk_mean(logits).item() == 100.0


def test_image_branch_and_preprocess(stage):
    frames = torch.randint(0, 256, (3, *stage.input_size, 3), dtype=torch.uint8)
    feats = stage.encode_images(stage.preprocess(frames))
    assert feats.shape == (3, stage.embed_dim)
    assert torch.allclose(feats.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_local_checkpoint_is_loaded(tiny_clip, stage, tmp_path):
    weights = {k: v.contiguous() for k, v in stage.clip.state_dict().items()}
    path = tmp_path / "clip.safetensors"
    save_file(weights, str(path))
    torch.manual_seed(123)  # a different random init, overwritten by the checkpoint
    loaded = FineStage(FineConfig(clip_model=tiny_clip, checkpoint=str(path)), CLASSES, BANK)
    for name, value in loaded.clip.state_dict().items():
        assert torch.equal(value, weights[name]), name


def test_bad_model_or_checkpoint_is_a_config_error(tiny_clip, tmp_path):
    with pytest.raises(ConfigError, match="unknown open_clip model"):
        FineStage(FineConfig(clip_model="no-such-clip"), CLASSES, BANK)
    with pytest.raises(ConfigError, match="not found"):
        FineStage(FineConfig(clip_model=tiny_clip, checkpoint=str(tmp_path / "x.pt")), CLASSES, BANK)
    with pytest.raises(ConfigError):
        FineConfig(tau=0)


@settings(max_examples=200, deadline=None)
@given(n_ctx=st.integers(0, 76), label=st.lists(st.integers(1, 49000), min_size=1, max_size=20),
       caption=st.lists(st.integers(1, 49000), max_size=100))
def test_triplet_tokens_property(n_ctx, label, caption):
    if 2 + n_ctx + len(label) > 77:
        with pytest.raises(ConfigError):
            triplet_tokens(49406, 49407, n_ctx, label, caption)
        return
    row = triplet_tokens(49406, 49407, n_ctx, label, caption)
    assert len(row) <= 77 and row[0] == 49406 and row[-1] == 49407
    assert row[1 + n_ctx:1 + n_ctx + len(label)] == label  # the label is never cut
    kept = row[1 + n_ctx + len(label):-1]
    assert kept == caption[:len(kept)]  # a prefix of the caption
    assert len(kept) == len(caption) or len(row) == 77  # cut only when the budget is used up


def test_runtime_text_rule_is_the_torch_one(stage):
    """The deployed fine stage (NumPy, tcvads_ros/runtime/fine.py, on the bundle's
    class x caption table) and the trained one (FineStage) pick the same captions and give the
    same class text features for a clip."""
    from tcvads_ros.runtime.fine import class_text, retrieve_captions

    with torch.no_grad():
        table = stage.class_caption_table().numpy()
        bank = stage.caption_embeddings()
        for seed in range(3):
            clip = F.normalize(torch.randn(6, 32, generator=torch.Generator().manual_seed(seed)), dim=-1)
            want, want_sims = stage.retrieve_captions(clip, 2, bank)
            got, got_sims = retrieve_captions(bank.numpy(), clip.numpy(), 2)
            assert got.tolist() == want.tolist()
            assert torch.allclose(torch.from_numpy(got_sims), want_sims, atol=1e-6)
            text = stage.text_features(want)
            assert torch.allclose(torch.from_numpy(class_text(table, got)), text, atol=1e-5)


def test_checkpoint_is_loaded_for_a_local_dir_model_too(stage, tmp_path):
    # open_clip ignores `pretrained` for "local-dir:" names; the fine stage must not
    import json

    import open_clip

    folder = tmp_path / "clip"
    folder.mkdir()
    cfg = open_clip.get_model_config(stage.cfg.clip_model)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    weights = {k: v.contiguous() for k, v in stage.clip.state_dict().items()}
    save_file(weights, str(tmp_path / "weights.safetensors"))
    torch.manual_seed(321)
    loaded = FineStage(FineConfig(clip_model=f"local-dir:{folder}", checkpoint=str(tmp_path / "weights.safetensors")),
                       CLASSES, BANK)
    for name, value in loaded.clip.state_dict().items():
        assert torch.equal(value, weights[name]), name


def test_prompt_ablations(tiny_clip):
    with pytest.raises(ConfigError, match="class_ctx"):
        FineConfig(use_label=False)
    no_label = make(tiny_clip, n_ctx=4, use_label=False, class_ctx=True, use_captions=False)
    assert no_label.ctx.shape[:2] == (len(CLASSES), 4)
    tokens, eot = no_label.prompt_tokens([1, 2], [1, 2])
    assert eot.tolist() == [5, 5]  # SOT ctx×4 EOT: no label, no caption
    feats = no_label.text_features(torch.tensor([[0, 1]]))[0]
    assert not torch.allclose(feats[1], feats[2])  # each class its own context
    grads = torch.autograd.grad(no_label.text_features()[1].sum(), no_label.ctx)[0]
    assert grads[1].abs().sum() > 0 and grads[2].abs().sum() == 0
    no_captions = make(tiny_clip, n_ctx=4, use_captions=False)
    table = no_captions.class_caption_table()
    assert torch.allclose(table, table[:, :1].expand_as(table), atol=1e-6)  # every caption the same
    assert torch.allclose(table[:, 0], no_captions.text_features(), atol=1e-6)
    label_only = make(tiny_clip, n_ctx=0, use_captions=False)
    assert label_only.prompt_tokens([3], [2])[1].tolist() == [1 + len(label_only.label_tokens[3])]


def test_the_image_branch_starts_as_clip_and_the_context_as_its_words(tiny_clip):
    fine = make(tiny_clip, n_ctx=6)
    feats = F.normalize(torch.randn(2, 5, fine.embed_dim), dim=-1)
    assert torch.allclose(fine.temporal(feats), feats, atol=1e-6)  # residual branches start at 0
    words = fine.tokenizer.encode("a photo of a")
    start = fine.text_tower.token_embedding(torch.tensor(words))
    assert (fine.ctx[: len(words)] - start).abs().max() < 0.2  # the words plus the small random start
    assert not torch.allclose(fine.ctx[: len(words)], start)
    plain = make(tiny_clip, n_ctx=6, ctx_init=None, rwkv_identity_init=False)
    assert not torch.allclose(plain.temporal(feats), feats, atol=1e-3)
