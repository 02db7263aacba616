"""spotipop's train step against the same network and step written in PyTorch.

  python benchmarks/train_step.py                   # CPU: default and paper settings
  python benchmarks/train_step.py --device=gpu      # both frameworks on the GPU
  python benchmarks/train_step.py --settings=default --steps=2   # quick look

On CPU, spotipop's step runs as its pmap splits the batch over 1 host device
(`python -m spotipop.main`) and over 8 (`launch.sh cpu`, which sets
--xla_force_host_platform_device_count); `--devices` picks the counts. Each
count is its own process, and each process times the torch step beside it.

What a user would write instead of spotipop: the two-tower network in
torch.nn with the STFT computed in the step by torch.stft, the same shapes,
batch, loss (class-weighted BCE + popularity MSE) and optimiser (AdamW after
global-norm clipping). Before anything is timed, the torch network is loaded
with spotipop's initial parameters and must give the same logits on the same
batch, so both compute one function. Both are timed on host int16 batches, as
in training, so the host-to-device copy counts.

Achieved FLOP/s is XLA's count of the compiled step's floating-point
operations over the step's time; the matmul peak is measured in the same run.
"""

import argparse
import json
import os

import numpy as np

import needs
from timing import host_devices_env
from timing import matmul_peak_flops
from timing import mean_time
from timing import worker_result

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name -> (experiment flagfile, what it stands for)
SETTINGS = {
    'default': ('default', '16 kHz x 4 s, n_fft 512, 64 mels'),
    'paper': ('paper', '22.05 kHz x 30 s, n_fft 2048, linear STFT'),
}
NUM_GENRES = 6
POS_WEIGHT = 1.5


def host_batch(config, seed=0):
  """A [batch, ...] batch of random int16 clips and features, as loaded."""
  from spotipop.data import catalog  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  b = config.train.batch_size
  return {
      'audio': rng.integers(-8000, 8000, (b, catalog.num_samples(
          config.data)), dtype=np.int16),
      'features': rng.standard_normal(
          (b, len(config.data.feature_columns))).astype(np.float32),
      'genre_id': rng.integers(0, NUM_GENRES, b, dtype=np.int32),
      'label': rng.integers(0, 2, b, dtype=np.int32),
      'popularity': rng.uniform(0, 100, b).astype(np.float32),
      'mask': np.ones(b, np.float32),
  }


def split(batch, devices):
  """[batch, ...] -> [devices, batch / devices, ...], pmap's input."""
  return {k: v.reshape(devices, -1, *v.shape[1:]) for k, v in batch.items()}


