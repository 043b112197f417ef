"""A speech-like recording made offline: voiced syllables with formants and pauses.

No recorded speech ships with the tests; this is what an ordinary clip looks like to a
recogniser's front end (a gliding pitch with its harmonics shaped by vowel formants, syllables
a fifth of a second long, short silences between words, a little breath noise), not a tone.
"""

from __future__ import annotations

import io

import numpy as np

# (first, second) formant of a few vowels, Hz: a, i, u, e, o.
VOWELS = ((730, 1090), (270, 2290), (300, 870), (530, 1840), (570, 840))


def speech_like(seconds: float = 2.0, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Mono float32 in [-1, 1]: syllables of 0.2 s, a pause of 0.08 s after every third."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    total = int(seconds * rate)
    syllable = int(0.2 * rate)
    count = 0
    while sum(len(piece) for piece in out) < total:
        t = np.arange(syllable) / rate
        pitch = rng.uniform(110, 220) * (1 + 0.15 * t / t[-1])  # a gliding voice
        phase = 2 * np.pi * np.cumsum(pitch) / rate
        first, second = VOWELS[rng.integers(len(VOWELS))]
        voiced = np.zeros(syllable)
        for harmonic in range(1, 30):
            frequency = harmonic * pitch.mean()
            if frequency > rate / 2 - 500:
                break
            gain = np.exp(-((frequency - first) / 150) ** 2) + 0.6 * np.exp(-((frequency - second) / 200) ** 2)
            voiced += (gain + 0.02) * np.sin(harmonic * phase) / harmonic
        envelope = np.hanning(syllable)
        out.append(envelope * voiced + 0.01 * rng.standard_normal(syllable))
        count += 1
        if count % 3 == 0:
            out.append(0.002 * rng.standard_normal(int(0.08 * rate)))
    samples = np.concatenate(out)[:total]
    return (0.5 * samples / np.abs(samples).max()).astype(np.float32)


def speech_like_wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, speech_like(seconds, rate), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
