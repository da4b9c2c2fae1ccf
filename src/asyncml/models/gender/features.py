"""Voice features: Praat's pitch (F0) and formants over the voiced frames of speech.

Pitch is Praat's autocorrelation tracker (``To Pitch (ac)``), formants its Burg LPC tracker,
both through ``praat-parselmouth`` at a 10 ms step on 16 kHz audio. A clip's features are
statistics of the frames that are both voiced and inside the VAD's speech segments:

- ``f0_median_st``, ``f0_p10_st``, ``f0_p90_st``: F0 quantiles in semitones re 100 Hz;
- ``f1_log``, ``f2_log``, ``f3_log``: log of the median of each formant (Hz), a proxy for
  vocal-tract length that does not depend on pitch.
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
)


@dataclass(frozen=True)
class VoiceTrack:
    """Frame-wise F0 (Hz, 0 where unvoiced) and F1-F3 (Hz, NaN where missing) at ``times``."""

    times: np.ndarray
    f0: np.ndarray
    formants: np.ndarray  # shape (frames, 3)


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
    return VoiceTrack(times=times, f0=f0, formants=formants)


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
    if not np.isfinite(medians).all():
        return None
    values = np.array([median, p10, p90, *np.log(medians)], dtype=np.float64)
    return VoiceSummary(
        values=values,
        median_f0_hz=float(100.0 * 2 ** (median / 12)),
        voiced_seconds=float(voiced.sum() * TIME_STEP),
        f0_spread_st=float(p90 - p10),
    )
