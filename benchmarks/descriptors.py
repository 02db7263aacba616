"""What descriptors cost: spotipop's against librosa + pyloudnorm, and a build.

  python benchmarks/descriptors.py                  # CPU
  python benchmarks/descriptors.py --device=gpu     # spotipop's on the GPU
  python benchmarks/descriptors.py --json=out.json

1. Tracks per second of the descriptor set on 30 s clips at 22,050 Hz: one
   compiled call a track, as the build makes it, against librosa 0.11 and
   pyloudnorm computing the same set one track at a time (librosa's STFT,
   spectral features, MFCCs, HPSS on the mel spectrogram, onset strength,
   tempo and onsets, chroma with Krumhansl-Kessler correlation; pyloudnorm's
   integrated loudness). The peer computes no loudness range (neither
   library has one), so it does a little less work.
2. Tempo agreement on drum patterns at 14 tempi from 60 to 200 BPM: how many
   each estimate gets within 2%, and within 2% of double or half.
3. A build of full-length tracks (--build_tracks of --build_seconds, 44.1 kHz
   stereo OGG, each stored as a --build_clip_seconds clip at 22,050 Hz, the
   descriptors computed over the same centre) with and without
   --descriptors=audio, in tracks per second and CPU seconds per track (all
   threads), the descriptors' compilation (once per build) left out; then
   the clip's decoding alone: reading only the centre of each file against
   decoding it whole, resampling and cropping (the path before centre
   reads), checked to give the same clip.
4. Loudness's K-weighting of the clips' two channels: spotipop's block by
   block filter (overlap-save) against one FFT over the whole clip, the
   filter before blocks, checked to agree to float32 rounding.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

import needs
from timing import best_time

RATE = 22_050
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests', 'audio'))
import signals  # pylint: disable=g-import-not-at-top,wrong-import-position

TEMPI = (60, 72, 80, 90, 100, 110, 120, 128, 140, 150, 160, 174, 185, 200)


def clips(count, seconds):
  """Drums over a cadence over noise: every descriptor has work to do."""
  rng = np.random.default_rng(0)
  n = int(seconds * RATE)
  out = []
  for i in range(count):
    cadence = np.tile(signals.cadence(i % 12, i % 2, RATE), 1 + n // (4 * RATE))
    out.append(0.5 * signals.drum_pattern(TEMPI[i % len(TEMPI)], seconds, RATE,
                                          seed=i)[:n]
               + cadence[:n] + 0.01 * rng.standard_normal(n))
  return np.asarray(out, np.float32)


def ours(waves):
  """describe() over each wave alone, as the build calls it."""
  import jax  # pylint: disable=g-import-not-at-top
  from spotipop.audio import descriptors  # pylint: disable=g-import-not-at-top
  lengths = np.array([waves.shape[1]])
  stereo = np.zeros((1, 2, waves.shape[1]), np.float32)

  def run():
    out = []
    for wave in waves:
      stereo[0, 0] = wave
      out.append(descriptors.describe(jax.device_put(wave[None]),
                                      jax.device_put(stereo), lengths,
                                      sample_rate=RATE))
    return np.asarray(jax.block_until_ready(out))[:, 0]
  return run


KRUMHANSL = (
    (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17))


def peer(waves):
  """The same set with librosa and pyloudnorm, track by track."""
  import librosa  # pylint: disable=g-import-not-at-top
  import pyloudnorm  # pylint: disable=g-import-not-at-top
  meter = pyloudnorm.Meter(RATE)
  profiles = np.array([np.roll(p, k) for p in KRUMHANSL for k in range(12)])

  def one(wave):
    s = np.abs(librosa.stft(wave, n_fft=2048, hop_length=512,
                            pad_mode='reflect'))
    mel = librosa.feature.melspectrogram(S=s ** 2, sr=RATE)
    mel_db = librosa.power_to_db(mel)
    frames = [librosa.feature.spectral_centroid(S=s, sr=RATE),
              librosa.feature.spectral_bandwidth(S=s, sr=RATE),
              librosa.feature.spectral_rolloff(S=s, sr=RATE),
              librosa.feature.spectral_flatness(S=s),
              librosa.feature.spectral_contrast(S=s, sr=RATE),
              librosa.feature.zero_crossing_rate(wave)]
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=13)
    harmonic, percussive = librosa.decompose.hpss(mel, kernel_size=31)
    onset = librosa.onset.onset_strength(S=mel_db, sr=RATE)
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=RATE)[0]
    onsets = librosa.onset.onset_detect(onset_envelope=onset, sr=RATE)
    chroma = librosa.feature.chroma_stft(S=s ** 2, sr=RATE).sum(axis=1)
    key = np.argmax(np.corrcoef(np.vstack([chroma, profiles]))[0, 1:])
    return [*(f(x) for x in frames for f in (np.mean, np.std)),
            *mfcc.mean(1), *mfcc.std(1), harmonic.sum() / percussive.sum(),
            tempo, len(onsets), key,
            meter.integrated_loudness(wave.astype(np.float64)),
            np.max(np.abs(wave))]

  return lambda: [one(w) for w in waves]


def k_weighting_times(waves, repeats):
  """Seconds to K-weight one clip's two channels: blocks (spotipop's)
  against one FFT over the whole clip, padded by the filter's tail to the
  smallest even 5-smooth length; the two must agree."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from spotipop.audio import descriptors  # pylint: disable=g-import-not-at-top
  channels = jax.device_put(np.stack([waves[:1], 0.5 * waves[:1]], 1))
  samples = channels.shape[-1]
  size = descriptors.fft_size(int(np.ceil(
      samples + descriptors.FILTER_TAIL_SECONDS * RATE)))
  response = descriptors._k_weighting_response(RATE, size)  # pylint: disable=protected-access
  whole = jax.jit(lambda c: jnp.fft.irfft(
      jnp.fft.rfft(c, n=size, axis=-1) * response, n=size,
      axis=-1)[..., :samples])
  blocks = jax.jit(lambda c: descriptors._k_weighted(c, RATE))  # pylint: disable=protected-access
  expected = np.asarray(whole(channels))
  error = np.abs(np.asarray(blocks(channels)) - expected).max()
  if error > 1e-5 * np.abs(expected).max():
    raise SystemExit(f'K-weighting: blocks and the whole-clip FFT differ by '
                     f'{error:.2e}')
  # CPU time too: a build keeps every core busy, so it pays the CPU time of
  # all threads, which the wall time of one call on idle cores hides.
  clocks = (('wall', time.perf_counter), ('cpu', time.process_time))
  return {f'{name}_{clock_name}': best_time(
              lambda f=f: f(channels).block_until_ready(), repeats, clock)
          for name, f in (('blocks', blocks), ('whole_clip_fft', whole))
          for clock_name, clock in clocks}


