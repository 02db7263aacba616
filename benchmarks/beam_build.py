"""Dataset build throughput: the local build against Beam workers, same catalogue.

  python benchmarks/beam_build.py                          # 500 30 s clips
  python benchmarks/beam_build.py --tracks=2000 --distinct=100 --workers=1,2

A synthetic catalogue of --tracks rows cycles through --distinct 30 s clips at
44.1 kHz (wav, flac, ogg and mp3, as previews come), each row under its own
track id, and is built at the paper's settings (experiments/paper.flags:
30 s at 22,050 Hz): every row is decoded, resampled, cropped and written.
Each build runs in a fresh process: the local build (--build_runner=local,
one decoding thread per core), then --build_runner=beam with its default
options (FnApiRunner in this process), then on FnApiRunner with each
--workers count of worker processes. The builds must hold the same examples
and metadata; the script checks that before it prints.

The worker-process builds give the cost model T(N) = serial + parallel / N:
two or more worker counts fit it, and it projects the build time on N
workers (one count builds and checks, without the fit). What stays
serial on one machine is the pipelines' start-up and the runner process,
which moves every example between stages and holds TFDS's shuffle; on
Dataflow, Flink or Spark that shuffle is distributed too.
"""

import argparse
import csv
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _config(args, runner, workers=None):
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  overrides = [f'--manifest={args.manifest}', f'--data_dir={args.data_dir}',
               f'--build_runner={runner}']
  if workers:
    overrides.append(
        '--beam_pipeline_options=--runner=FnApiRunner '
        f'--direct_running_mode=multi_processing --direct_num_workers={workers}')
  return config_lib.from_flagfile(os.path.join(REPO, 'experiments',
                                               'paper.flags'), *overrides)


