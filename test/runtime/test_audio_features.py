# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The audio feature rule: the mel filterbank against an independent formulation, the log-mel
patch's shape and content, and which sound belongs to a snippet."""

import numpy as np
import pytest

from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.audio_features import (
    AudioSpec,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    snippet_log_mels,
    snippet_window,
)

SPEC = AudioSpec()


def test_mel_scale_round_trips_and_is_htk():
    hz = np.array([0.0, 700.0, 1000.0, 8000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(hz)), hz)
    assert hz_to_mel(700.0) == pytest.approx(2595.0 * np.log10(2.0))


def test_filterbank_matches_a_triangle_drawn_by_interpolation():
    # Independent formulation: each filter is the piecewise-linear curve through
    # (left edge, 0), (centre, 1), (right edge, 0), evaluated at the FFT bins by np.interp.
    spec = AudioSpec(n_mels=24, fmin=50.0, fmax=7000.0)
    bank = mel_filterbank(spec)
    freqs = np.arange(spec.n_fft // 2 + 1) * spec.rate / spec.n_fft
    mels = np.linspace(hz_to_mel(spec.fmin), hz_to_mel(spec.fmax), spec.n_mels + 2)
    edges = 700.0 * (10 ** (mels / 2595.0) - 1)
    for m in range(spec.n_mels):
        want = np.interp(freqs, edges[m:m + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0)
        assert np.allclose(bank[m], want, atol=1e-6), m
    assert bank.shape == (24, spec.n_fft // 2 + 1)


def test_a_window_gives_the_graphs_fixed_frames_and_a_tone_lands_in_its_band():
    t = np.arange(SPEC.window_samples) / SPEC.rate
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    mel = log_mel(tone, SPEC)
    assert mel.shape == (SPEC.n_mels, SPEC.mel_frames) and mel.dtype == np.float32
    centres = mel_to_hz(np.linspace(hz_to_mel(SPEC.fmin), hz_to_mel(SPEC.fmax), SPEC.n_mels + 2))[1:-1]
    loudest = int(np.argmax(mel.mean(axis=1)))
    assert abs(centres[loudest] - 1000.0) < 150.0
    silence = log_mel(np.zeros(SPEC.window_samples), SPEC)
    assert np.allclose(silence, np.log(1e-6))
    assert mel[loudest].mean() - silence[loudest].mean() > 10


def test_log_mel_refuses_stereo_and_short_input():
    with pytest.raises(ValueError, match="mono"):
        log_mel(np.zeros((2, 1000)), SPEC)
    with pytest.raises(ValueError, match="at least"):
        log_mel(np.zeros(10), SPEC)


def test_a_snippets_sound_is_the_window_before_its_frame_and_coverage_says_how_much_was_heard():
    assert snippet_window(10.0, SPEC) == pytest.approx((10.0 - SPEC.window_s, 10.0))
    ahead = AudioSpec(lead_s=0.32)
    assert snippet_window(10.0, ahead) == pytest.approx((10.0 + 0.32 - 0.64, 10.32))
    # A click at 2.0 s: heard by the snippet at 2.2 s, not by the one at 1.9 s.
    track = np.zeros(4 * SPEC.rate, dtype=np.float32)
    track[2 * SPEC.rate: 2 * SPEC.rate + 80] = 0.9
    mels, cover = snippet_log_mels(track, np.array([0.3, 1.9, 2.2, 4.5]), SPEC)
    assert mels.shape == (4, SPEC.n_mels, SPEC.mel_frames)
    assert cover[0] == pytest.approx(0.3 / 0.64, abs=1e-3) and cover[1] == cover[2] == 1.0
    assert cover[3] == pytest.approx((4.0 - (4.5 - 0.64)) / 0.64, abs=1e-3)
    assert mels[2].max() > mels[1].max() + 5
    # The same snippet, the track starting 1 s later on the stream's clock: the click moves too.
    later, _ = snippet_log_mels(track, np.array([3.2]), SPEC, start_s=1.0)
    assert np.allclose(later[0], mels[2])


def test_spec_checks_and_manifest_errors():
    with pytest.raises(ValueError, match="fmax"):
        AudioSpec(fmax=9000.0)
    with pytest.raises(BundleError, match="unknown 'audio' keys"):
        AudioSpec.from_manifest({"rate": 16000, "bogus": 1})
    with pytest.raises(BundleError, match="invalid"):
        AudioSpec.from_manifest({"rate": 16000, "n_mels": 0})
    assert AudioSpec.from_manifest(SPEC.to_dict()) == SPEC


def test_log_mel_is_the_textbook_power_spectrum_through_the_filters():
    # Independent formulation: NumPy's rfft of each Hann-windowed frame, in float64.
    x = np.random.default_rng(3).standard_normal(SPEC.window_samples) * 0.2
    n = np.arange(SPEC.n_fft)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / SPEC.n_fft)
    starts = range(0, SPEC.window_samples - SPEC.n_fft + 1, SPEC.hop)
    power = np.stack([np.abs(np.fft.rfft(x[s:s + SPEC.n_fft] * hann)) ** 2 for s in starts])
    want = np.log(mel_filterbank(SPEC).astype(np.float64) @ power.T + 1e-6)
    assert np.allclose(log_mel(x, SPEC), want, atol=1e-4)
