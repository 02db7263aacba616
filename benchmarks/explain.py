"""Integrated gradients' tracks/s on a finished run, against two peers.

  python benchmarks/explain.py --workdir=runs/default
  python benchmarks/explain.py --workdir=runs/spotify32k --tracks=2048

Times, in one process, on up to --tracks tracks of the test split:
  - spotipop: Explainer.attribute, every path step of a chunk of tracks in
    one compiled scan (what spotipop.explain and predict --explain run);
  - step loop: the same integral with one compiled gradient call per path
    step from Python, the way integrated gradients is often written;
  - forward: the model's prediction alone, the floor (one pass a track,
    where the integral takes a forward and backward pass per step).
Each is timed after a warm-up call (compilation excluded), best of --repeats.
The step loop's attributions are checked against spotipop's.

On a run of the embedded demo catalogue (--demo_hooks) it also prints the
known answer: the demo's popularity depends on a melodic hook at 1.5-3 kHz
that no feature column carries, so the share of each track's spectrogram
attribution in those bands should be larger for hook tracks than for the
others.
"""

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from spotipop.audio import spectrogram  # pylint: disable=g-import-not-at-top
from spotipop.data import demo_catalogue  # pylint: disable=g-import-not-at-top
from spotipop.explanation import attribution  # pylint: disable=g-import-not-at-top
from spotipop.explanation import explained_run  # pylint: disable=g-import-not-at-top


def make_step_loop(explainer):
  """Integrated gradients of a chunk, one jitted gradient call per step."""
  model = explainer.model
  spectrogram_of = jax.jit(lambda audio: model.apply(
      {}, audio, method='log_spectrogram'))

  @jax.jit
  def gradient(params, genre_id, point):
    return jax.grad(lambda x: model.apply(
        {'params': params}, None, x['features'], genre_id,
        spec=x.get('spec'))[0].sum())(point)

  weights = attribution.trapezoid_weights(explainer.steps)
  alphas = np.linspace(0, 1, explainer.steps + 1)

  def step_loop(rows):
    inputs = {'features': rows['features']}
    if 'audio' in rows:
      inputs['spec'] = np.asarray(spectrogram_of(rows['audio']))
    start = {k: np.broadcast_to(explainer.baseline[k], v.shape)
             for k, v in inputs.items()}
    total = {k: np.zeros(v.shape, np.float32) for k, v in inputs.items()}
    for alpha, weight in zip(alphas, weights):
      point = {k: start[k] + alpha * (inputs[k] - start[k]) for k in inputs}
      grads = gradient(explainer.params, rows['genre_id'], point)
      total = {k: total[k] + weight * np.asarray(grads[k]) for k in total}
    return {k: (inputs[k] - start[k]) * total[k] for k in inputs}
  return step_loop


def best_seconds(fn, repeats):
  fn()  # Compiles.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return min(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--tracks', type=int, default=256)
  parser.add_argument('--steps', type=int, default=64)
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--demo_hooks', action='store_true',
                      help='The run is on the embedded demo catalogue: '
                      'compare hook and non-hook tracks.')
  args = parser.parse_args()
  explainer = explained_run.Explainer.from_run(args.workdir, steps=args.steps)
  count = min(args.tracks, len(explainer.builder.as_data_source('test')))
  # Whole chunks: every timed call runs the one compiled shape.
  if count > explainer.chunk:
    count -= count % explainer.chunk
  rows = explainer.rows('test', range(count), explainer.config.uses_audio)
  chunks = [{k: v[i:i + explainer.chunk] for k, v in rows.items()}
            for i in range(0, count, explainer.chunk)]
  table = {k: rows[k] for k in ('features', 'genre_id', 'audio') if k in rows}

  step_loop = make_step_loop(explainer)
  ours = explainer.attribute(chunks[0])[0]
  theirs = step_loop(chunks[0])
  for key in ours:
    np.testing.assert_allclose(theirs[key], ours[key], rtol=1e-3, atol=1e-5)

  seconds = {
      'spotipop (one scan a chunk)': best_seconds(
          lambda: [explainer.attribute(c)[0]['features'] for c in chunks],
          args.repeats),
      'step loop (one call a step)': best_seconds(
          lambda: [step_loop(c)['features'] for c in chunks],
          args.repeats),
      'forward (prediction only)': best_seconds(
          lambda: explainer.predict(table), args.repeats),
  }
  config = explainer.config
  print(f'{args.workdir}: {config.model.towers}, {count} test tracks, '
        f'{args.steps} path steps, chunks of {explainer.chunk}, '
        f'{jax.local_device_count()} {jax.devices()[0].platform} device(s)')
  ours_rate = count / seconds['spotipop (one scan a chunk)']
  for name, s in seconds.items():
    rate = count / s
    print(f'  {name:30s} {rate:10.1f} tracks/s  '
          f'(spotipop x{ours_rate / rate:.2f} of it)')
  if args.demo_hooks:
    print_hook_bands(explainer, rows)


def print_hook_bands(explainer, rows):
  """Share of |spectrogram attribution| at 1.5-3 kHz, hook vs other tracks."""
  config = explainer.config
  hz = spectrogram.bin_frequencies(config.data.sample_rate, config.model.n_fft,
                                   config.model.n_mels)
  band = (hz >= 1500) & (hz <= 3000)
  magnitude = np.abs(explainer.attribute(rows)[0]['spec'])
  share = magnitude[:, :, band].sum((1, 2)) / magnitude.sum((1, 2))
  hook = np.isin(rows['track_id'], list(demo_catalogue.hook_tracks()))
  print(f'known answer: share of |attribution| in 1.5-3 kHz ({band.sum()} of '
        f'{band.size} bins): hook tracks {share[hook].mean():.3f} (n '
        f'{hook.sum()}, lowest {share[hook].min():.3f}), others '
        f'{share[~hook].mean():.3f} (n {(~hook).sum()}, highest '
        f'{share[~hook].max():.3f})')


if __name__ == '__main__':
  main()
