# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Fine stage training (paper §IV.B, Exp. 15-19; docs/models.md).

Per clip, the top-m captions of the caption bank are retrieved by CLIP similarity (frozen, so
the bank's embeddings are computed once), class text features follow the edge rule
(`FineStage.text_features`: the mean over the clip's captions of the triplet prompts), and

    L = α·L_align + β·L_contrast                                            (Exp. 19)
    L_align    = CE(MIL-aligned video class scores, labels) + λ1‖θ_align‖²  (Exp. 17)
    L_contrast = Σ_j max(0, cos(t_normal, t_abnormal_j) − δ) + λ2‖θ_contrast‖²  (Exp. 18)

θ_align are all trainable parameters (Enhanced RWKV + learnable context), θ_contrast those of
the text side (the learnable context), which alone moves the class text features.
With Fig. 3's text branch (``fine.model.text_temporal``) every snippet retrieves its own
captions, so the class text features are (B, T, C, D) and L_contrast averages over the
snippets too. With the anomaly-focus visual prompt (``fine.model.visual_prompt``) the C-branch
that weights it is trained as VadCLIP trains it: BCE of its top-k mean against the video's
normal/abnormal label (Exp. (10)'s loss), added to L.
The fine stage reads CLIP features: VadCLIP's released ones, or for raw/synthetic videos
features extracted with the stage's own frozen image encoder (cached, resumable).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from tcvads_ros.config_files import config_file
from tcvads_ros.configuration import to_mapping
from tcvads_ros.errors import DataError
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.registry import create_model
from tcvads_ros.progress import progress_bar
from tcvads_ros.training import experiment, feature_datasets, losses, metrics, resampling
from tcvads_ros.training.run_folder import DEFAULT_FPS
from tcvads_ros.training.train_config import TrainConfig
from tcvads_ros.training.trainer import Context, best_of, fit, main_first

FINE = "fine"  # create_model name


def build_fine(cfg: TrainConfig) -> tuple[torch.nn.Module, dict]:
    """The FineStage of the config and the create_model arguments beside its config."""
    path = cfg.fine.captions or config_file("captions.yaml")
    args = {"class_names": experiment.class_names_of(cfg.data.dataset),
            "captions": CaptionBank.from_file(path).captions}
    return create_model(FINE, **cfg.fine.model, **args), {**args, "path": path}


def image_extractor(model: torch.nn.Module, device: torch.device):
    """uint8 frames (N, H, W, 3) -> normalised CLIP features (N, D), as `extract_features` wants."""

    @torch.no_grad()
    def extract(frames: np.ndarray) -> np.ndarray:
        images = model.preprocess(torch.from_numpy(frames).to(device))
        return model.encode_images(images).float().cpu().numpy()

    return extract


def fine_data(cfg: TrainConfig, model: torch.nn.Module, lists: experiment.Lists, cache: Path,
              device: torch.device, progress: bool) -> experiment.Split:
    """CLIP-feature datasets: the listed features, or extracted from the videos with the stage's
    own frozen image encoder (cached per CLIP model, resumable)."""
    if cfg.data.kind == "features":
        train_list, test_list = lists.train, lists.test
    else:
        # the cache is keyed by the encoder's weights (the checkpoint's name and content hash;
        # a random-init CLIP, no checkpoint, by seed)
        weights = f"random{cfg.seed}"
        if model.cfg.checkpoint:
            path = Path(model.cfg.checkpoint)
            with path.open("rb") as f:  # in chunks: a ViT-B/16 checkpoint is ~600 MB
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            weights = f"{path.stem}-{digest[:12]}"
        name = f"{Path(model.cfg.clip_model).name}_{weights}"
        tag = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        train_list, test_list = experiment.cached_features(
            lists, cache, f"clip_{tag}", image_extractor(model, device), model.input_size, progress)
    length = cfg.fine.max_length or cfg.data.max_length
    split = experiment.build_split(train_list, test_list, cfg.data, "features", cfg.seed,
                                   lists.train_segments, length)
    width = feature_datasets.load_features(split.train.entries[0].path).shape[1]
    if width != model.embed_dim:
        raise DataError(f"{split.train.entries[0].path}: features are {width} wide but the fine stage's "
                        f"CLIP ({model.cfg.clip_model}) gives {model.embed_dim}; use the matching fine.model")
    return split


def retrieve(model: torch.nn.Module, feats: torch.Tensor, lengths: torch.Tensor, bank: torch.Tensor,
             top_m: int) -> torch.Tensor:
    """(B, m) caption indices of each clip (over its valid snippets); with Fig. 3's text branch
    (``text_temporal``) (B, T, m), every snippet's own (padding rows retrieve too; their scores
    are masked later)."""
    if model.cfg.text_temporal:
        return snippet_captions(feats, bank, top_m)
    return torch.stack([model.retrieve_captions(f[: int(n)], top_m, bank)[0] for f, n in zip(feats, lengths)])


@torch.no_grad()
def snippet_captions(feats: torch.Tensor, bank: torch.Tensor, top_m: int) -> torch.Tensor:
    """(..., T, m): the top-m captions of every snippet by cosine similarity (CLIP native text,
    per frame as §IV.B has it)."""
    sims = torch.nn.functional.normalize(feats, dim=-1) @ bank.to(feats.dtype).t()
    return sims.topk(min(top_m, bank.shape[0]), dim=-1).indices


def text_side(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """θ_contrast: the trainable parameters that move the class text features (CoOp context)."""
    return [model.ctx]


def fine_loss(cfg: TrainConfig, bank: torch.Tensor):
    f = cfg.fine

    def loss_fn(m, batch):
        model = getattr(m, "module", m)  # DistributedDataParallel wraps it
        feats, lengths = batch["x"], batch["lengths"]
        text = model.text_features(retrieve(model, feats, lengths, bank, model.cfg.top_m))  # (B, C, D)
        out = m(feats, text, lengths)
        align = losses.mil_align_loss(out["video_scores"], batch["targets"])
        contrast = losses.contrastive_loss(text.reshape(-1, *text.shape[-2:]), normal_index=0, margin=f.margin)
        l2_align = losses.l2_penalty(p for p in model.parameters() if p.requires_grad)
        l2_text = losses.l2_penalty(text_side(model))
        loss = f.alpha * (align + f.lambda1 * l2_align) + f.beta * (contrast + f.lambda2 * l2_text)
        parts = {"align": align, "contrast": contrast}
        if "anomaly_logits" in out:  # the anomaly-focus prompt's C-branch (VadCLIP Eq. 4)
            abnormal = (batch["targets"][:, 1:].sum(-1) > 0).float()
            parts["c_branch"] = losses.mil_topk_bce(out["anomaly_logits"], abnormal, lengths)
            loss = loss + parts["c_branch"]
        return {"loss": loss, **parts}

    return loss_fn


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: feature_datasets.FeatureTestDataset, device: torch.device,
            top_m: int, progress: bool = False) -> tuple[list[np.ndarray], list[list[int]]]:
    """Per video: frame-level class probabilities (16·T, C) and the retrieved caption indices."""
    model.eval().to(device)
    bank = model.caption_embeddings()
    probs, captions = [], []
    loader = DataLoader(dataset, batch_size=1, collate_fn=feature_datasets.collate_test)
    for item in progress_bar(loader, desc="fine predict", leave=False, show=progress):
        chunks, chunk_lengths = item["chunks"].to(device), item["chunk_lengths"].to(device)
        whole = chunks.reshape(-1, chunks.shape[-1])[: item["length"]]
        indices = model.retrieve_captions(whole, top_m, bank)[0]
        if model.cfg.text_temporal:  # every snippet's own captions, chunked as the features
            per_snippet = model.text_features(snippet_captions(whole, bank, top_m))  # (T, C, D)
            padded = torch.zeros(chunks.shape[0] * chunks.shape[1], *per_snippet.shape[1:],
                                 dtype=per_snippet.dtype, device=device)
            padded[: len(per_snippet)] = per_snippet
            text = padded.reshape(*chunks.shape[:2], *per_snippet.shape[1:])
        else:
            text = model.text_features(indices[None]).expand(len(chunks), -1, -1)
        out = model(chunks, text, chunk_lengths)["probs"].float().cpu().numpy()
        probs.append(metrics.snippets_to_frames(resampling.unchunk(out, item["length"])))
        captions.append(indices.tolist())
    return probs, captions


def validate(model: torch.nn.Module, split: experiment.Split, device: torch.device, top_m: int) -> dict:
    """Validation mAP (vadclip mode) when the validation videos' segments are known, else the
    share of videos whose best class is one of their labels."""
    probs, _ = predict(model, split.val, device, top_m)
    if split.val_truth is not None:
        result = metrics.detection_map(probs, split.val_truth.segments, split.val_truth.labels,
                                       model.class_names)
        return {"val_mAP_avg": result["mAP_avg"]}
    video = [metrics.video_class_scores(p) for p in probs]
    hits = [t[int(np.argmax(v))] > 0 for v, t in zip(video, split.val.targets)]
    return {"val_accuracy": 100.0 * float(np.mean(hits))}


def train_fine(cfg: TrainConfig, lists: experiment.Lists, cache: Path, ctx: Context) -> torch.nn.Module:
    model, model_args = build_fine(cfg)
    model.to(ctx.device)
    split = main_first(ctx, lambda: fine_data(cfg, model, lists, cache, ctx.device, ctx.progress and ctx.is_main))
    with torch.no_grad():
        bank = model.caption_embeddings()
    check = (lambda m: validate(m, split, ctx.device, model.cfg.top_m)) if split.val is not None else None
    monitor = "val_mAP_avg" if split.val_truth is not None else "val_accuracy"
    history = fit("fine", model, split.train, feature_datasets.collate_train, fine_loss(cfg, bank), cfg.fine.optim, ctx,
                  check, monitor=monitor)
    folder = ctx.run
    captions_copy = "captions" + Path(model_args["path"]).suffix  # for people; model_args has the list
    if folder.writable:
        shutil.copyfile(model_args["path"], folder.path(captions_copy))
    extras = {"model_args": {"class_names": model_args["class_names"], "captions": model_args["captions"]},
              "captions_file": captions_copy, "clip_snippets": cfg.fine.clip_snippets, "fps": source_fps(lists),
              **best_of(history)}
    folder.save_model("fine", model, FINE, to_mapping(model.cfg), extras)
    return model


def source_fps(lists: experiment.Lists) -> float:
    """Frame rate of the source videos where known (the synthetic benchmark's meta.json)."""
    from tcvads_ros.data.synthetic import read_meta

    return float((read_meta(lists.train.parent) or {}).get("fps", DEFAULT_FPS))
