"""STFT throughput: spotipop's jit STFT against librosa, torch, scipy and jax.scipy.

  python benchmarks/stft.py                 # CPU
  python benchmarks/stft.py --device=gpu    # jax and torch on the GPU

Every implementation gets the same batch (16 clips x 30 s at 22,050 Hz, n_fft
2048, hop 512, periodic Hann, reflect-padded centred frames). Magnitudes are
first checked against spotipop's (max abs diff / peak); then each is timed
(best of --repeats after a warm-up) and reported as clip-seconds of audio per
second, with the ratio to the fastest peer and to the FLOP floor: 5 N log2 N
flops per frame at the matmul peak measured in the same run.
"""

import argparse
import json
import os

import numpy as np

import needs
from timing import best_time
from timing import matmul_peak_flops

RATE, N_FFT, HOP = 22_050, 2048, 512


def implementations(device, clips, seconds):
  """name -> (run(), magnitude() [clips, frames, bins]) on the benchmark batch."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.scipy.signal  # pylint: disable=g-import-not-at-top
  from spotipop.audio import spectrogram  # pylint: disable=g-import-not-at-top

  wave = np.random.default_rng(0).standard_normal(
      (clips, int(seconds * RATE))).astype(np.float32)
  on_device = jax.device_put(wave)
  ours = jax.jit(lambda w: spectrogram.stft(w, N_FFT, HOP))
  window = spectrogram.hann_window(N_FFT)
  # jax.scipy: boundary='even' is reflect padding; undo its 1/sum(window) scale.
  jax_scipy = jax.jit(lambda w: jax.scipy.signal.stft(
      w, nperseg=N_FFT, noverlap=N_FFT - HOP, window='hann', boundary='even',
      padded=False)[2] * window.sum())
  impls = {
      'spotipop (jnp, jit)': (
          lambda: ours(on_device).block_until_ready(),
          lambda: np.abs(np.asarray(ours(on_device)))),
      'jax.scipy.signal.stft': (
          lambda: jax_scipy(on_device).block_until_ready(),
          lambda: np.abs(np.swapaxes(np.asarray(jax_scipy(on_device)), 1, 2))),
  }
  try:
    import torch  # pylint: disable=g-import-not-at-top
    torch_device = 'cuda' if device == 'gpu' else 'cpu'
    torch_wave = torch.from_numpy(wave).to(torch_device)
    torch_window = torch.hann_window(N_FFT, device=torch_device)

    def torch_stft():
      out = torch.stft(torch_wave, N_FFT, HOP, window=torch_window, center=True,
                       pad_mode='reflect', return_complex=True)
      if torch_device == 'cuda':
        torch.cuda.synchronize()
      return out
    impls[f'torch.stft ({torch_device})'] = (
        torch_stft,
        lambda: torch_stft().abs().transpose(1, 2).cpu().numpy())
  except ImportError:
    print('torch not installed: skipping torch.stft (pip install -e .[bench])')
  if device == 'cpu':
    from scipy import signal  # pylint: disable=g-import-not-at-top
    try:
      import librosa  # pylint: disable=g-import-not-at-top

      def librosa_stft():
        return librosa.stft(wave, n_fft=N_FFT, hop_length=HOP, window='hann',
                            center=True, pad_mode='reflect')
      impls['librosa.stft'] = (
          librosa_stft, lambda: np.abs(np.swapaxes(librosa_stft(), 1, 2)))
    except ImportError:
      print('librosa not installed: skipping librosa.stft '
            '(pip install -e .[bench])')
    # ShortTimeFFT on the reflect-padded signal; slice p0..p1 picks the frames
    # centred where spotipop's are.
    padded = np.pad(wave, ((0, 0), (N_FFT // 2, N_FFT // 2)), mode='reflect')
    frames = spectrogram.num_frames(wave.shape[1], N_FFT, HOP)
    sft = signal.ShortTimeFFT(window, hop=HOP, fs=RATE, mfft=N_FFT)
    first = (N_FFT // 2) // HOP

    def scipy_stft():
      return sft.stft(padded, p0=first, p1=first + frames)
    impls['scipy ShortTimeFFT'] = (
        scipy_stft, lambda: np.abs(np.swapaxes(scipy_stft(), 1, 2)))
  return jax, impls


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--device', choices=('cpu', 'gpu'), default='cpu')
  parser.add_argument('--clips', type=int, default=16)
  parser.add_argument('--seconds', type=float, default=30.0)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--json', help='Also write the figures to this file.')
  args = parser.parse_args()
  needs.device(args.device)
  jax, impls = implementations(args.device, args.clips, args.seconds)

  reference = impls['spotipop (jnp, jit)'][1]()
  peak = reference.max()
  frames = reference.shape[0] * reference.shape[1]
  floor_seconds = frames * 5 * N_FFT * np.log2(N_FFT) / matmul_peak_flops(
      args.repeats)
  device_name = jax.devices()[0].device_kind
  print(f'device: {device_name} ({os.cpu_count()} host cores); batch '
        f'{args.clips} x {args.seconds:g} s at {RATE} Hz, n_fft {N_FFT}, hop {HOP}, '
        f'{frames} frames')
  print(f'FLOP floor (5 N log2 N per frame at measured matmul peak): '
        f'{floor_seconds * 1e3:.2f} ms')

  results = {}
  for name, (run, magnitude) in impls.items():
    error = float(np.abs(magnitude() - reference).max() / peak)
    if error > 1e-4:
      raise SystemExit(f'{name} disagrees with spotipop: max abs diff / peak '
                       f'= {error:.2e}')
    seconds = best_time(run, args.repeats)
    results[name] = {'seconds': seconds, 'error': error,
                     'clip_seconds_per_second': args.clips * args.seconds / seconds}
  best_peer = max(v['clip_seconds_per_second'] for k, v in results.items()
                  if not k.startswith('spotipop'))
  print(f"{'implementation':26s} {'ms':>9s} {'clip-s/s':>10s} "
        f"{'vs best peer':>12s} {'x floor':>8s} {'diff/peak':>10s}")
  for name, r in results.items():
    r['ratio_to_best_peer'] = r['clip_seconds_per_second'] / best_peer
    r['times_floor'] = r['seconds'] / floor_seconds
    print(f"{name:26s} {r['seconds'] * 1e3:9.1f} "
          f"{r['clip_seconds_per_second']:10.0f} "
          f"{r['ratio_to_best_peer']:11.2f}x {r['times_floor']:8.1f} "
          f"{r['error']:10.1e}")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'device': device_name, 'floor_seconds': floor_seconds,
                 'results': results}, f, indent=2)


if __name__ == '__main__':
  main()
