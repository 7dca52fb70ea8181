# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The fine stage (paper §IV.B, Fig. 3): frozen CLIP, triplet prompts, Enhanced RWKV, Exp. (15)-(16).

- Image branch: per-snippet CLIP image features (frozen open_clip image encoder) -> Enhanced RWKV
  -> video features.
- Text branch, the "triplet": for class c the frozen text encoder reads
  ``[SOT] ctx_1 … ctx_l  <class label tokens>  <caption tokens> [EOT]`` (at most the encoder's
  77 tokens), pooled at the EOT position (CLIP's own pooling). ``ctx`` are CoOp learnable token
  embeddings (l = 40 in the paper), shared by all classes and spliced into the embedded sequence.
  The label is kept whole; the caption is cut to the tokens left, so a prompt never exceeds 77.
- "CLIP native text" is read as retrieval (docs/models.md): the ``top_m`` captions of the caption bank
  most similar (cosine) to the mean of the clip's normalised snippet image features.
- Class text features for a clip (the edge rule, docs/ARCHITECTURE.md): one prompt per class and
  retrieved caption, each normalised, averaged over the captions and re-normalised. The same rule
  serves training (``text_features``) and the edge table (``class_caption_table``), so a fixed
  class list and caption bank are encoded once and shipped as a (C, K, D) table.
- Scores: ``s = cos(video_t, text_c)`` (Exp. (15)), ``p = softmax(s / τ)`` over classes
  (Exp. (16), τ = 0.07), video-level class scores = mean of the top-k snippet logits with
  k = ⌊T/16⌋ + 1 (VadCLIP's MIL-Align); ``softmax(video_scores)`` are video class probabilities.

Variants (configuration; docs/models.md says which is the default and why):

- ``text_temporal=True``, the text branch as Fig. 3 draws it: each snippet retrieves its own
  captions ("for each frame I_T of the video, a basic textual description T_clip is obtained",
  §IV.B), so the class text features form a sequence over the snippets, (B, T, C, D); a second
  Enhanced RWKV (``text_rwkv``, same settings as the image one) runs over that sequence for
  every class, giving F_text. The alignment matrix M (m × m, m snippets; ``alignment_matrix``)
  holds s_ij = cos(F_video_i, F_text_j) per class; Exp. (16)'s scores are its diagonal, each
  snippet against its own text. ``text_temporal=False`` (the default): one (C, D) text per clip
  (the clip's captions) and no text RWKV, the form the edge bundle ships.
- ``temporal``: the image branch's temporal model (paper Table VII; models/temporal.py).
- ``visual_prompt`` (paper Table VIII's visual prompts, VadCLIP Eq. 6-7): ``average_frame``
  adds the normalised mean of the clip's video features to every class embedding,
  ``anomaly_focus`` the normalised sum weighted by the anomaly confidence A of a binary head
  (VadCLIP's C-branch, Eq. 4: ``A = σ(FC(FFN(X) + X))``, trained by MIL on video labels);
  either way ``T = FFN(V + t) + t`` (Eq. 7; the FFN's last layer starts at zero, so T starts
  as t). ``none`` (the default): the class embeddings as the text branch gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.mobilenet import FramePreprocess
from tcvads_ros.models.temporal import TEMPORAL_KINDS, QuickGELU, build_temporal

VISUAL_PROMPTS = ("none", "average_frame", "anomaly_focus")


@dataclass
class FineConfig:
    """Args:
        clip_model: any open_clip model name (e.g. "ViT-B-16", a registered config, or a
            "local-dir:/path" folder).
        checkpoint: local CLIP checkpoint file (.safetensors, or a torch file loaded with
            weights_only=True by open_clip); None leaves the encoders randomly initialised.
        n_ctx: learnable context tokens (paper: l = 40).
        ctx_init_std: standard deviation of the context's initialisation (CoOp: 0.02).
        ctx_init: words whose token embeddings start the first context vectors (CoOp's
            initialisation, "a photo of a", plus the random start), so the prompts start near
            CLIP's zero-shot ones; None: all random.
        rwkv_identity_init: the Enhanced RWKV's residual branches start at zero (their
            LayerNorm gains at 0, as in ReZero), so the image branch starts from the frozen
            CLIP's own features instead of drowning them: the normalised CLIP features have norm
            1 where a LayerNorm output has norm sqrt(D). False: PyTorch's default gains of 1.
        tau: softmax temperature of Exp. (16).
        top_m: captions retrieved per clip.
        rwkv_blocks, bidirectional, chunk_size: the Enhanced RWKV over snippet features.
        window: the RWKV's window in snippets (paper §V.B: 256 for XD-Violence, 32 for
            UCF-Crime; models/rwkv.py); None: the whole clip. ``chunk_size`` only says how it is
            computed.
        temporal: the image branch's temporal model, one of models.temporal.TEMPORAL_KINDS
            (paper Table VII); ``lgt_window``: the LGT-Adapter's attention window.
        text_temporal: the text branch of Fig. 3 (per-snippet captions, Enhanced RWKV over the
            text features, the m × m alignment); False: one text per clip (see the docstring).
        visual_prompt: "none", "average_frame" or "anomaly_focus" (paper Table VIII).
        learn_ctx: False freezes the context at its ``ctx_init`` words with no random part (a
            hand-crafted prompt, paper Table VIII's first row).
        use_label, use_captions, class_ctx: which parts of the triplet the prompts hold, for
            the prompt ablations (paper Table VIII; docs/results.md): without the label the
            classes need a context of their own (``class_ctx``, CoOp's class-specific context);
            without captions every class has one prompt (the table's rows are then equal).
    """

    clip_model: str = "ViT-B-16"
    checkpoint: str | None = None
    n_ctx: int = 40
    ctx_init_std: float = 0.02
    ctx_init: str | None = "a photo of a"
    rwkv_identity_init: bool = True
    tau: float = 0.07
    top_m: int = 3
    rwkv_blocks: int = 2
    bidirectional: bool = False
    chunk_size: int = 16
    window: int | None = None
    temporal: str = "enhanced_rwkv"
    lgt_window: int = 64
    text_temporal: bool = False
    visual_prompt: str = "none"
    learn_ctx: bool = True
    use_label: bool = True
    use_captions: bool = True
    class_ctx: bool = False

    def __post_init__(self):
        if self.temporal not in TEMPORAL_KINDS:
            raise ConfigError(f"fine.temporal: '{self.temporal}' is not one of {', '.join(TEMPORAL_KINDS)}")
        if self.visual_prompt not in VISUAL_PROMPTS:
            raise ConfigError(f"fine.visual_prompt: '{self.visual_prompt}' is not one of "
                              f"{', '.join(VISUAL_PROMPTS)}")
        if self.window is not None and self.window < 1:
            raise ConfigError(f"fine.window: must be >= 1 or null, got {self.window}")
        if self.text_temporal and not self.use_captions:
            raise ConfigError("fine.text_temporal: the text sequence is made of each snippet's captions; "
                              "it needs use_captions=true")
        if self.n_ctx < 0 or self.top_m < 1 or self.tau <= 0:
            raise ConfigError(f"fine: need n_ctx >= 0, top_m >= 1 and tau > 0; got n_ctx="
                              f"{self.n_ctx}, top_m={self.top_m}, tau={self.tau}")
        if not self.use_label and not (self.class_ctx and self.n_ctx > 0):
            raise ConfigError("fine: without use_label the prompts of all classes would be the same; "
                              "set class_ctx=true and n_ctx > 0 (a learned context per class)")


def triplet_tokens(sot: int, eot: int, n_ctx: int, label: list[int], caption: list[int],
                   context_length: int = 77) -> list[int]:
    """``[SOT] ctx×n_ctx label caption [EOT]`` token ids (unpadded), at most ``context_length``.

    The context slots hold placeholder 0s (their embeddings are replaced by the learned context);
    the label is kept whole and the caption cut to the room left.
    """
    room = context_length - 2 - n_ctx - len(label)
    if room < 0:
        raise ConfigError(f"fine.n_ctx={n_ctx}: the label ({len(label)} tokens) does not fit in "
                          f"{context_length} tokens; lower n_ctx")
    return [sot] + [0] * n_ctx + list(label) + list(caption[:room]) + [eot]


def topk_mean(logits: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the top k = ⌊T/16⌋+1 values over time of (B, T, C) -> (B, C); T per sample."""
    bsz, length, _ = logits.shape
    if lengths is None:
        lengths = torch.full((bsz,), length, device=logits.device)
    lengths = lengths.to(logits.device).clamp(1, length)
    valid = torch.arange(length, device=logits.device)[None, :] < lengths[:, None]
    ranked = logits.masked_fill(~valid[:, :, None], float("-inf")).sort(dim=1, descending=True)[0]
    k = (lengths // 16 + 1)[:, None]
    take = (torch.arange(length, device=logits.device)[None, :] < k)[:, :, None]
    return torch.where(take, ranked, 0.0).sum(1) / k.to(logits.dtype)


class FineStage(nn.Module):
    """Frozen open_clip encoders + CoOp context + retrieved captions + Enhanced RWKV."""

    def __init__(self, cfg: FineConfig, class_names: list[str], captions: CaptionBank):
        super().__init__()
        if not class_names:
            raise ConfigError("fine stage: class_names is empty")
        self.cfg, self.class_names, self.captions = cfg, list(class_names), captions
        self.clip = create_clip(cfg)
        self.clip.requires_grad_(False)
        self.clip.eval()
        _text_tower(self.clip, cfg.clip_model)  # refuse non-CLIP text towers early
        self.tokenizer = open_clip.get_tokenizer(cfg.clip_model)
        for needed in ("encode", "sot_token_id", "eot_token_id"):
            if not hasattr(self.tokenizer, needed):
                raise ConfigError(f"fine.clip_model '{cfg.clip_model}': its tokenizer is not "
                                  "CLIP's BPE tokenizer; triplet prompts need one")
        self.context_length = int(self.text_tower.positional_embedding.shape[0])
        width = self.text_tower.token_embedding.weight.shape[1]
        shape = (len(self.class_names), cfg.n_ctx, width) if cfg.class_ctx else (cfg.n_ctx, width)
        std = cfg.ctx_init_std if cfg.learn_ctx else 0.0  # hand-crafted: the words alone
        self.ctx = nn.Parameter(torch.randn(*shape) * std, requires_grad=cfg.learn_ctx)
        if cfg.ctx_init and cfg.n_ctx:
            with torch.no_grad():
                words = torch.tensor(self.tokenizer.encode(cfg.ctx_init)[: cfg.n_ctx])
                # added to the random start, so that class-specific contexts still differ
                self.ctx[..., : len(words), :] += self.text_tower.token_embedding(words).to(self.ctx.dtype)
        self.label_tokens = [self.tokenizer.encode(name) if cfg.use_label else [] for name in self.class_names]
        self.caption_tokens = [self.tokenizer.encode(text) if cfg.use_captions else []
                               for text in captions.captions]
        for name, tokens in zip(self.class_names, self.label_tokens):
            try:  # every label must fit beside the context; captions are cut to the rest
                triplet_tokens(0, 0, cfg.n_ctx, tokens, [], self.context_length)
            except ConfigError as exc:
                raise ConfigError(f"class '{name}': {exc}") from exc
        with torch.no_grad():
            self.embed_dim = int(self.clip.encode_image(torch.zeros(1, 3, *self.input_size)).shape[-1])
        pre = self.clip.visual.preprocess_cfg
        self.preprocess = FramePreprocess(pre["mean"], pre["std"])
        # the image branch's temporal model keeps the name `rwkv` whatever its kind (checkpoints)
        self.rwkv = build_temporal(cfg.temporal, self.embed_dim, cfg.rwkv_blocks, cfg.bidirectional,
                                   cfg.chunk_size, cfg.window, cfg.lgt_window, cfg.rwkv_identity_init)
        if cfg.text_temporal:
            self.text_rwkv = build_temporal("enhanced_rwkv", self.embed_dim, cfg.rwkv_blocks,
                                            cfg.bidirectional, cfg.chunk_size, cfg.window,
                                            identity_init=cfg.rwkv_identity_init)
        if cfg.visual_prompt != "none":
            d = self.embed_dim
            self.prompt_ffn = nn.Sequential(nn.Linear(d, 4 * d), QuickGELU(), nn.Linear(4 * d, d))
            nn.init.zeros_(self.prompt_ffn[-1].weight)
            nn.init.zeros_(self.prompt_ffn[-1].bias)
        if cfg.visual_prompt == "anomaly_focus":  # VadCLIP's C-branch, Eq. 4
            d = self.embed_dim
            self.anomaly_ffn = nn.Sequential(nn.Linear(d, 4 * d), QuickGELU(), nn.Linear(4 * d, d))
            self.anomaly_fc = nn.Linear(d, 1)

    @property
    def text_tower(self) -> nn.Module:
        """CLIP's text transformer (a property, so its weights are not registered twice)."""
        return _text_tower(self.clip, self.cfg.clip_model)

    @property
    def input_size(self) -> tuple[int, int]:
        size = self.clip.visual.image_size
        return (size, size) if isinstance(size, int) else tuple(size)

    def train(self, mode: bool = True) -> FineStage:
        super().train(mode)
        self.clip.eval()  # frozen encoders stay in inference mode
        return self

    # --- image branch -------------------------------------------------------------------
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W), CLIP-normalised -> L2-normalised CLIP features (N, D)."""
        return F.normalize(self.clip.encode_image(images), dim=-1)

    def temporal(self, snippet_feats: torch.Tensor) -> torch.Tensor:
        """Enhanced RWKV over snippet features: (B, T, D) -> video features (B, T, D)."""
        return self.rwkv(snippet_feats)

    # --- text branch --------------------------------------------------------------------
    def prompt_tokens(self, class_ids: list[int], caption_ids: list[int | None]):
        """Token ids (P, L) and EOT positions (P,) of the triplet prompts; the context slots
        hold placeholder ids (their embeddings are replaced by ``ctx``)."""
        sot, eot = self.tokenizer.sot_token_id, self.tokenizer.eot_token_id
        rows, eot_pos = [], []
        for c, j in zip(class_ids, caption_ids):
            caption = [] if j is None else self.caption_tokens[j]
            row = triplet_tokens(sot, eot, self.cfg.n_ctx, self.label_tokens[c], caption,
                                 self.context_length)
            eot_pos.append(len(row) - 1)
            rows.append(row + [0] * (self.context_length - len(row)))
        device = self.ctx.device
        return torch.tensor(rows, device=device), torch.tensor(eot_pos, device=device)

    def encode_prompts(self, class_ids: list[int], caption_ids: list[int | None]) -> torch.Tensor:
        """Triplet prompts -> EOT-pooled, projected, L2-normalised text features (P, D)."""
        tower = self.text_tower
        tokens, eot_pos = self.prompt_tokens(class_ids, caption_ids)
        emb = tower.token_embedding(tokens)
        if self.cfg.class_ctx:
            ctx = self.ctx.to(emb.dtype)[torch.as_tensor(class_ids, device=emb.device)]
        else:
            ctx = self.ctx.to(emb.dtype).expand(len(tokens), -1, -1)
        x = torch.cat([emb[:, :1], ctx, emb[:, 1 + self.cfg.n_ctx:]], dim=1)  # CoOp splice
        x = x + tower.positional_embedding.to(x.dtype)
        x = tower.transformer(x, attn_mask=tower.attn_mask)
        x = tower.ln_final(x)[torch.arange(len(tokens), device=x.device), eot_pos]
        projection = tower.text_projection
        if isinstance(projection, nn.Module):
            x = projection(x)
        elif projection is not None:
            x = x @ projection
        return F.normalize(x, dim=-1)

    def text_features(self, caption_indices: torch.Tensor | None = None) -> torch.Tensor:
        """Class text features: (C, D) without captions, or for indices (..., m) -> (..., C, D),
        each the re-normalised mean over the m captions' prompts (the edge rule)."""
        n_cls = len(self.class_names)
        if caption_indices is None:
            return self.encode_prompts(list(range(n_cls)), [None] * n_cls)
        caption_indices = torch.as_tensor(caption_indices)
        if caption_indices.dim() == 0 or caption_indices.numel() == 0:
            raise ValueError("caption_indices must have shape (..., m) with m >= 1")
        unique, inverse = torch.unique(caption_indices.cpu(), return_inverse=True)
        if unique.min() < 0 or unique.max() >= len(self.captions):
            raise ValueError(f"caption index out of range 0..{len(self.captions) - 1}")
        table = self._table(unique.tolist())  # (C, U, D)
        per_caption = table[:, inverse.to(table.device)]  # (C, ..., m, D)
        mean = per_caption.mean(dim=-2).movedim(0, -2)  # (..., C, D)
        return F.normalize(mean, dim=-1)

    def _table(self, caption_ids: list[int]) -> torch.Tensor:
        n_cls = len(self.class_names)
        pairs = [(c, j) for c in range(n_cls) for j in caption_ids]
        feats = self.encode_prompts([c for c, _ in pairs], [j for _, j in pairs])
        return feats.view(n_cls, len(caption_ids), -1)

    @torch.no_grad()
    def class_caption_table(self, batch: int = 256) -> torch.Tensor:
        """Every class × caption prompt, normalised: (C, K, D), the table the edge ships."""
        ids = list(range(len(self.captions)))
        step = max(1, batch // len(self.class_names))
        return torch.cat([self._table(ids[i:i + step]) for i in range(0, len(ids), step)], dim=1)

    @torch.no_grad()
    def caption_embeddings(self) -> torch.Tensor:
        """The captions alone through CLIP's text encoder, normalised: (K, D), for retrieval."""
        tokens = self.tokenizer(self.captions.captions).to(self.ctx.device)
        return F.normalize(self.clip.encode_text(tokens), dim=-1)

    @torch.no_grad()
    def retrieve_captions(self, snippet_feats: torch.Tensor, top_m: int | None = None,
                          caption_embeddings: torch.Tensor | None = None):
        """The clip's "CLIP native text": (indices (m,), cosine similarities (m,)), best first.

        The query is the mean of the normalised snippet image features (T, D). Pass
        ``caption_embeddings`` to reuse a precomputed ``caption_embeddings()``.
        """
        top_m = min(top_m or self.cfg.top_m, len(self.captions))
        bank = self.caption_embeddings() if caption_embeddings is None else caption_embeddings
        query = F.normalize(F.normalize(snippet_feats, dim=-1).mean(0), dim=-1)
        sims = bank @ query.to(bank.dtype)
        values, indices = sims.topk(top_m)
        return indices, values

    # --- scores -------------------------------------------------------------------------
    def forward(self, snippet_feats: torch.Tensor, text_feats: torch.Tensor,
                lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """snippet_feats (B, T, D), text_feats (C, D), (B, C, D) or, per snippet, (B, T, C, D);
        lengths (B,) of padded clips.

        Returns logits (B, T, C) = cos/τ (Exp. (15)), probs (B, T, C) (Exp. (16)),
        video_scores (B, C) (top-k mean of the logits) and video_probs = softmax(video_scores);
        with the anomaly-focus prompt also anomaly_logits (B, T), the C-branch's.
        """
        x = self.temporal(snippet_feats)
        out: dict[str, torch.Tensor] = {}
        text = F.normalize(text_feats, dim=-1).to(x.dtype)
        if self.cfg.visual_prompt != "none":
            prompt, anomaly_logits = self.visual_prompt(x, lengths)
            if anomaly_logits is not None:
                out["anomaly_logits"] = anomaly_logits
            text = self.prompted_text(text, prompt, per_snippet=text.dim() == 4)
        video = F.normalize(x, dim=-1)
        if self.cfg.text_temporal:
            text = F.normalize(self.text_temporal(text, x.shape[1]), dim=-1)
        if text.dim() == 2:
            logits = video @ text.t() / self.cfg.tau
        elif text.dim() == 3:
            logits = torch.einsum("btd,bcd->btc", video, text) / self.cfg.tau
        else:  # each snippet against its own text: the alignment matrix's diagonal
            logits = torch.einsum("btd,btcd->btc", video, text) / self.cfg.tau
        video_scores = topk_mean(logits, lengths)
        return {"logits": logits, "probs": logits.softmax(-1), "video_scores": video_scores,
                "video_probs": video_scores.softmax(-1), **out}

    def text_temporal(self, text: torch.Tensor, length: int) -> torch.Tensor:
        """Fig. 3's text branch: class text features (C, D), (B, C, D) or (B, T, C, D) as a
        sequence over the T snippets, through ``text_rwkv`` per class -> F_text (B, T, C, D)."""
        if text.dim() == 2:
            text = text[None]
        if text.dim() == 3:
            text = text[:, None].expand(-1, length, -1, -1)
        bsz, steps, n_cls, dim = text.shape
        seq = text.permute(0, 2, 1, 3).reshape(bsz * n_cls, steps, dim)
        return self.text_rwkv(seq).reshape(bsz, n_cls, steps, dim).permute(0, 2, 1, 3)

    def alignment_matrix(self, snippet_feats: torch.Tensor, text_feats: torch.Tensor,
                         lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Fig. 3's alignment matrix per class: (B, C, m, m), s_ij = cos(F_video_i, F_text_j)
        (Exp. (15)) for the m snippets; ``forward``'s logits are τ⁻¹ times its diagonal (text
        branch of Fig. 3; without it every column j holds the clip's one text)."""
        x = self.temporal(snippet_feats)
        video = F.normalize(x, dim=-1)
        text = F.normalize(text_feats, dim=-1).to(video.dtype)
        if self.cfg.visual_prompt != "none":
            text = self.prompted_text(text, self.visual_prompt(x, lengths)[0], per_snippet=text.dim() == 4)
        if self.cfg.text_temporal:
            text = F.normalize(self.text_temporal(text, video.shape[1]), dim=-1)
        elif text.dim() < 4:
            text = (text[None] if text.dim() == 2 else text)[:, None].expand(-1, video.shape[1], -1, -1)
        return torch.einsum("bid,bjcd->bcij", video, text)

    def visual_prompt(self, video: torch.Tensor, lengths: torch.Tensor | None):
        """VadCLIP Eq. 6 (anomaly focus) or the average frame: V (B, D), L2-normalised, and the
        C-branch's anomaly logits (B, T) (None for the average frame)."""
        bsz, steps, _ = video.shape
        if lengths is None:
            lengths = torch.full((bsz,), steps, device=video.device)
        valid = (torch.arange(steps, device=video.device)[None, :] < lengths.to(video.device)[:, None])
        if self.cfg.visual_prompt == "average_frame":
            weights, logits = valid.to(video.dtype), None
        else:
            logits = self.anomaly_fc(self.anomaly_ffn(video) + video).squeeze(-1)  # Eq. 4
            weights = torch.sigmoid(logits) * valid.to(video.dtype)
        prompt = torch.einsum("bt,btd->bd", weights, video)  # Aᵀ X
        return F.normalize(prompt, dim=-1), logits

    def prompted_text(self, text: torch.Tensor, prompt: torch.Tensor, per_snippet: bool) -> torch.Tensor:
        """VadCLIP Eq. 7: T = FFN(V + t) + t, for every class (and snippet) of each clip."""
        bsz = prompt.shape[0]
        if text.dim() == 2:
            text = text[None].expand(bsz, -1, -1)
        v = prompt[:, None, None] if per_snippet else prompt[:, None]
        added = text + v
        return self.prompt_ffn(added) + text


def create_clip(cfg: FineConfig) -> nn.Module:
    """The open_clip model `cfg` names, with `cfg.checkpoint` loaded (weights_only), or a
    ConfigError naming what could not be read."""
    schema = cfg.clip_model.split(":", 1)[0] if ":" in cfg.clip_model else None
    if schema is None and cfg.clip_model not in open_clip.list_models():
        raise ConfigError(f"fine.clip_model: unknown open_clip model '{cfg.clip_model}' "
                          "(see open_clip.list_models(), or register a config file)")
    pretrained = None
    if cfg.checkpoint is not None:
        path = Path(cfg.checkpoint).expanduser()
        if not path.is_file():
            raise ConfigError(f"fine.checkpoint: file not found: {path}")
        pretrained = str(path)
    try:
        if schema is None:
            return open_clip.create_model(cfg.clip_model, pretrained=pretrained, weights_only=True)
        # open_clip ignores `pretrained` for "local-dir:"/"hf-hub:" names (it takes the folder's
        # own weights, if any), so the checkpoint asked for is loaded explicitly
        model = open_clip.create_model(cfg.clip_model)
        if pretrained is not None:
            open_clip.load_checkpoint(model, pretrained, weights_only=True)
        return model
    except Exception as exc:
        # Any failure to read the user's file (a refused pickle raises torch's
        # UnpicklingError) is a configuration error naming the file, not a traceback.
        raise ConfigError(f"fine: cannot build CLIP '{cfg.clip_model}' from "
                          f"{pretrained or 'random initialisation'}: {exc}") from exc


def _text_tower(clip: nn.Module, name: str) -> nn.Module:
    """The module holding CLIP's text transformer (the model itself, or its .text tower)."""
    for tower in (clip, getattr(clip, "text", None)):
        if tower is not None and all(hasattr(tower, a) for a in (
                "token_embedding", "positional_embedding", "transformer", "ln_final")):
            return tower
    raise ConfigError(f"fine.clip_model '{name}': not a CLIP-style text transformer; the triplet "
                      "prompts need token embeddings to splice the learnable context into")
