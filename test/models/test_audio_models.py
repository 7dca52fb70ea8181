# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The audio branch's models: "no sound" is the all-zero feature, CMHKF's top-k window weights
(Eq. 5-6) by hand, the ±w maximum, the teacher's and student's branches, and that the student's
audio keeps it causal and learns what only sound shows."""

from __future__ import annotations

import pytest
import torch

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.afed import AFEDConfig, AFEDTeacher
from tcvads_ros.models.audio import (
    AudioEncoder,
    AudioEncoderConfig,
    AudioFusion,
    AudioFusionConfig,
    topk_window_weights,
    window_max,
)
from tcvads_ros.models.qacm import QACMConfig, QACMStudent

torch.set_num_threads(1)

FEATURES = 6
ENCODER = {"n_mels": 8, "embedding_dim": 4, "channels": 4}


def _mel(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, 8, 20, generator=torch.Generator().manual_seed(seed))


def test_unheard_snippets_get_the_zero_feature_and_never_reach_the_encoder():
    torch.manual_seed(0)
    encoder = AudioEncoder(AudioEncoderConfig(**ENCODER)).train()
    mel = _mel(2, 5)
    heard = torch.tensor([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0]], dtype=torch.float32)
    out = encoder.snippets(mel, heard, 2, 5)
    assert out.shape == (2, 5, 4)
    assert torch.all(out[heard == 0] == 0) and torch.all(out[heard == 1].abs().sum(-1) > 0)
    changed = mel.clone()
    changed[heard == 0] = 1e3  # what an unheard snippet's patch holds does not matter, batch norm included
    assert torch.equal(encoder.snippets(changed, heard, 2, 5), out)
    assert torch.equal(encoder.snippets(None, None, 2, 5), torch.zeros(2, 5, 4))
    encoder.eval()
    assert torch.allclose(encoder.snippets(mel, None, 2, 5)[heard == 1], encoder(mel[heard == 1]))


def test_topk_window_weights_follow_cmhkf_eq_5_and_6():
    # 20 heard snippets: k = 20 // 16 + 1 = 2 centres, w = 1
    logits = torch.zeros(1, 22)
    logits[0, 5], logits[0, 14] = 3.0, 2.0
    heard = torch.ones(1, 22)
    heard[0, 20:] = 0
    weights = topk_window_weights(logits, heard, window=1)
    s = torch.softmax(logits[0, :20], dim=0)  # Eq. 5 over the heard snippets
    want = s.clone()
    want[4:7] += s[5]  # Eq. 6: the centre's saliency over its window of 2w + 1
    want[13:16] += s[14]
    assert torch.allclose(weights[0, :20], 20 * want, atol=1e-6)
    assert torch.all(weights[0, 20:] == 0)
    # no sound at all: zero weights and a finite gradient
    logits = torch.randn(2, 9, requires_grad=True)
    weights = topk_window_weights(logits, torch.zeros(2, 9), window=2)
    weights.sum().backward()
    assert torch.all(weights == 0) and torch.isfinite(logits.grad).all()


def test_window_max_moves_a_sound_up_to_w_snippets_and_only_heard_ones():
    audio = torch.zeros(1, 10, 2)
    audio[0, 6] = torch.tensor([5.0, -1.0])
    heard = torch.ones(1, 10)
    heard[0, 0] = 0
    out = window_max(audio, heard, window=2)
    assert torch.allclose(out[0, 4:9, 0], torch.full((5,), 5.0)) and torch.all(out[0, :4, 0] == 0)
    assert torch.all(out[0, 4:9, 1] == 0)  # the maximum of the neighbours (0 > -1)
    silent = window_max(audio, torch.zeros(1, 10), window=2)
    assert torch.all(silent == 0)


@pytest.mark.parametrize("fusion", ["topk_window", "window_max", "concat"])
def test_the_teacher_hears_and_an_unheard_video_is_the_teacher_without_sound(fusion):
    torch.manual_seed(0)
    teacher = AFEDTeacher(AFEDConfig(input="features", input_dim=FEATURES, rwkv_dim=8, dropout=0.0,
                                     audio=AudioFusionConfig(**ENCODER, fusion=fusion))).eval()
    x, mel = torch.randn(2, 7, FEATURES), _mel(2, 7)
    heard = torch.ones(2, 7)
    with torch.no_grad():
        silent = teacher(x)
        assert torch.equal(teacher(x, mel, torch.zeros(2, 7)), silent)
        assert not torch.allclose(teacher(x, mel, heard), silent)
    teacher.train()
    teacher(x, mel, heard).square().mean().backward()
    grads = {n: p.grad for n, p in teacher.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["project.0.weight"][:, FEATURES:].abs().sum() > 0  # the audio columns learn


def test_models_without_an_audio_branch_ignore_sound():
    torch.manual_seed(0)
    teacher = AFEDTeacher(AFEDConfig(input="features", input_dim=FEATURES, rwkv_dim=8)).eval()
    student = QACMStudent(QACMConfig(input="features", input_dim=FEATURES, hidden=8)).eval()
    x, mel = torch.randn(1, 5, FEATURES), _mel(1, 5)
    for model in (teacher, student):
        assert model.audio is None
        assert torch.equal(model(x, mel, torch.ones(1, 5)), model(x))


def test_the_students_sound_is_stamp_aligned_and_causal():
    torch.manual_seed(0)
    student = QACMStudent(QACMConfig(input="features", input_dim=FEATURES, hidden=8,
                                     audio=AudioEncoderConfig(**ENCODER))).eval()
    assert student.qacm.input_dim == FEATURES + 4
    x, mel, heard = torch.randn(1, 30, FEATURES), _mel(1, 30), torch.ones(1, 30)
    later = mel.clone()
    later[:, 20:] += 3.0  # sound after step 19
    with torch.no_grad():
        before, after = student(x, mel, heard), student(x, later, heard)
        assert torch.equal(before[:, :20], after[:, :20]) and not torch.allclose(before[:, 20:], after[:, 20:])
        # unheard = the QACM reading zeros as the audio feature, what the runtime sends
        zeros = torch.cat([x, torch.zeros(1, 30, 4)], dim=-1)
        assert torch.allclose(student(x, mel, torch.zeros(1, 30)), student.qacm(zeros))


def test_a_student_learns_what_only_its_sound_shows():
    # Abnormal videos differ from normal ones only in their sound (three loud snippets at a
    # random place), the picture shows nothing (constant visual features): with sound the student
    # ranks the loud snippets above the others; reading zeros (no sound) it cannot tell them apart.
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)

    def videos(n: int, abnormal: bool):
        mel = torch.randn(n, 8, 8, 20, generator=g) - 6.0
        labels = torch.zeros(n, 8)
        if abnormal:
            for i, start in enumerate(torch.randint(0, 6, (n,), generator=g).tolist()):
                mel[i, start:start + 3, 3:5] += 8.0  # loud in a few bands
                labels[i, start:start + 3] = 1.0
        return torch.zeros(n, 8, FEATURES), mel, labels

    x, mel, labels = (torch.cat(p) for p in zip(*[videos(32, a) for a in (False, True)]))
    torch.manual_seed(0)
    student = QACMStudent(QACMConfig(input="features", input_dim=FEATURES, hidden=8, dropout=0.0,
                                     audio=AudioEncoderConfig(**ENCODER)))
    optim = torch.optim.AdamW(student.parameters(), lr=3e-3)
    for _ in range(100):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(student(x, mel, torch.ones(64, 8)), labels)
        optim.zero_grad()
        loss.backward()
        optim.step()
    student.eval()
    test_x, test_mel, test_labels = (torch.cat(p) for p in zip(*[videos(16, a) for a in (False, True)]))
    with torch.no_grad():
        heard = torch.sigmoid(student(test_x, test_mel, torch.ones(32, 8)))
        deaf = torch.sigmoid(student(test_x, test_mel, torch.zeros(32, 8)))
    truth = test_labels.flatten().numpy()
    assert roc_auc_score(truth, heard.flatten().numpy()) > 0.95  # measured 1.0
    assert abs(roc_auc_score(truth, deaf.flatten().numpy()) - 0.5) < 0.1  # every input the same


def test_bad_audio_settings_are_config_errors():
    with pytest.raises(ConfigError, match="fusion"):
        AudioFusion(AudioFusionConfig(fusion="attention"), 4)
    with pytest.raises(ConfigError, match="audio encoder"):
        AudioEncoder(AudioEncoderConfig(channels=0))