def torch_network(config, torch):
  """spotipop's PopularityNet (model/network.py) as a torch.nn.Module."""
  from spotipop.audio import spectrogram  # pylint: disable=g-import-not-at-top
  nn, functional = torch.nn, torch.nn.functional
  m, data = config.model, config.data

  class Net(nn.Module):
    """Layer for layer the flax model: same padding, norms, GELU and heads."""

    def __init__(self):
      super().__init__()
      self.convs, self.norms, width = nn.ModuleList(), nn.ModuleList(), 1
      for c in m.conv_channels:
        self.convs.append(nn.Conv2d(width, c, 3, padding=1, bias=False))
        self.norms.append(nn.GroupNorm(min(8, c), c, eps=1e-6))
        width = c
      self.embed = nn.Embedding(NUM_GENRES + 1, m.genre_embedding)
      widths = [len(data.feature_columns) + m.genre_embedding,
                *m.dense_features]
      self.dense = nn.ModuleList(
          nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
      self.fusion = nn.Linear(2 * width + widths[-1], m.fusion_features)
      self.logit = nn.Linear(m.fusion_features, 1)
      self.score = nn.Linear(m.fusion_features, 1)
      self.dropout = nn.Dropout(m.dropout)
      self.register_buffer('window', torch.hann_window(m.n_fft))
      self.register_buffer('mel', torch.from_numpy(spectrogram.mel_filterbank(
          data.sample_rate, m.n_fft, m.n_mels)) if m.n_mels else None)

    def forward(self, audio, features, genre_id):
      wave = audio.float() / 32768.0
      spec = torch.stft(wave, m.n_fft, m.hop_length, window=self.window,
                        center=True, pad_mode='reflect',
                        return_complex=True).abs().transpose(1, 2)
      if self.mel is not None:
        spec = spec @ self.mel
      spec = torch.log(spec.clamp_min(1e-5))
      x = (spec - spec.mean(dim=(1, 2), keepdim=True)) / (
          spec.std(dim=(1, 2), correction=0, keepdim=True) + 1e-5)
      x = x[:, None]
      for conv, norm in zip(self.convs, self.norms):
        x = functional.max_pool2d(
            functional.gelu(norm(conv(x)), approximate='tanh'), 2)
      audio_embedding = self.dropout(torch.cat(
          [x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=-1))
      t = torch.cat([features, self.embed(genre_id)], dim=-1)
      for layer in self.dense:
        t = self.dropout(functional.gelu(layer(t), approximate='tanh'))
      x = torch.cat([audio_embedding, t], dim=-1)
      x = self.dropout(functional.gelu(self.fusion(x), approximate='tanh'))
      return self.logit(x)[:, 0], torch.sigmoid(self.score(x)[:, 0])

    def load_flax(self, params):
      """Copies flax parameters in (kernels transposed to torch's layout)."""
      def put(module, kernel=None, bias=None, weight=None):
        with torch.no_grad():
          if kernel is not None:
            kernel = np.asarray(kernel)
            module.weight.copy_(torch.from_numpy(
                kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T))
          if weight is not None:
            module.weight.copy_(torch.from_numpy(np.asarray(weight)))
          if bias is not None:
            module.bias.copy_(torch.from_numpy(np.asarray(bias)))
      conv, dense = params['ConvTower_0'], params['DenseTower_0']
      for i, (c, n) in enumerate(zip(self.convs, self.norms)):
        put(c, kernel=conv[f'Conv_{i}']['kernel'])
        put(n, weight=conv[f'GroupNorm_{i}']['scale'],
            bias=conv[f'GroupNorm_{i}']['bias'])
      put(self.embed, weight=dense['Embed_0']['embedding'])
      for i, layer in enumerate(self.dense):
        put(layer, **dense[f'Dense_{i}'])
      for i, layer in enumerate((self.fusion, self.logit, self.score)):
        put(layer, **params[f'Dense_{i}'])

  return Net()


def torch_step(config, torch, net, device):
  """(host batch -> loss): one AdamW step of the torch network."""
  t = config.train
  optimizer = torch.optim.AdamW(net.parameters(), lr=t.learning_rate,
                                weight_decay=t.weight_decay)

  def step(batch):
    b = {k: torch.as_tensor(v).to(device) for k, v in batch.items()}
    logit, score = net(b['audio'], b['features'], b['genre_id'])
    label = b['label'].float()
    weight = b['mask'] * torch.where(label == 1, POS_WEIGHT, 1.0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logit, label, reduction='none')
    mse = (score - b['popularity'] / 100.0) ** 2
    loss = ((weight * bce).sum() / weight.sum().clamp_min(1e-9)
            + t.regression_weight * (b['mask'] * mse).sum()
            / b['mask'].sum().clamp_min(1e-9))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), t.grad_clip_norm)
    optimizer.step()
    return loss
  return step


