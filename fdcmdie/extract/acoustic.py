"""Acoustic frame features from a 16 kHz mono waveform.

Two backends, chosen by ``ExtractConfig.acoustic_backend``:

* ``"librosa"`` (default), in the spirit of COVAREP: 13 MFCCs, F0 from ``librosa.yin`` with a voicing flag,
  periodicity (normalised autocorrelation at the F0 period, a harmonicity measure), RMS energy in dB and the
  spectral shape (centroid, bandwidth, flatness, roll-off, zero-crossing rate). Everything is computed on a fine
  analysis hop (``analysis_hop_s``, 20 ms) and mean-pooled into model frames of ``audio_hop_s`` (100 ms); F0 is
  averaged over voiced analysis frames only (0 when none), ``voiced`` is the voiced share of the frame.
* ``"opensmile"``: the 25 eGeMAPS v02 low-level descriptors (10 ms hop), mean-pooled the same way.

Only yin is used for pitch (pyin is far slower and not needed for a voicing flag).
"""
from __future__ import annotations

import numpy as np

from .common import SAMPLE_RATE, AcousticResult, ExtractConfig, PitchTrack

N_MFCC = 13
LIBROSA_COLUMNS: tuple[str, ...] = tuple(f"mfcc_{i}" for i in range(N_MFCC)) + (
    "f0_hz",                    # mean F0 of the voiced analysis frames, 0 when the frame is unvoiced
    "voiced",                   # share of voiced analysis frames, in [0, 1]
    "periodicity",              # normalised autocorrelation at the yin period, in [0, 1]
    "rms_db",                   # RMS energy in dB re full scale (floor -100)
    "spectral_centroid_khz",
    "spectral_bandwidth_khz",
    "spectral_flatness",        # 0 tonal .. 1 noise-like
    "spectral_rolloff_khz",     # 85% energy roll-off
    "zero_crossing_rate",
)
# Names of the eGeMAPS v02 low-level descriptors, in openSMILE's output order.
OPENSMILE_COLUMNS: tuple[str, ...] = (
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz", "F1frequency_sma3nz", "F1bandwidth_sma3nz",
    "F1amplitudeLogRelF0_sma3nz", "F2frequency_sma3nz", "F2bandwidth_sma3nz", "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz", "F3bandwidth_sma3nz", "F3amplitudeLogRelF0_sma3nz",
)

N_FFT = 512                  # 32 ms spectral window at 16 kHz
YIN_FRAME = 1024             # 64 ms: room for two periods of a 60 Hz voice
VOICING_PERIODICITY = 0.6    # normalised autocorrelation above this (and energy above the floor) = voiced
ENERGY_FLOOR_DB = -50.0      # absolute floor: quieter frames are never voiced
ENERGY_RANGE_DB = 35.0       # relative floor: frames this far below the loudest are never voiced
MIN_SPEECH_S = 0.15          # less voiced audio than this in the whole clip = "no speech detected"


def columns(backend: str = "librosa") -> tuple[str, ...]:
    """Column names of the acoustic features of ``backend``."""
    return {"librosa": LIBROSA_COLUMNS, "opensmile": OPENSMILE_COLUMNS}[backend]


def acoustic_features(y: np.ndarray, config: ExtractConfig | None = None) -> AcousticResult:
    """Frame features of the 16 kHz mono waveform ``y`` with the configured backend."""
    config = config or ExtractConfig()
    if config.acoustic_backend == "opensmile":
        return _opensmile(y, config)
    return _librosa(y, config)


