# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The fine stage's paper variants: Fig. 3's text branch (text RWKV, m × m alignment), the
temporal models of Table VII, the visual prompts and hand-crafted prompt of Table VIII, and
the RWKV window of §V.B in the fine stage's configuration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.fine import FineConfig, FineStage
from tcvads_ros.models.temporal import TEMPORAL_KINDS, RWKVWithChannelMix, build_temporal

torch.set_num_threads(1)

CLASSES = ["normal", "fighting", "shooting", "car accident"]
BANK = CaptionBank(["an empty street", "two people fighting", "a man with a gun", "a car crash"])


def make(tiny_clip, **kw) -> FineStage:
    torch.manual_seed(0)
    return FineStage(FineConfig(clip_model=tiny_clip, n_ctx=4, **kw), CLASSES, BANK)


def _perturb(module: torch.nn.Module, seed: int = 1) -> None:
    """Move every trainable weight a little, as training would (identity starts undone)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.requires_grad and not name.startswith("clip."):
                p.add_(0.3 * torch.randn_like(p))


@pytest.mark.parametrize("kind", TEMPORAL_KINDS)
def test_every_temporal_model_starts_as_the_identity_and_learns(kind):
    x = torch.randn(2, 9, 16)
    model = build_temporal(kind, 16, chunk_size=4, lgt_window=4)
    assert torch.allclose(model(x), x, atol=1e-6)
    if kind == "none":
        assert not list(model.parameters())
        return
    model(x).pow(2).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    _perturb(model)
    assert not torch.allclose(model(x), x, atol=1e-3)


def test_plain_rwkv_has_channel_mix_and_stays_causal():
    torch.manual_seed(0)
    model = build_temporal("rwkv_channelmix", 8, identity_init=False)
    assert isinstance(model, RWKVWithChannelMix) and len(model.channel_mixes) == 2
    x = torch.randn(1, 10, 8)
    y = model(x)
    x2 = x.clone()
    x2[:, 6] += 1.0
    changed = (model(x2) - y).abs().amax(-1)[0]
    assert changed[:6].max() == 0 and changed[6:].min() > 0
    enhanced = build_temporal("enhanced_rwkv", 8)
    assert sum(p.numel() for p in model.parameters()) > 2 * sum(p.numel() for p in enhanced.parameters())


def test_fine_config_checks_the_variants():
    for bad in ({"temporal": "lstm"}, {"visual_prompt": "words"}, {"window": 0},
                {"text_temporal": True, "use_captions": False}):
        with pytest.raises(ConfigError):
            FineConfig(**bad)


def test_window_reaches_the_fine_stages_rwkv(tiny_clip):
    fine = make(tiny_clip, window=4, rwkv_identity_init=False)
    assert fine.rwkv.window == 4
    x = torch.randn(1, 12, fine.embed_dim)
    x2 = x.clone()
    x2[:, 1] += 2.0  # snippet 1: windows are [0, 4), [4, 8), [8, 12)
    moved = (fine.temporal(x2) - fine.temporal(x)).detach().abs().amax(-1)[0]
    assert moved[4:].max() == 0 and moved[1:4].min() > 0


def test_text_branch_of_fig3_starts_as_the_clip_text_and_is_the_alignment_diagonal(tiny_clip):
    plain, paper = make(tiny_clip), make(tiny_clip, text_temporal=True)
    feats = F.normalize(torch.randn(2, 7, plain.embed_dim), dim=-1)
    text = plain.text_features().detach()
    # identity start: with one text per clip the Fig. 3 branch gives the plain form's scores
    assert torch.allclose(paper(feats, text)["logits"], plain(feats, text)["logits"], atol=1e-4)
    _perturb(paper)
    per_snippet = F.normalize(torch.randn(2, 7, len(CLASSES), paper.embed_dim), dim=-1)
    out = paper(feats, per_snippet)
    matrix = paper.alignment_matrix(feats, per_snippet)  # (B, C, m, m)
    assert matrix.shape == (2, len(CLASSES), 7, 7)
    diagonal = matrix.diagonal(dim1=-2, dim2=-1).transpose(1, 2)  # (B, m, C)
    assert torch.allclose(out["logits"], diagonal / paper.cfg.tau, atol=1e-4)
    # the text sequence runs through the (causal) text RWKV: snippet 3's text moves the
    # scores of snippets 3.. and none before
    bumped = per_snippet.clone()
    bumped[:, 3] = F.normalize(torch.randn_like(bumped[:, 3]), dim=-1)
    moved = (paper(feats, bumped)["logits"] - out["logits"]).detach().abs().amax(-1)
    assert moved[:, :3].max() == 0 and moved[:, 3:].min() > 0
    out["logits"].sum().backward()
    assert all(p.grad is not None for p in paper.text_rwkv.parameters())


def test_text_branch_of_fig3_trains_on_per_snippet_captions(tiny_clip):
    from tcvads_ros.training.fine_stage import snippet_captions

    paper = make(tiny_clip, text_temporal=True, top_m=2)
    bank = paper.caption_embeddings()
    feats = bank[[1, 1, 3, 0]][None] + 0.01 * torch.randn(1, 4, paper.embed_dim)
    indices = snippet_captions(feats, bank, 2)
    assert indices.shape == (1, 4, 2) and indices[0, :, 0].tolist() == [1, 1, 3, 0]
    text = paper.text_features(indices)
    assert text.shape == (1, 4, len(CLASSES), paper.embed_dim)
    assert paper(feats, text)["logits"].shape == (1, 4, len(CLASSES))


@pytest.mark.parametrize("prompt", ["average_frame", "anomaly_focus"])
def test_visual_prompts_follow_vadclip_eq_6_7(tiny_clip, prompt):
    plain, fine = make(tiny_clip), make(tiny_clip, visual_prompt=prompt)
    feats = F.normalize(torch.randn(2, 6, fine.embed_dim), dim=-1)
    text = plain.text_features().detach()
    lengths = torch.tensor([6, 3])
    out = fine(feats, text, lengths)
    # T = FFN(V + t) + t with the FFN's last layer at zero: the prompt starts as no prompt
    assert torch.allclose(out["logits"], plain(feats, text, lengths)["logits"], atol=1e-4)
    assert ("anomaly_logits" in out) == (prompt == "anomaly_focus")
    _perturb(fine)
    diagonal = fine.alignment_matrix(feats, text, lengths).diagonal(dim1=-2, dim2=-1).transpose(1, 2)
    assert torch.allclose(fine(feats, text, lengths)["logits"], diagonal / fine.cfg.tau, atol=1e-4)
    v, logits = fine.visual_prompt(fine.temporal(feats), lengths)
    x = fine.temporal(feats)
    if prompt == "average_frame":
        want = F.normalize(torch.stack([x[0].mean(0), x[1, :3].mean(0)]), dim=-1)
    else:
        a = torch.sigmoid(logits) * (torch.arange(6)[None] < lengths[:, None])
        want = F.normalize(torch.einsum("bt,btd->bd", a, x), dim=-1)
    assert torch.allclose(v, want, atol=1e-5)
    # padding is no part of the prompt
    padded = feats.clone()
    padded[1, 3:] = 5.0
    assert torch.allclose(fine.visual_prompt(fine.temporal(padded), lengths)[0][1], v[1], atol=1e-5)
    # the prompted class embeddings differ per clip
    prompted = fine.prompted_text(text, v, per_snippet=False)
    assert prompted.shape == (2, len(CLASSES), fine.embed_dim)
    assert not torch.allclose(prompted[0], prompted[1], atol=1e-4)


def test_hand_crafted_prompt_is_the_words_and_does_not_train(tiny_clip):
    fine = make(tiny_clip, learn_ctx=False)
    words = fine.tokenizer.encode("a photo of a")
    assert not fine.ctx.requires_grad
    assert torch.equal(fine.ctx[: len(words)], fine.text_tower.token_embedding(torch.tensor(words)))
    assert torch.count_nonzero(fine.ctx[len(words):]) == 0
    trainable = {n for n, p in fine.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("rwkv.") for n in trainable)


@pytest.mark.parametrize("kw", [{"text_temporal": True}, {"visual_prompt": "anomaly_focus"}])
def test_training_loss_reaches_the_variants_parts(tiny_clip, kw):
    """fine_stage.fine_loss: the text RWKV gets a gradient through per-snippet text; the
    anomaly-focus C-branch gets its own MIL BCE term (normal/abnormal video labels)."""
    from types import SimpleNamespace

    from tcvads_ros.training.fine_stage import fine_loss
    from tcvads_ros.training.train_config import FineTrainConfig

    fine = make(tiny_clip, **kw)
    _perturb(fine)
    bank = fine.caption_embeddings()
    targets = torch.zeros(3, len(CLASSES))
    targets[0, 0] = targets[1, 1] = targets[2, 3] = 1.0  # normal, fighting, car accident
    batch = {"x": F.normalize(torch.randn(3, 6, fine.embed_dim), dim=-1),
             "lengths": torch.tensor([6, 4, 5]), "targets": targets}
    parts = fine_loss(SimpleNamespace(fine=FineTrainConfig()), bank)(fine, batch)
    parts["loss"].backward()
    assert torch.isfinite(parts["loss"])
    if kw.get("text_temporal"):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fine.text_rwkv.parameters()
                   if p.requires_grad)
    else:
        assert parts["c_branch"] > 0 and fine.anomaly_fc.weight.grad.abs().sum() > 0