def compare(name, device, steps, batch_size=None, kernels='auto'):
  """Checks both networks agree, then times a train step of each, spotipop's
  split over all of JAX's local devices, with --kernels=kernels."""
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  from spotipop.model import network  # pylint: disable=g-import-not-at-top
  from spotipop.training import loop  # pylint: disable=g-import-not-at-top
  from spotipop.model import train_state  # pylint: disable=g-import-not-at-top

  flagfile = os.path.join(REPO, 'experiments', f'{SETTINGS[name][0]}.flags')
  overrides = ([f'--batch_size={batch_size}'] if batch_size else [])
  config = config_lib.from_flagfile(flagfile, *overrides,
                                    f'--kernels={kernels}')
  model = network.create(config, NUM_GENRES)
  state = train_state.create(config, model, jax.random.key(0), 100)
  batch = host_batch(config)
  torch_device = torch.device('cuda' if device == 'gpu' else 'cpu')
  net = torch_network(config, torch).to(torch_device)
  net.load_flax(jax.device_get(state.params))

  flax_logit = np.asarray(model.apply(
      {'params': state.params}, *(batch[k] for k in (
          'audio', 'features', 'genre_id')))[0])
  net.eval()
  with torch.no_grad():
    torch_logit = net(*(torch.as_tensor(batch[k]).to(torch_device)
                        for k in ('audio', 'features', 'genre_id')))[0]
  net.train()
  difference = float(np.abs(torch_logit.cpu().numpy() - flax_logit).max())
  if difference > 1e-3 * max(1.0, np.abs(flax_logit).max()):
    raise SystemExit(f'{name}: torch logits differ from spotipop\'s by '
                     f'{difference:.2e}; the networks are not the same')
  parameters = sum(x.size for x in jax.tree.leaves(state.params))
  if parameters != sum(p.numel() for p in net.parameters()):
    raise SystemExit(f'{name}: parameter counts differ')

  devices = jax.local_device_count()
  if config.train.batch_size % devices:
    raise SystemExit(f'{name}: batch {config.train.batch_size} does not split '
                     f'over {devices} devices')
  device_batch = split(batch, devices)
  p_train = loop.make_train_step(POS_WEIGHT, config.train.regression_weight)
  key = jax.random.key(1)
  # XLA's cost analysis counts a loop body once, so the FLOPs are counted on
  # the same step with XLA's own kernels (no loop), on one device.
  xla_model = network.create(config_lib.from_flagfile(
      flagfile, *overrides, '--kernels=xla'), NUM_GENRES)
  flops = loop.make_train_step(
      POS_WEIGHT, config.train.regression_weight).lower(
          state.replace(apply_fn=xla_model.apply), split(batch, 1),
          key).compile().cost_analysis()['flops']
  holder = {'state': state}

  def jax_step():
    holder['state'], out = p_train(holder['state'], device_batch, key)
    return out['loss']

  step = torch_step(config, torch, net, torch_device)
  sync_torch = ((lambda _: torch.cuda.synchronize()) if device == 'gpu'
                else (lambda _: None))
  jax_seconds = mean_time(jax_step, jax.block_until_ready, steps)
  torch_seconds = mean_time(lambda: step(batch), sync_torch, steps)
  b = config.train.batch_size
  return {'settings': name, 'what': SETTINGS[name][1], 'batch': b,
          'devices': devices, 'kernels': model.kernels,
          'parameters': parameters, 'logit_difference': difference,
          'flops_per_step': flops,
          'spotipop_examples_per_second': b / jax_seconds,
          'torch_examples_per_second': b / torch_seconds,
          'spotipop_flops_per_second': flops / jax_seconds,
          'torch_flops_per_second': flops / torch_seconds,
          'ratio': torch_seconds / jax_seconds}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--device', choices=('cpu', 'gpu'), default='cpu')
  parser.add_argument('--settings', default='default,paper',
                      help=f'Comma-separated, of {sorted(SETTINGS)}.')
  parser.add_argument('--devices', default='1,8',
                      help='CPU: comma-separated host device counts to split '
                      "spotipop's batch over, each in its own process.")
  parser.add_argument('--kernels', default='auto',
                      help="Comma-separated --kernels choices to time "
                      "spotipop's step with (auto, xla, fused), each in turn "
                      'in the same process.')
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--batch_size', type=int,
                      help="Instead of each experiment's (the paper's 64 "
                      'needs over 24 GB of activations on a CPU).')
  parser.add_argument('--json', help='Also write the figures to this file.')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  names = args.settings.split(',')
  if unknown := set(names) - set(SETTINGS):
    parser.error(f'--settings: unknown {sorted(unknown)}; have {sorted(SETTINGS)}')
  counts = [int(n) for n in args.devices.split(',')] if args.device == 'cpu' else [None]
  jax = needs.device(args.device)
  if args.worker:
    print(json.dumps([compare(name, args.device, args.steps, args.batch_size,
                              kernels)
                      for name in names
                      for kernels in args.kernels.split(',')]))
    return
  torch = needs.peer('torch', 'the PyTorch peer')

  peak = matmul_peak_flops()
  results = [r for count in counts for r in _in_worker(args, count)]
  print(f'device: {jax.devices()[0].device_kind} ({os.cpu_count()} host cores), '
        f'jax {jax.__version__}, torch {torch.__version__} '
        f'({torch.get_num_threads()} threads); matmul peak '
        f'{peak / 1e9:.1f} GFLOP/s')
  print(f"{'settings':9s} {'devices':>7s} {'kernels':>7s} {'GFLOP/step':>10s} "
        f"{'spotipop ex/s':>14s} {'torch ex/s':>11s} {'vs torch':>9s} "
        f"{'spotipop % peak':>16s} {'torch % peak':>13s}")
  for r in results:
    print(f"{r['settings']:9s} {r['devices']:7d} {r['kernels']:>7s} "
          f"{r['flops_per_step'] / 1e9:10.1f} "
          f"{r['spotipop_examples_per_second']:14.2f} "
          f"{r['torch_examples_per_second']:11.2f} {r['ratio']:8.2f}x "
          f"{100 * r['spotipop_flops_per_second'] / peak:15.1f}% "
          f"{100 * r['torch_flops_per_second'] / peak:12.1f}%")
  for r in results:
    print(f"  {r['settings']}, {r['devices']} device(s), {r['kernels']} "
          f"kernels: {r['what']}, batch {r['batch']}; {r['parameters']} "
          f"parameters; logits agree to {r['logit_difference']:.1e}")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'matmul_peak_flops': peak, 'results': results}, f, indent=2)


def _in_worker(args, count):
  """compare() for each settings in a process whose JAX has `count` host
  devices (None: the platform's own devices)."""
  env = host_devices_env(os.environ, count) if count else dict(os.environ)
  return worker_result(__file__, [
      '--worker', f'--device={args.device}', f'--settings={args.settings}',
      f'--steps={args.steps}', f'--kernels={args.kernels}',
      *([f'--batch_size={args.batch_size}'] if args.batch_size else [])], env)


if __name__ == '__main__':
  main()
