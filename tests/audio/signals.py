"""Test signals with known answers: tones, noise, drum patterns, cadences."""

import numpy as np

# Equal temperament, A4 = 440 Hz; MIDI note numbers (C4 = 60).


def midi_hz(note):
  return 440.0 * 2 ** ((note - 69) / 12)


def harmonic_tone(hz, seconds, sample_rate, harmonics=5, decay=0.0):
  """A tone with harmonics at 1/k amplitude, optionally decaying."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  wave = sum(np.sin(2 * np.pi * k * hz * t) / k
             for k in range(1, harmonics + 1) if k * hz < sample_rate / 2)
  return wave * np.exp(-decay * t)


def sine(hz, dbfs, seconds, sample_rate):
  """A sine whose peak is dbfs."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  return 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)


def drum_pattern(bpm, seconds, sample_rate, seed=0):
  """Kick on beats 1 and 3, snare on 2 and 4, a quieter hi-hat on eighths."""
  rng = np.random.default_rng(seed)
  n = int(seconds * sample_rate)
  out = np.zeros(n)
  beat = 60.0 / bpm

  def hit(start, sound):
    i = int(round(start * sample_rate))
    if i < n:
      out[i:i + sound.size] += sound[:n - i]

  def burst(seconds_long, decay):
    t = np.arange(int(seconds_long * sample_rate)) / sample_rate
    return t, np.exp(-decay * t)
  t, env = burst(0.15, 30)
  kick = np.sin(2 * np.pi * (60 + 60 * np.exp(-40 * t)) * t) * env
  t, env = burst(0.12, 35)
  snare = rng.standard_normal(t.size) * env * 0.6
  t, env = burst(0.03, 150)
  hat = np.diff(rng.standard_normal(t.size + 1)) * env * 0.15
  for i in range(int(seconds / beat) + 1):
    hit(i * beat, kick if i % 2 == 0 else snare)
    hit(i * beat, hat)
    hit((i + 0.5) * beat, hat)
  return out / np.max(np.abs(out)) * 0.8


MAJOR_TRIAD, MINOR_TRIAD = (0, 4, 7), (0, 3, 7)


def cadence(key, major, sample_rate, chord_seconds=1.0):
  """I-IV-V-I (i-iv-V-i in minor) in key (0 = C), harmonic tones, a bass."""
  third = MAJOR_TRIAD if major else MINOR_TRIAD
  chords = [(0, third), (5, third), (7, MAJOR_TRIAD), (0, third)]
  parts = []
  for degree, triad in chords:
    root = 60 + (key + degree) % 12
    notes = [root + i for i in triad] + [root - 12]
    parts.append(sum(harmonic_tone(midi_hz(n), chord_seconds, sample_rate,
                                   decay=1.5) for n in notes))
  wave = np.concatenate(parts)
  return wave / np.max(np.abs(wave)) * 0.5