def tempo_agreement(waves_by_tempo):
  """{estimator: (within 2%, octave errors)} on the drum patterns."""
  import librosa  # pylint: disable=g-import-not-at-top
  from spotipop.audio import descriptors  # pylint: disable=g-import-not-at-top
  truth = np.array(TEMPI, float)
  found = {
      'spotipop': np.array([
          float(descriptors.describe(
              w[None], np.stack([w, np.zeros_like(w)])[None],
              np.array([w.size]), sample_rate=RATE)[0, 0])
          for w in waves_by_tempo]),
      'librosa': np.array([float(librosa.feature.tempo(y=w, sr=RATE)[0])
                           for w in waves_by_tempo]),
  }
  out = {}
  for name, estimate in found.items():
    ratio = estimate / truth
    right = np.abs(ratio - 1) <= 0.02
    octave = np.any([np.abs(ratio - r) <= 0.02 * r for r in (0.5, 2)], 0)
    out[name] = {'within_2_percent': int(right.sum()),
                 'octave_errors': int(octave.sum()), 'of': len(truth),
                 'estimates': [round(float(e), 2) for e in estimate]}
  return out


def decode_rates(root, seconds):
  """Tracks per second of the clip's decoding: the whole file decoded,
  resampled and cropped (the path before centre reads), against reading
  only the centre; and that the two give the same clip."""
  from spotipop.audio import decode  # pylint: disable=g-import-not-at-top
  paths = sorted(os.path.join(root, 'audio', name)
                 for name in os.listdir(os.path.join(root, 'audio')))
  n = int(seconds * RATE)
  whole = lambda: [decode.fix_length(decode.load(p, RATE), n) for p in paths]
  centre = lambda: [decode.load_clip(p, RATE, seconds, 1.0) for p in paths]
  for a, b in zip(whole(), centre()):
    np.testing.assert_array_equal(a, b)
  return {'whole': len(paths) / best_time(whole, 1),
          'centre': len(paths) / best_time(centre, 1)}