def _librosa(y: np.ndarray, config: ExtractConfig) -> AcousticResult:
    import librosa

    sr = SAMPLE_RATE
    hop = int(round(config.analysis_hop_s * sr))
    y = np.ascontiguousarray(y, dtype=np.float32)
    if len(y) < YIN_FRAME:  # librosa needs one full window
        y = np.pad(y, (0, YIN_FRAME - len(y)))

    f0 = librosa.yin(y, fmin=config.fmin_hz, fmax=config.fmax_hz, sr=sr, frame_length=YIN_FRAME, hop_length=hop)
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=hop)[0]
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=hop))
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(S=S**2, sr=sr, n_mels=40)),
                                n_mfcc=N_MFCC)
    centroid = librosa.feature.spectral_centroid(S=S, sr=sr)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=S, sr=sr)[0]
    flatness = librosa.feature.spectral_flatness(S=S)[0]
    rolloff = librosa.feature.spectral_rolloff(S=S, sr=sr)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=hop)[0]

    n = min(len(f0), len(rms), S.shape[1], len(zcr))
    f0, rms, zcr = f0[:n], rms[:n], zcr[:n]
    periodicity = _periodicity(y, f0, hop)
    rms_db = 20 * np.log10(np.maximum(rms, 1e-5))
    floor = max(ENERGY_FLOOR_DB, float(rms_db.max()) - ENERGY_RANGE_DB)
    in_range = (f0 > config.fmin_hz * 1.02) & (f0 < config.fmax_hz * 0.98)
    voiced = (periodicity > VOICING_PERIODICITY) & (rms_db > floor) & in_range

    fine = np.stack([
        *mfcc[:, :n],
        np.where(voiced, f0, 0.0), voiced.astype(np.float32), periodicity, rms_db,
        centroid[:n] / 1000, bandwidth[:n] / 1000, flatness[:n], rolloff[:n] / 1000, zcr,
    ], axis=1).astype(np.float32)
    k = max(1, int(round(config.audio_hop_s / config.analysis_hop_s)))
    pooled = _pool(fine, k)
    # F0 of a model frame: mean over its voiced analysis frames only
    f0_col, voiced_col = LIBROSA_COLUMNS.index("f0_hz"), LIBROSA_COLUMNS.index("voiced")
    voiced_sum = _pool(fine[:, [voiced_col]], k, reduce="sum")[:, 0]
    f0_sum = _pool(fine[:, [f0_col]], k, reduce="sum")[:, 0]
    pooled[:, f0_col] = np.where(voiced_sum > 0, f0_sum / np.maximum(voiced_sum, 1), 0.0)

    times = librosa.frames_to_time(np.arange(n), sr=sr, hop_length=hop).astype(np.float32)
    pitch = PitchTrack(times=times, f0=np.where(voiced, f0, np.nan).astype(np.float32), voiced=voiced)
    speech = float(voiced.sum()) * config.analysis_hop_s >= MIN_SPEECH_S
    return AcousticResult(_finite(pooled), LIBROSA_COLUMNS, pitch, speech, config.audio_hop_s)


def _periodicity(y: np.ndarray, f0: np.ndarray, hop: int) -> np.ndarray:
    """Normalised autocorrelation of each yin frame at the lag of its F0 estimate (1 = perfectly periodic)."""
    import librosa

    frames = librosa.util.frame(np.pad(y, YIN_FRAME // 2), frame_length=YIN_FRAME, hop_length=hop)[:, : len(f0)]
    frames = frames - frames.mean(axis=0, keepdims=True)
    lags = np.clip(np.round(SAMPLE_RATE / np.maximum(f0, 1.0)).astype(int), 1, YIN_FRAME // 2)
    ac = librosa.autocorrelate(frames, max_size=int(lags.max()) + 1, axis=0)
    r0 = ac[0]
    r_lag = ac[lags, np.arange(len(lags))] * YIN_FRAME / (YIN_FRAME - lags)  # undo the bias of the short overlap
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(r0 > 1e-10, r_lag / r0, 0.0)
    return np.clip(np.nan_to_num(p), 0.0, 1.0).astype(np.float32)


def _opensmile(y: np.ndarray, config: ExtractConfig) -> AcousticResult:
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    y = np.ascontiguousarray(y, dtype=np.float32)
    min_len = int(0.1 * SAMPLE_RATE)  # eGeMAPS needs a few 60 ms windows
    if len(y) < min_len:
        y = np.pad(y, (0, min_len - len(y)))
    df = smile.process_signal(y, SAMPLE_RATE)
    fine = df.to_numpy(dtype=np.float32)
    names = tuple(str(c) for c in df.columns)
    hop_s = 0.01  # eGeMAPS LLD hop
    k = max(1, int(round(config.audio_hop_s / hop_s)))
    st = fine[:, names.index("F0semitoneFrom27.5Hz_sma3nz")]
    voiced = st > 0
    f0 = np.where(voiced, 27.5 * 2.0 ** (st / 12.0), np.nan).astype(np.float32)
    starts = df.index.get_level_values("start")
    times = np.asarray(starts.total_seconds(), dtype=np.float32)
    pitch = PitchTrack(times=times, f0=f0, voiced=voiced)
    speech = float(voiced.sum()) * hop_s >= MIN_SPEECH_S
    return AcousticResult(_finite(_pool(fine, k)), names, pitch, speech, config.audio_hop_s)


def _pool(x: np.ndarray, k: int, reduce: str = "mean") -> np.ndarray:
    """Pool rows of ``x`` in consecutive groups of ``k`` (the last group may be shorter)."""
    if k == 1:
        return x.copy()
    starts = np.arange(0, len(x), k)
    sums = np.add.reduceat(x, starts, axis=0)
    if reduce == "sum":
        return sums
    counts = np.diff(np.append(starts, len(x)))[:, None]
    return sums / counts


def _finite(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
