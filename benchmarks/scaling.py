"""Dataset build time and peak memory as the catalogue grows; prediction rate.

  python benchmarks/scaling.py                        # 1k, 4k and 16k tracks
  python benchmarks/scaling.py --sizes=200,400 --predict_rows=500   # quick
  python benchmarks/scaling.py -- --sample_rate=8000  # spotipop flags last

The catalogue is synthetic: --distinct demo clips (3.5-6 s; wav, flac, ogg
and mp3) are written once, and a catalogue of N tracks cycles through them
under new track ids, so every row is decoded, resampled, cropped and written
like a distinct track (after the first pass its file comes from the page
cache). Each build runs in a fresh process that reports its own peak RSS. A
line fitted to build seconds against N gives the cost per 1,000 tracks; the
target is linear time (R^2 near 1) and flat memory.

The default experiment's settings apply; spotipop flags after `--` override
them. Prediction: a model trained for one epoch on the smallest catalogue scores a
--predict_rows CSV in a fresh process (audio decoded, as `spotipop.predict
--tracks` does), which reports its peak RSS too.
"""

import argparse
import csv
import json
import os
import resource
import tempfile
import time

import numpy as np

from timing import worker_result

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _config(args, *flags):
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  return config_lib.from_flagfile(
      os.path.join(REPO, 'experiments', 'default.flags'),
      f'--manifest={args.manifest}', f'--data_dir={args.data_dir}', *flags,
      *args.config_flags)


def _build(args):
  from spotipop.data import datasets  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  datasets.build(_config(args).data)
  return {'seconds': time.perf_counter() - start}


def _train(args):
  from spotipop.training import loop  # pylint: disable=g-import-not-at-top
  config = _config(args, '--num_epochs=1')
  start = time.perf_counter()
  loop.train_and_evaluate(config, args.workdir)
  return {'seconds': time.perf_counter() - start}


def _predict(args):
  from spotipop.prediction import new_tracks  # pylint: disable=g-import-not-at-top
  from spotipop.data import manifest  # pylint: disable=g-import-not-at-top
  predictor = new_tracks.Predictor(args.workdir)
  tracks = manifest.read(args.tracks, predictor.config.data,
                         labelled=False).tracks
  start = time.perf_counter()
  scores = predictor([t.audio_path for t in tracks],
                      [t.features for t in tracks], [t.genre for t in tracks])
  seconds = time.perf_counter() - start
  assert len(scores.probability) == len(tracks) and not scores.failed
  return {'seconds': seconds, 'tracks_per_second': len(tracks) / seconds}


def _worker(args):
  """Runs one measurement in this fresh process; prints it as JSON."""
  result = {'build': _build, 'train': _train,
            'predict': _predict}[args.worker](args)
  print(json.dumps({**result, 'peak_rss_mb': _peak_rss_mb()}))


def _run_worker(args, *flags):
  return worker_result(__file__, [*flags, '--', *args.config_flags])


def write_manifest(rows, num_tracks, path):
  """num_tracks rows cycling through `rows`, each under a new track id."""
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    for i in range(num_tracks):
      writer.writerow({**rows[i % len(rows)], 'track_id': f'track{i:06d}'})


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', default='1000,4000,16000')
  parser.add_argument('--distinct', type=int, default=1000,
                      help='Distinct audio files the catalogues cycle through.')
  parser.add_argument('--predict_rows', type=int, default=10_000)
  parser.add_argument('--json', help='Also write the figures to this file.')
  parser.add_argument('config_flags', nargs='*', metavar='FLAG',
                      help="spotipop flags overriding the default "
                      "experiment's, after --")
  for name in ('worker', 'manifest', 'data_dir', 'workdir', 'tracks'):
    parser.add_argument(f'--{name}', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    _worker(args)
    return
  sizes = sorted(int(n) for n in args.sizes.split(','))
  if len(sizes) < 2:
    parser.error('--sizes: give at least two catalogue sizes to fit a line')

  from spotipop.data import demo_catalogue  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as root:
    start = time.perf_counter()
    source = demo_catalogue.write_catalogue(os.path.join(root, 'clips'),
                                            num_tracks=args.distinct)
    print(f'wrote {args.distinct} distinct clips in '
          f'{time.perf_counter() - start:.0f} s', flush=True)
    with open(source) as f:
      rows = list(csv.DictReader(f))
    builds = []
    for n in sizes:
      manifest = os.path.join(root, 'clips', f'manifest_{n}.csv')
      write_manifest(rows, n, manifest)
      result = _run_worker(args, '--worker=build', f'--manifest={manifest}',
                           f'--data_dir={root}/tfds_{n}')
      builds.append({'tracks': n, **result})
      print(f"built {n} tracks in {result['seconds']:.1f} s, peak RSS "
            f"{result['peak_rss_mb']:.0f} MB", flush=True)
    tracks_csv = os.path.join(root, 'clips', 'predict.csv')
    write_manifest(rows, args.predict_rows, tracks_csv)
    _run_worker(
        args, '--worker=train',
        f'--manifest={os.path.join(root, "clips", f"manifest_{sizes[0]}.csv")}',
        f'--data_dir={root}/tfds_{sizes[0]}', f'--workdir={root}/run')
    prediction = _run_worker(args, '--worker=predict', f'--workdir={root}/run',
                             f'--tracks={tracks_csv}')

  n = np.array([b['tracks'] for b in builds], np.float64)
  seconds = np.array([b['seconds'] for b in builds])
  slope, intercept = np.polyfit(n, seconds, 1)
  fitted = slope * n + intercept
  r2 = 1 - ((seconds - fitted) ** 2).sum() / ((seconds - seconds.mean()) ** 2).sum()
  rss = [b['peak_rss_mb'] for b in builds]
  overridden = f" with {' '.join(args.config_flags)}" if args.config_flags else ''
  print(f'\nhost: {os.cpu_count()} cores; default experiment{overridden}')
  print(f"{'tracks':>8s} {'build s':>9s} {'tracks/s':>9s} {'peak RSS MB':>12s}")
  for b in builds:
    print(f"{b['tracks']:8d} {b['seconds']:9.1f} "
          f"{b['tracks'] / b['seconds']:9.1f} {b['peak_rss_mb']:12.0f}")
  print(f'build time fit: {slope * 1000:.2f} s per 1,000 tracks + '
        f'{intercept:.1f} s, R^2 {r2:.4f}; peak RSS {rss[-1] / rss[0]:.2f}x '
        f'from {sizes[0]} to {sizes[-1]} tracks')
  print(f"prediction: {args.predict_rows} tracks in {prediction['seconds']:.1f} s "
        f"({prediction['tracks_per_second']:.0f} tracks/s, audio decoded), "
        f"peak RSS {prediction['peak_rss_mb']:.0f} MB")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'builds': builds, 'seconds_per_1000_tracks': slope * 1000,
                 'intercept_seconds': intercept, 'r2': r2,
                 'rss_ratio': rss[-1] / rss[0], 'prediction': prediction}, f,
                indent=2)


if __name__ == '__main__':
  main()