def build_rate(tracks, seconds, clip_seconds, descriptors_on, root):
  """Tracks per second and CPU seconds per track of a build of full-length
  files: decoded, cropped to clip_seconds and stored, with or without
  descriptors, their compilation (paid once per build) left out."""
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  from spotipop.data import catalog  # pylint: disable=g-import-not-at-top
  from spotipop.data import datasets  # pylint: disable=g-import-not-at-top
  manifest = os.path.join(root, 'manifest.csv')
  if not os.path.exists(manifest):
    import soundfile as sf  # pylint: disable=g-import-not-at-top
    os.makedirs(os.path.join(root, 'audio'))
    rng = np.random.default_rng(1)
    with open(manifest, 'w') as f:
      f.write('track_id,audio_path,popularity\n')
      for i in range(tracks):
        n = int(seconds * 44_100)
        left = 0.3 * np.sin(2 * np.pi * (110 + 10 * i) * np.arange(n) / 44_100)
        wave = np.stack([left + 0.05 * rng.standard_normal(n),
                         left + 0.05 * rng.standard_normal(n)], 1)
        # In 1 s blocks: libsndfile's Vorbis encoder crashes on one long write.
        with sf.SoundFile(os.path.join(root, 'audio', f'{i}.ogg'), 'w', 44_100,
                          2) as out:
          for block in range(0, n, 44_100):
            out.write(wave[block:block + 44_100])
        f.write(f't{i},audio/{i}.ogg,{(i * 37) % 100}\n')
  flags = [f'--manifest={manifest}',
           f'--data_dir={root}/tfds-{descriptors_on}-{time.time_ns()}',
           '--sample_rate=22050', f'--clip_seconds={clip_seconds}',
           f'--descriptor_seconds={clip_seconds}', '--genre_column=',
           '--release_column=', '--log1p_columns=', '--max_skip_fraction=0',
           *(['--descriptors=audio', '--feature_columns='] if descriptors_on
             else ['--feature_columns='])]
  config = config_lib.from_flagfile(os.devnull, *flags)
  # One file first: the descriptors' compilation, paid once per build, stays
  # out of the per-track figures.
  catalog.audio_loader(config.data)(os.path.join(root, 'audio', '0.ogg'))
  start, cpu_start = time.perf_counter(), time.process_time()
  datasets.build(config.data)
  return {'tracks_per_s': tracks / (time.perf_counter() - start),
          # Every thread's CPU time: what a track costs on any core count.
          'cpu_s_per_track': (time.process_time() - cpu_start) / tracks}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--device', choices=('cpu', 'gpu'), default='cpu')
  parser.add_argument('--tracks', type=int, default=16)
  parser.add_argument('--seconds', type=float, default=30.0)
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--build_tracks', type=int, default=24)
  parser.add_argument('--build_seconds', type=float, default=180.0)
  parser.add_argument('--build_clip_seconds', type=float, default=30.0)
  parser.add_argument('--json', default=None)
  args = parser.parse_args()
  jax = needs.device(args.device)

  waves = clips(args.tracks, args.seconds)
  results = {'device': str(jax.devices()[0].device_kind),
             'tracks': args.tracks, 'seconds': args.seconds}
  start = time.perf_counter()
  ours(waves[:1])()
  results['compile_seconds'] = time.perf_counter() - start
  results['spotipop_tracks_per_s'] = args.tracks / best_time(ours(waves),
                                                            args.repeats)
  results['k_weighting_seconds'] = k_weighting_times(waves, args.repeats + 3)
  try:
    results['peer_tracks_per_s'] = args.tracks / best_time(peer(waves),
                                                          args.repeats)
    results['ratio'] = (results['spotipop_tracks_per_s'] /
                        results['peer_tracks_per_s'])
    results['tempo'] = tempo_agreement(
        [signals.drum_pattern(bpm, 12, RATE, seed=i).astype(np.float32)
         for i, bpm in enumerate(TEMPI)])
  except ImportError as e:
    print(f'peer skipped: {e} (pip install -e ".[bench]")')
  with tempfile.TemporaryDirectory() as root:
    for on in (False, True):
      results[f'build_descriptors_{"on" if on else "off"}'] = build_rate(
          args.build_tracks, args.build_seconds, args.build_clip_seconds, on,
          root)
    results['clip_decode_tracks_per_s'] = decode_rates(
        root, args.build_clip_seconds)
  print(f"{args.tracks} clips of {args.seconds:g} s at {RATE} Hz on "
        f"{results['device']} (compile {results['compile_seconds']:.1f} s):")
  print(f"  spotipop descriptors  {results['spotipop_tracks_per_s']:8.2f} "
        'tracks/s')
  if 'ratio' in results:
    print(f"  librosa + pyloudnorm  {results['peer_tracks_per_s']:8.2f} "
          f"tracks/s   spotipop x{results['ratio']:.2f}")
    for name, agreement in results['tempo'].items():
      print(f"  tempo, {name}: {agreement['within_2_percent']} of "
            f"{agreement['of']} within 2%, {agreement['octave_errors']} "
            'octave errors')
  times = results['k_weighting_seconds']
  print("  K-weighting a clip's 2 channels, ms (CPU ms, all threads): "
        f"{1e3 * times['blocks_wall']:.1f} ({1e3 * times['blocks_cpu']:.1f}) "
        f"in blocks, {1e3 * times['whole_clip_fft_wall']:.1f} "
        f"({1e3 * times['whole_clip_fft_cpu']:.1f}) by one FFT of the whole "
        f"clip; x{times['whole_clip_fft_wall'] / times['blocks_wall']:.2f} "
        f"wall, x{times['whole_clip_fft_cpu'] / times['blocks_cpu']:.2f} CPU")
  off, on = results['build_descriptors_off'], results['build_descriptors_on']
  print(f"  build of {args.build_tracks} tracks of {args.build_seconds:g} s "
        '(44.1 kHz stereo OGG, decoding included, compilation not): '
        f"{off['tracks_per_s']:.2f} tracks/s without descriptors, "
        f"{on['tracks_per_s']:.2f} with")
  print(f"    CPU s a track: {off['cpu_s_per_track']:.3f} without, "
        f"{on['cpu_s_per_track']:.3f} with; 20 tracks/s with descriptors "
        f"needs {20 * on['cpu_s_per_track']:.1f} cores at that cost "
        f"(this machine has {os.cpu_count()})")
  rates = results['clip_decode_tracks_per_s']
  print(f"  {args.build_clip_seconds:g} s clip of each: "
        f"{rates['centre']:.2f} tracks/s reading the centre, "
        f"{rates['whole']:.2f} decoding the whole file, "
        f"x{rates['centre'] / rates['whole']:.2f} (the same samples)")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
