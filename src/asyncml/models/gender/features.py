"""Voice features: Praat's pitch (F0) and formants over the voiced frames of speech.

Pitch is Praat's autocorrelation tracker (``To Pitch (ac)``), formants its Burg LPC tracker,
both through ``praat-parselmouth`` at a 10 ms step on 16 kHz audio. A clip's features are
statistics of the frames that are both voiced and inside the VAD's speech segments:

- ``f0_median_st``, ``f0_p10_st``, ``f0_p90_st``: F0 quantiles in semitones re 100 Hz;
- ``f1_log``, ``f2_log``, ``f3_log``: log of the median of each formant (Hz), a proxy for
  vocal-tract length that does not depend on pitch;
- ``fdisp_log``: log of the formant dispersion (F3 - F1) / 2 of those medians, the classic
  vocal-tract-length correlate (Fitch 1997), which separates high-pitched men from women
  where pitch cannot;
- ``centroid_log``, ``tilt_db_oct``: spectral centroid (log Hz) and slope (dB per octave) of
  the voiced frames' spectra in the telephone band (300-3400 Hz), medians over frames: voice
  quality (a breathier voice has a steeper slope) measured alike on wideband and phone audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import parselmouth
from parselmouth.praat import call

from asyncml.models.gender.vad import RATE, SpeechSegment

TIME_STEP = 0.01
PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 500.0
# Formants are measured in the telephone band (the sound resampled to 8 kHz) so that wideband
# and telephone recordings give the same measurements.
FORMANT_RATE = 8000
FORMANT_CEILING_HZ = 4000.0
FORMANTS_IN_BAND = 4
FEATURE_NAMES: tuple[str, ...] = (
    "f0_median_st",
    "f0_p10_st",
    "f0_p90_st",
    "f1_log",
    "f2_log",
    "f3_log",
    "fdisp_log",
    "centroid_log",
    "tilt_db_oct",
)
SPECTRUM_WINDOW = 512  # samples at 16 kHz: 32 ms around each pitch frame
BAND_HZ = (300.0, 3400.0)
SPECTRUM_BLOCK = 2000  # frames per FFT block: bounds memory on long clips


@dataclass(frozen=True)
class VoiceTrack:
    """Frame-wise F0 (Hz, 0 where unvoiced), F1-F3 (Hz, NaN where missing) and the spectral
    centroid (Hz) and tilt (dB/octave) of voiced frames (NaN elsewhere) at ``times``."""

    times: np.ndarray
    f0: np.ndarray
    formants: np.ndarray  # shape (frames, 3)
    centroid: np.ndarray
    tilt: np.ndarray


@dataclass(frozen=True)
class VoiceSummary:
    values: np.ndarray  # in FEATURE_NAMES order
    median_f0_hz: float
    voiced_seconds: float
    f0_spread_st: float  # p90 - p10: intonation; a steady tone has next to none


def track(audio: np.ndarray) -> VoiceTrack:
    """Pitch and formant tracks of 16 kHz mono ``audio``."""
    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=RATE)
    pitch = sound.to_pitch_ac(
        time_step=TIME_STEP, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ
    )
    f0 = np.asarray(pitch.selected_array["frequency"], dtype=np.float64)
    times = np.asarray(pitch.xs(), dtype=np.float64)
    formant = sound.resample(FORMANT_RATE).to_formant_burg(
        time_step=TIME_STEP,
        max_number_of_formants=FORMANTS_IN_BAND,
        maximum_formant=FORMANT_CEILING_HZ,
    )
    tracks = np.stack([call(formant, "To Matrix", k).values[0] for k in (1, 2, 3)], axis=1)
    tracks = np.where(tracks > 0, tracks, np.nan)
    # The two trackers share a step but may differ in their first frame: sample by time.
    index = np.clip(np.rint((times - formant.x1) / formant.dx).astype(np.int64), 0, len(tracks) - 1)
    formants = tracks[index] if len(tracks) else np.full((len(times), 3), np.nan)
    centroid, tilt = spectral_shape(audio, times, f0 > 0)
    return VoiceTrack(times=times, f0=f0, formants=formants, centroid=centroid, tilt=tilt)


def spectral_shape(
    audio: np.ndarray, times: np.ndarray, voiced: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (Hz) and slope (dB/octave) of each voiced frame's power spectrum in
    ``BAND_HZ``; NaN for unvoiced frames."""
    centroid = np.full(len(times), np.nan)
    tilt = np.full(len(times), np.nan)
    which = np.flatnonzero(voiced)
    if not which.size or not audio.size:
        return centroid, tilt
    half = SPECTRUM_WINDOW // 2
    padded = np.pad(audio.astype(np.float64), (half, half))
    windows = np.lib.stride_tricks.sliding_window_view(padded, SPECTRUM_WINDOW)
    freqs = np.fft.rfftfreq(SPECTRUM_WINDOW, 1 / RATE)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    octaves = np.log2(freqs[band])
    octaves = octaves - octaves.mean()
    taper = np.hanning(SPECTRUM_WINDOW)
    for first in range(0, which.size, SPECTRUM_BLOCK):
        rows = which[first : first + SPECTRUM_BLOCK]
        starts = np.clip(np.rint(times[rows] * RATE).astype(np.int64), 0, len(windows) - 1)
        power = np.abs(np.fft.rfft(windows[starts] * taper, axis=1))[:, band] ** 2 + 1e-12
        centroid[rows] = power @ freqs[band] / power.sum(axis=1)
        level = 10 * np.log10(power)
        tilt[rows] = (level - level.mean(axis=1, keepdims=True)) @ octaves / (octaves @ octaves)
    return centroid, tilt


def summarise(
    voice: VoiceTrack, segments: Sequence[SpeechSegment], *, min_voiced_frames: int = 20
) -> VoiceSummary | None:
    """Features of the voiced frames inside ``segments``; None when too few are voiced."""
    inside = np.zeros(len(voice.times), dtype=bool)
    for seg in segments:
        inside |= (voice.times >= seg.start / RATE) & (voice.times < seg.end / RATE)
    voiced = inside & (voice.f0 > 0)
    if int(voiced.sum()) < min_voiced_frames:
        return None
    semitones = 12 * np.log2(voice.f0[voiced] / 100.0)
    p10, median, p90 = np.percentile(semitones, [10, 50, 90])
    formants = voice.formants[voiced]
    medians = np.array(
        [np.nanmedian(col) if np.isfinite(col).any() else np.nan for col in formants.T]
    )
    if not np.isfinite(medians).all() or medians[2] <= medians[0]:
        return None
    centroid = float(np.nanmedian(voice.centroid[voiced]))
    tilt = float(np.nanmedian(voice.tilt[voiced]))
    dispersion = (medians[2] - medians[0]) / 2
    values = np.array(
        [median, p10, p90, *np.log(medians), np.log(dispersion), np.log(centroid), tilt],
        dtype=np.float64,
    )
    return VoiceSummary(
        values=values,
        median_f0_hz=float(100.0 * 2 ** (median / 12)),
        voiced_seconds=float(voiced.sum() * TIME_STEP),
        f0_spread_st=float(p90 - p10),
    )
