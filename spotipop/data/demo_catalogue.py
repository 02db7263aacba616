"""Generates the small synthetic catalogue that ships with spotipop.

The catalogue lets the whole pipeline run with no downloads. Every track is
synthesised from its own Spotify-style attributes (tempo sets the beat, key and
mode set the harmony, energy sets the hi-hat brightness, ...), and popularity is
a noisy function of those attributes, the engagement columns and one property
that only the audio carries: an audible melodic hook. A model therefore needs
both views to do best, which is what the two-tower network is for.

`python -m spotipop.demo --out=DIR` regenerates it; the output is
deterministic for a given --seed.
"""

import csv
import os

import numpy as np
import soundfile as sf

GENRES = ('pop', 'rock', 'hip-hop', 'electronic', 'jazz', 'classical')
_GENRE_OFFSET = {'pop': 0.6, 'rock': 0.1, 'hip-hop': 0.5, 'electronic': 0.2,
                 'jazz': -0.5, 'classical': -0.8}
# Format cycle: mostly compressed, so the catalogue stays small, with every
# decoder path represented.
_FORMATS = (('wav', 'PCM_16'), ('flac', 'PCM_16'), ('ogg', 'VORBIS'),
            ('mp3', 'MPEG_LAYER_III'), ('ogg', 'VORBIS'), ('mp3', 'MPEG_LAYER_III'),
            ('ogg', 'VORBIS'), ('mp3', 'MPEG_LAYER_III'))

MANIFEST_COLUMNS = (
    'track_id', 'artist', 'audio_path', 'popularity', 'genre', 'release_year',
    'danceability', 'energy', 'key', 'loudness', 'mode', 'speechiness',
    'acousticness', 'instrumentalness', 'liveness', 'valence', 'tempo',
    'duration_ms', 'time_signature', 'explicit', 'artist_followers',
    'playlist_count')


def _attributes(rng, index):
  genre = GENRES[index % len(GENRES)]
  return {
      'track_id': f'demo{index:04d}',
      # Five consecutive tracks per artist, for --split=group.
      'artist': f'artist{index // 5:03d}',
      'genre': genre,
      'release_year': int(rng.integers(1990, 2025)),
      'danceability': float(rng.beta(2.5, 2.0)),
      'energy': float(rng.beta(2.0, 2.0)),
      'key': int(rng.integers(0, 12)),
      'loudness': float(rng.uniform(-18.0, -3.0)),
      'mode': int(rng.integers(0, 2)),
      'speechiness': float(rng.beta(1.2, 8.0)),
      'acousticness': float(rng.beta(1.5, 3.0)),
      'instrumentalness': float(rng.beta(1.0, 4.0)),
      'liveness': float(rng.beta(1.5, 6.0)),
      'valence': float(rng.beta(2.0, 2.0)),
      'tempo': float(rng.uniform(70.0, 170.0)),
      'duration_ms': int(rng.integers(120_000, 330_000)),
      'time_signature': 4 if rng.random() < 0.9 else 3,
      'explicit': int(rng.random() < 0.25),
      'artist_followers': int(np.exp(rng.normal(11.0, 2.0))),
      'playlist_count': int(np.exp(rng.normal(4.0, 1.5))),
      'hook': bool(rng.random() < 0.4),
  }


def _popularity(rng, a):
  z = (1.6 * (a['danceability'] - 0.55) + 1.0 * (a['energy'] - 0.5)
       + 0.6 * (a['valence'] - 0.5)
       # A count of 0 (about 1 track in 250) weighs as 1.
       + 0.25 * (np.log(max(a['artist_followers'], 1)) - 11.0) / 2.0
       + 0.25 * (np.log(max(a['playlist_count'], 1)) - 4.0) / 1.5
       + 0.4 * (a['release_year'] - 2007) / 10.0
       + _GENRE_OFFSET[a['genre']] + (0.9 if a['hook'] else -0.6)
       + rng.normal(0.0, 0.35))
  return int(np.clip(round(45 + 18 * z), 0, 100))


def _synthesise(rng, a, sample_rate, seconds):
  t = np.arange(int(sample_rate * seconds)) / sample_rate
  beat = 60.0 / a['tempo']
  phase = np.mod(t, beat)
  kick = np.sin(2 * np.pi * 55.0 * phase) * np.exp(-phase * 18.0)
  offbeat = np.mod(t + beat / 2, beat)
  hihat = rng.standard_normal(t.size) * np.exp(-offbeat * 60.0)
  root = 110.0 * 2 ** (a['key'] / 12)
  third = root * 2 ** ((4 if a['mode'] else 3) / 12)
  chord = sum(np.sin(2 * np.pi * f * t) for f in (root, third, root * 1.5))
  wave = (a['danceability'] * 0.9 * kick + a['energy'] * 0.25 * hihat
          + (0.4 + 0.4 * a['acousticness']) * chord / 3
          + (1 - a['acousticness']) * 0.03 * rng.standard_normal(t.size))
  if a['hook']:
    note = np.floor(t / (beat / 2)).astype(int) % 4
    freq = 1500.0 * 2 ** (np.array([0, 4, 7, 12])[note] / 12)
    envelope = np.exp(-np.mod(t, beat / 2) * 8.0)
    wave = wave + 0.35 * np.sin(2 * np.pi * freq * t) * envelope
  gain = 10 ** (a['loudness'] / 20) / max(np.abs(wave).max(), 1e-6)
  return (wave * gain * 2.5).astype(np.float32)


def _tracks(num_tracks, sample_rate, seed, seconds):
  """(attributes, clip) of each track, drawn in order from one generator."""
  rng = np.random.default_rng(seed)
  for index in range(num_tracks):
    a = _attributes(rng, index)
    a['popularity'] = _popularity(rng, a)
    length = float(rng.uniform(*seconds))
    yield a, _synthesise(rng, a, sample_rate, length)


def hook_tracks(num_tracks=200, sample_rate=16_000, seed=0,
                seconds=(3.5, 6.0)):
  """The ids of write_catalogue's tracks with the melodic hook (1.5-3 kHz),
  which no manifest column records: the known answer for attributions."""
  return {a['track_id'] for a, _ in _tracks(num_tracks, sample_rate, seed,
                                            seconds) if a['hook']}


def write_catalogue(out_dir, num_tracks=200, sample_rate=16_000, seed=0,
                    seconds=(3.5, 6.0)):
  """Writes `manifest.csv` and `audio/` under out_dir; returns the manifest path.

  Clip lengths are drawn uniformly from `seconds`; the default makes most
  clips longer than the default 4 s training crop and some shorter (padded).
  """
  audio_dir = os.path.join(out_dir, 'audio')
  os.makedirs(audio_dir, exist_ok=True)
  rows = []
  for index, (a, wave) in enumerate(_tracks(num_tracks, sample_rate, seed,
                                            seconds)):
    extension, subtype = _FORMATS[index % len(_FORMATS)]
    filename = f"{a['track_id']}.{extension}"
    sf.write(os.path.join(audio_dir, filename), wave, sample_rate,
             subtype=subtype)
    a['audio_path'] = os.path.join('audio', filename)
    rows.append({c: a[c] for c in MANIFEST_COLUMNS})
  manifest = os.path.join(out_dir, 'manifest.csv')
  with open(manifest, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  return manifest
