# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Training losses of TCVADS (paper §IV, Exp. 10-19).

- `mil_topk_bce`: the teacher's (and the student's hard) loss, paper Exp. (10): weak video
  labels, multiple-instance learning, BCE on the mean of the top-k snippet probabilities with
  k = ⌊T/16⌋ + 1 over each video's true length T (VadCLIP's ``CLAS2``).
- `distillation_loss`: paper Exp. (11)/(14), ``L = L_hard + λ·T²·L_soft``; with one logit per
  snippet the "distributions" are Bernoulli, so L_soft is the Bernoulli KL of σ(z/T).
- `mil_align_loss` and `contrastive_loss`: the fine stage, Exp. (17)-(19).

Every loss takes padded batches with a `lengths` tensor and ignores the padding.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F


def valid_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, max_len) bool: True for the first `lengths[b]` snippets of video b."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def topk_count(lengths: torch.Tensor) -> torch.Tensor:
    """k = ⌊T/16⌋ + 1 snippets per video (VadCLIP's MIL choice)."""
    return torch.div(lengths, 16, rounding_mode="floor") + 1


def topk_mean(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of the k = ⌊T/16⌋+1 largest values over the valid snippets of each video.

    `values` is (B, T) or (B, T, C) (then per class); returns (B,) or (B, C).
    """
    squeeze = values.dim() == 2
    if squeeze:
        values = values.unsqueeze(-1)
    b, t, _ = values.shape
    mask = valid_mask(lengths, t).unsqueeze(-1)
    masked = values.masked_fill(~mask, float("-inf"))
    k = topk_count(lengths).clamp(max=t)
    ranked = masked.sort(dim=1, descending=True).values  # (B, T, C)
    take = (torch.arange(t, device=values.device)[None, :] < k[:, None]).unsqueeze(-1)
    out = torch.where(take, ranked, torch.zeros_like(ranked)).sum(1) / k[:, None].to(values.dtype)
    return out.squeeze(-1) if squeeze else out


def mil_topk_bce(logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Paper Exp. (10): BCE between the video label and the top-k mean snippet probability."""
    video_prob = topk_mean(torch.sigmoid(logits), lengths).clamp(1e-7, 1 - 1e-7)
    return F.binary_cross_entropy(video_prob, labels.to(video_prob.dtype))


def masked_mean(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of per-snippet `values` (B, T) over the valid snippets of each video (padding left out)."""
    mask = valid_mask(lengths, values.shape[1]).to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def snippet_bce(logits: torch.Tensor, snippet_labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """BCE of every valid snippet against its own label (``teacher.supervision: snippet``)."""
    bce = F.binary_cross_entropy_with_logits(logits, snippet_labels.to(logits.dtype), reduction="none")
    return masked_mean(bce, lengths)


def bernoulli_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(Bernoulli(σ(z_t)) ‖ Bernoulli(σ(z_s))), stable for large logits."""
    p = torch.sigmoid(teacher_logits)
    log_p, log_1mp = F.logsigmoid(teacher_logits), F.logsigmoid(-teacher_logits)
    log_q, log_1mq = F.logsigmoid(student_logits), F.logsigmoid(-student_logits)
    return p * (log_p - log_q) + (1 - p) * (log_1mp - log_1mq)


def soft_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    lengths: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Paper Exp. (11), scaled by T² (Hinton et al.) so its gradient does not vanish as T grows.

    Mean over the valid snippets of the Bernoulli KL of σ(z_teacher/T) and σ(z_student/T).
    The teacher's logits are detached here: the teacher is frozen.
    """
    kl = bernoulli_kl(teacher_logits.detach() / temperature, student_logits / temperature)
    return temperature**2 * masked_mean(kl, lengths)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    lengths: torch.Tensor,
    temperature: float,
    weight: float,
) -> dict[str, torch.Tensor]:
    """Paper Exp. (14): ``L = L_hard + λ·L_soft(T)``; λ = 0 or no teacher -> plain MIL training."""
    hard = mil_topk_bce(student_logits, labels, lengths)
    if teacher_logits is None or weight == 0:
        soft = torch.zeros((), dtype=hard.dtype, device=hard.device)
    else:
        soft = soft_loss(student_logits, teacher_logits, lengths, temperature)
    return {"loss": hard + weight * soft, "hard": hard, "soft": soft}


def l2_penalty(parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """‖θ‖²: the sum of squares of the trainable parameters (the λ terms of Exp. 17/18)."""
    terms = [p.pow(2).sum() for p in parameters if p.requires_grad]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def mil_align_loss(video_scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy part of Exp. (17) (VadCLIP's ``CLASM``).

    `video_scores` (B, C) are MIL-aligned class logits (top-k mean over snippets); `targets`
    (B, C) are one-hot (UCF) or multi-hot (XD) and are normalised to a distribution per video.
    """
    target = targets.to(video_scores.dtype)
    target = target / target.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return -(target * F.log_softmax(video_scores, dim=1)).sum(dim=1).mean()


def contrastive_loss(text_features: torch.Tensor, normal_index: int = 0, margin: float = 0.5) -> torch.Tensor:
    """Hinge part of Exp. (18): ``Σ_j max(0, cos(t_normal, t_abnormal_j) − δ)``.

    `text_features` is (C, D) or (B, C, D); a batch is averaged over B. Pushes every abnormal
    class embedding away from the normal one until their cosine is below δ.
    """
    feats = F.normalize(text_features, dim=-1)
    if feats.dim() == 2:
        feats = feats.unsqueeze(0)
    normal = feats[:, normal_index : normal_index + 1, :]
    abnormal = torch.cat([feats[:, :normal_index], feats[:, normal_index + 1 :]], dim=1)
    cos = (normal * abnormal).sum(-1)  # (B, C-1)
    return F.relu(cos - margin).sum(dim=1).mean()