def _worker(args):
  """One build in this fresh process; prints seconds and peak RSS as JSON."""
  from spotipop.data import datasets  # pylint: disable=g-import-not-at-top
  config = _config(args, args.runner, args.workers)
  start = time.perf_counter()
  datasets.build(config.data)
  seconds = time.perf_counter() - start
  peak = max(resource.getrusage(who).ru_maxrss for who in
             (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
  print(json.dumps({'seconds': seconds, 'peak_rss_mb': peak}))


def _build(manifest, data_dir, runner, workers=0):
  """Seconds and peak RSS of one build, or the error that ended it."""
  start = time.perf_counter()
  out = subprocess.run(
      [sys.executable, __file__, '--worker', f'--manifest={manifest}',
       f'--data_dir={data_dir}', f'--runner={runner}', f'--workers={workers}'],
      capture_output=True, text=True, check=False)
  if out.returncode:
    return {'seconds': time.perf_counter() - start,
            'error': out.stderr.strip().splitlines()[-1]}
  return json.loads(out.stdout.strip().splitlines()[-1])


def _fingerprint(data_dir):
  """Per split, {track id: digest of the stored example}; and the metadata."""
  from spotipop.data import catalog  # pylint: disable=g-import-not-at-top
  from spotipop.data import datasets  # pylint: disable=g-import-not-at-top
  folder = next(os.path.dirname(root) for root, _, files in os.walk(data_dir)
                if 'dataset_info.json' in files)
  builder = datasets.load(os.path.join(folder, os.listdir(folder)[0]))
  splits = {}
  for split in catalog.SPLITS:
    digests = {}
    for example in builder.as_data_source()[split]:
      digest = hashlib.sha1()
      for key in sorted(example):
        digest.update(np.asarray(example[key]).tobytes())
      digests[bytes(example['track_id']).decode()] = digest.hexdigest()
    splits[split] = digests
  return splits, dict(builder.info.metadata)


def _how(runner, workers):
  if runner == 'local':
    return f'{os.cpu_count()} threads'
  return f'{workers} worker(s)' if workers else 'in process'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--tracks', type=int, default=500)
  parser.add_argument('--distinct', type=int, default=50,
                      help='Distinct 30 s clips the catalogue cycles through.')
  parser.add_argument('--workers', default='1,2',
                      help='Beam worker-process counts to run (two or more '
                      'fit the cost model; empty: none).')
  parser.add_argument('--json', help='Also write the figures to this file.')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  for name in ('manifest', 'data_dir', 'runner'):
    parser.add_argument(f'--{name}', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    args.workers = int(args.workers)
    _worker(args)
    return
  workers = sorted(int(n) for n in args.workers.split(',') if n)

  from spotipop.data import demo_catalogue  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory(dir=os.environ.get('TMPDIR')) as root:
    start = time.perf_counter()
    source = demo_catalogue.write_catalogue(
        os.path.join(root, 'clips'), num_tracks=args.distinct,
        sample_rate=44_100, seconds=(30.0, 30.0))
    print(f'wrote {args.distinct} distinct 30 s clips in '
          f'{time.perf_counter() - start:.0f} s', flush=True)
    with open(source) as f:
      rows = list(csv.DictReader(f))
    manifest = os.path.join(root, 'clips', 'catalogue.csv')
    with open(manifest, 'w', newline='') as f:
      writer = csv.DictWriter(f, fieldnames=list(rows[0]))
      writer.writeheader()
      for i in range(args.tracks):
        writer.writerow({**rows[i % len(rows)], 'track_id': f'track{i:06d}'})

    runs = [('local', 0), ('beam', 0)] + [('beam', n) for n in workers]
    results, reference = [], None
    for runner, n in runs:
      data_dir = os.path.join(root, f'tfds_{runner}_{n}')
      result = _build(manifest, data_dir, runner, n)
      result.update(runner=runner, workers=n,
                    tracks_per_second=args.tracks / result['seconds'])
      if 'error' in result:
        print(f"{runner} with {n} workers failed after "
              f"{result['seconds']:.0f} s: {result['error']}", flush=True)
        results.append(result)
        continue
      fingerprint = _fingerprint(data_dir)
      if reference is None:
        reference = fingerprint
      elif fingerprint != reference:
        raise SystemExit(f'{runner} with {n} workers built other data than '
                         'the local build')
      results.append(result)
      print(f"{runner:5s} {_how(runner, n):14s} "
            f"{result['seconds']:7.1f} s {result['tracks_per_second']:6.1f} "
            f"tracks/s, peak RSS {result['peak_rss_mb']:6.0f} MB (same data)",
            flush=True)
      shutil.rmtree(data_dir)

  local = results[0]
  beam = [r for r in results
          if r['runner'] == 'beam' and r['workers'] and 'error' not in r]
  if 'error' in local or len(beam) < min(2, len(workers)):
    raise SystemExit('too few builds finished to compare and fit')
  print(f'\nhost: {os.cpu_count()} cores; {args.tracks} tracks of 30 s at '
        '44.1 kHz, built at 22,050 Hz (paper.flags)')
  print(f"{'build':18s} {'seconds':>8s} {'tracks/s':>9s} {'vs local':>9s} "
        f"{'peak RSS MB':>12s}")
  for r in results:
    if 'error' in r:
      continue
    name = f"{r['runner']}, {_how(r['runner'], r['workers'])}"
    print(f"{name:18s} {r['seconds']:8.1f} {r['tracks_per_second']:9.1f} "
          f"{local['seconds'] / r['seconds']:8.2f}x {r['peak_rss_mb']:12.0f}")
  serial = parallel = None
  if len(beam) >= 2:
    n = np.array([r['workers'] for r in beam], np.float64)
    seconds = np.array([r['seconds'] for r in beam])
    parallel, serial = np.polyfit(1 / n, seconds, 1)
    print(f'Beam fit T(N) = {serial:.1f} s + {parallel:.1f} s / N; projected '
          + ', '.join(f'{k} workers {serial + parallel / k:.0f} s '
                      f'({args.tracks / (serial + parallel / k):.0f} tracks/s)'
                      for k in (8, 32, 128)))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'builds': results, 'serial_seconds': serial,
                 'parallel_seconds': parallel}, f, indent=2)


if __name__ == '__main__':
  main()
