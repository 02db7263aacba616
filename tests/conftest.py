"""Shared fixtures. Tests run on 8 simulated CPU devices so pmap really splits."""

import csv
import dataclasses
import os
import pathlib
import shutil
import struct
import sys
import tempfile

from compile_flags import TEST_XLA_FLAGS  # pylint: disable=g-bad-import-order

# Appended: XLA takes the last device count it is given.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8 ' +
                           TEST_XLA_FLAGS)
# One compilation cache for the session and the CLIs it starts: the same small
# models compile once, not once per process. Every compilation is cached:
# under the tests' flags most take under JAX's default threshold of a second,
# and that second, paid in each of the suite's ~60 processes, is most of its
# time.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      tempfile.mkdtemp(prefix='spotipop-jax-cache-'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')
# LightGBM's OpenMP threads spin while they wait for work; beside the other
# xdist worker's XLA threads on two cores, a sub-second fit then took over
# two minutes. Waiting threads sleep instead.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
import soundfile as sf  # pylint: disable=g-import-not-at-top

from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
from spotipop.data import demo_catalogue  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ../shared/data beside the repository; mutation runs (tests/mutation.sh)
# run these tests from a copy in REPO/mutants, one folder further down.
SHARED_DATA = next(
    (path for path in (os.path.join(os.path.dirname(REPO), 'shared', 'data'),
                       os.path.join(os.path.dirname(os.path.dirname(REPO)),
                                    'shared', 'data'))
     if os.path.isdir(path)), os.path.join(os.path.dirname(REPO), 'shared',
                                           'data'))
SIGNAL_AT_STEP = os.path.join(REPO, 'tests', 'scenarios', 'faults',
                              'signal_at_step.py')


@pytest.fixture(scope='session')
def catalogue(tmp_path_factory):
  """A 48-track catalogue at 8 kHz: (manifest path, folder)."""
  folder = tmp_path_factory.mktemp('catalogue')
  return demo_catalogue.write_catalogue(str(folder), num_tracks=48,
                                        sample_rate=8000, seed=1), folder


@pytest.fixture(scope='session')
def trained(catalogue, tmp_path_factory):
  """(workdir, CompletedProcess) of `python -m spotipop.main` on the session
  catalogue. Its users share a worker: xdist_group('trained')."""
  root = tmp_path_factory.mktemp('trained')
  workdir = root / 'run'
  result = run_module('spotipop.main', *small_flags(catalogue[0], root / 'tfds'),
                      f'--workdir={workdir}', '--num_epochs=3')
  return workdir, result


def _untrained(tmp_path_factory, towers):
  """A run split by artist, saved at its initial parameters (step 1 in
  best/; other initial parameters as step 2 in latest/): what evaluate and
  explain compute from a model, checked without training one. Its 70 train tracks give the GBDT (20 tracks a leaf)
  splits."""
  # pylint: disable=g-import-not-at-top
  import jax
  from spotipop.data import datasets
  from spotipop.model import network
  from spotipop.model import train_state
  from spotipop.run import checkpointing
  from spotipop.run import workdir as workdir_lib
  root = tmp_path_factory.mktemp(f'untrained-{towers}')
  manifest = demo_catalogue.write_catalogue(
      str(root / 'catalogue'), num_tracks=100, sample_rate=8000, seed=1,
      seconds=(0.6, 0.7))
  # A seed other than the default: the GBDT beside it must be fitted with it.
  # Split by artist: reports resample whole artists.
  # The two-tower run's spectrogram is linear (--n_mels=0): the trained runs
  # elsewhere are mel runs, so explain's bands of STFT bins are checked here.
  config = small_config(manifest, root / 'tfds', towers=towers,
                        seed=5, split='group', group_column='artist',
                        n_mels=0 if towers == 'two_tower' else 32)
  builder = datasets.build(config.data)
  workdir = root / 'run'
  workdir_lib.write_run_files(str(workdir), config, builder)
  model = network.create(config, len(builder.info.metadata['genre_vocab']))
  ckpts = checkpointing.Checkpoints(str(workdir))
  state = train_state.create(config, model, jax.random.key(3), 1)
  ckpts.save(checkpointing.BEST, 1, state.replace(step=state.step + 1), {},
             metrics={checkpointing.SELECTION: 0.5})
  # Another model in latest/, for the tools' --checkpoint=latest.
  other = train_state.create(config, model, jax.random.key(4), 1)
  ckpts.save(checkpointing.LATEST, 2, other.replace(step=other.step + 2), {})
  ckpts.close()
  return workdir


@pytest.fixture(scope='session')
def untrained_run(tmp_path_factory):
  """_untrained's tabular run, for the quick tier. Its tests share a worker:
  xdist_group('untrained')."""
  return _untrained(tmp_path_factory, 'tabular_only')


@pytest.fixture(scope='session')
def untrained_audio_run(tmp_path_factory):
  """_untrained's two-tower run, on a linear spectrogram: the spectrogram's
  side of explain (slow tier; the mutation run includes it).
  xdist_group('untrained_audio')."""
  return _untrained(tmp_path_factory, 'two_tower')


@pytest.fixture(scope='session')
def dirty_catalogue(catalogue, tmp_path_factory):
  """The session catalogue plus a corrupt, a too-short, a missing and a
  truncated clip (the first 1000 bytes of a real mp3: its header reads)."""
  source_manifest, source_dir = catalogue
  folder = tmp_path_factory.mktemp('dirty')
  shutil.copytree(source_dir / 'audio', folder / 'audio')
  with open(source_manifest) as f:
    rows = list(csv.DictReader(f))
  (folder / 'audio' / 'corrupt.mp3').write_bytes(b'\x00garbage' * 500)
  sf.write(folder / 'audio' / 'short.wav',
           np.zeros(800, np.float32), 8000)  # 0.1 s.
  mp3 = next(r['audio_path'] for r in rows if r['audio_path'].endswith('.mp3'))
  (folder / 'audio' / 'truncated.mp3').write_bytes(
      (source_dir / mp3).read_bytes()[:1000])
  for name in ('corrupt.mp3', 'short.wav', 'missing.ogg', 'truncated.mp3'):
    rows.append({**rows[0], 'track_id': f'bad-{name}',
                 'audio_path': f'audio/{name}'})
  return str(write_manifest(folder / 'manifest.csv', rows))


@pytest.fixture(scope='session')
def failwrite(tmp_path_factory):
  """scenarios/faults/failwrite.c compiled: an LD_PRELOAD library that fails
  one file's writes as a full disk or a kill would (see its header)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  library = tmp_path_factory.mktemp('failwrite') / 'failwrite.so'
  try:
    subprocess.run(['cc', '-shared', '-fPIC', '-O2', '-o', str(library),
                    os.path.join(REPO, 'tests', 'scenarios', 'faults',
                                 'failwrite.c'), '-ldl'],
                   check=True, capture_output=True, text=True)
  except (OSError, subprocess.CalledProcessError) as e:
    pytest.fail(f'the fault injection tests need a C compiler (cc): {e}')
  return str(library)


def write_manifest(path, rows):
  """Writes rows (dicts with the same keys) as a CSV manifest; returns path."""
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path


def read_by_catalogue_flagfile(text, folder):
  """The manifest a catalogue importer's flagfile (text) names, read and
  labelled as training would: checks that its count became 0-100 scores and
  that no group sits in both train and test; returns the manifest read."""
  # pylint: disable=g-import-not-at-top
  from spotipop.data import manifest
  from spotipop.data import popularity
  from spotipop.data import splits
  path = os.path.join(folder, 'catalogue.flags')
  with open(path, 'w') as f:
    f.write(text)
  config = config_lib.from_flagfile(path)
  read = manifest.read(config.data.manifest, config.data)
  labelled, _ = popularity.apply(splits.assign(read.tracks, config.data),
                                 config.data)
  scores = [t.popularity for s in labelled.values() for t in s]
  assert 0 <= min(scores) and max(scores) <= 100
  groups = {s: {t.group for t in labelled[s]} for s in labelled}
  assert not groups['train'] & groups['test']
  return read


def small_config(manifest, data_dir, **overrides):
  """A Config that trains in seconds; overrides are field=value of any section."""
  sections = {
      'data': dict(manifest=manifest, data_dir=str(data_dir), sample_rate=8000,
                   clip_seconds=1.0, min_clip_seconds=0.5),
      'model': dict(n_fft=256, hop_length=128, n_mels=32, conv_channels=(8, 16),
                    dense_features=(16,), fusion_features=16),
      'train': dict(batch_size=16, num_epochs=2, log_every_steps=1,
                    warmup_epochs=0.5),
  }
  classes = {'data': config_lib.DataConfig, 'model': config_lib.ModelConfig,
             'train': config_lib.TrainConfig}
  for key, value in overrides.items():
    section = next(name for name, cls in classes.items()
                   if key in {f.name for f in dataclasses.fields(cls)})
    sections[section][key] = value
  return config_lib.Config(**{name: classes[name](**kwargs)
                              for name, kwargs in sections.items()}).validate()


# small_config's clips and model as command-line flags.
SMALL_MODEL_FLAGS = ['--sample_rate=8000', '--clip_seconds=1.0',
                     '--min_clip_seconds=0.5', '--n_fft=256',
                     '--hop_length=128', '--n_mels=32', '--conv_channels=8,16',
                     '--dense_features=16', '--fusion_features=16']


def small_flags(manifest, data_dir):
  """small_config as command-line flags, for the CLI tests."""
  return [f'--manifest={manifest}', f'--data_dir={data_dir}',
          *SMALL_MODEL_FLAGS, '--batch_size=16', '--num_epochs=2',
          '--log_every_steps=1', '--warmup_epochs=0.5']


def tensorboard_scalars(workdir):
  """{tag: {step: value}} as TensorBoard shows a run's event files.

  Files are read in the order written; a START record with a step (a resumed
  run's purge_step) drops what earlier files logged at that step or later. A
  record cut short by a killed writer ends its file, as in TensorBoard.
  """
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  scalars = {}
  folder = os.path.join(workdir, 'tensorboard')
  for name in sorted(os.listdir(folder)):
    with open(os.path.join(folder, name), 'rb') as f:
      data = f.read()
    offset = 0
    while offset < len(data):  # TFRecords: length, its CRC, data, data CRC.
      length = int.from_bytes(data[offset:offset + 8], 'little')
      if offset + 12 + length + 4 > len(data):
        break
      event = event_pb2.Event.FromString(
          data[offset + 12:offset + 12 + length])
      offset += 12 + length + 4
      if event.session_log.status == event_pb2.SessionLog.START:
        for series in scalars.values():
          for step in [s for s in series if s >= event.step]:
            del series[step]
      for value in event.summary.value:
        scalars.setdefault(value.tag, {})[event.step] = value.simple_value
  return scalars


def experiment_config(name, *overrides):
  """The Config of experiments/NAME.flags, later flags overriding it."""
  return config_lib.from_flagfile(f'{REPO}/experiments/{name}.flags',
                                  *overrides)


def train_here(workdir, *flags):
  """Trains as `python -m spotipop.main FLAGS --workdir=WORKDIR` would, in
  this process, without the test split's evaluation: for the runs a test
  builds on rather than tests. Returns the run's progress record."""
  from spotipop.training import loop  # pylint: disable=g-import-not-at-top
  return loop.train_and_evaluate(experiment_config('default', *flags),
                                  str(workdir))


def run_module(module, *args, env=None, check=True, timeout=600,
               signal_at_step=None):
  """Runs `python -m module args` from the repo root; returns CompletedProcess.

  The process is forked from tool_process's server unless env changes the
  environment, which needs a fresh interpreter. signal_at_step='N[:SIGNAL]'
  runs it under faults/signal_at_step.py: the run signals itself after step N.
  """
  import subprocess  # pylint: disable=g-import-not-at-top
  import tool_process  # pylint: disable=g-import-not-at-top
  full_env = {**os.environ, **(env or {})}
  result = (None if signal_at_step else
            tool_process.run(module, args, REPO, full_env, timeout))
  if result is None:
    command = (['-m', module] if signal_at_step is None else
               [SIGNAL_AT_STEP, signal_at_step, module])
    result = subprocess.run([sys.executable, *command, *args], cwd=REPO,
                            env=full_env, capture_output=True, text=True,
                            timeout=timeout)
  if check and result.returncode:
    raise AssertionError(f'{module} failed ({result.returncode}):\n'
                         f'{result.stderr[-4000:]}')
  return result


# The first bytes of every PNG file.
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def png_size(path):
  """(width, height) in pixels of a PNG file, read from its header."""
  header = pathlib.Path(path).read_bytes()[:24]
  assert header.startswith(PNG_MAGIC), path
  return struct.unpack('>II', header[16:24])


@pytest.fixture
def saved_figures(monkeypatch):
  """{file name: the figure evaluation/plots.save wrote to it}: the figures
  of a test, to read back; each is still written."""
  from spotipop.evaluation import plots  # pylint: disable=g-import-not-at-top
  figures, save = {}, plots.save

  def capture(fig, path):
    figures[os.path.basename(path)] = fig
    save(fig, path)
  monkeypatch.setattr(plots, 'save', capture)
  return figures


def fails_in_one_line(result, tool, *names):
  """Non-zero exit; stderr ends with one `tool: ...` line naming `names`."""
  assert result.returncode != 0, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr, result.stderr[-4000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f'{tool}: '), result.stderr[-2000:]
  for name in names:
    assert name in last, (name, last)
  return last


def file_snapshot(folder):
  """Every file under folder with its size and modification time."""
  return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
          for p in folder.rglob('*')}


def truncate_checkpoint_state(step_folder):
  """Cuts a checkpoint step's largest state file in half, so it cannot load.

  The step's merged OCDBT data under state/d: the per-process copies are not
  read once merged.
  """
  files = [p for p in (step_folder / 'state' / 'd').rglob('*') if p.is_file()]
  victim = max(files, key=lambda p: p.stat().st_size)
  with open(victim, 'r+b') as f:
    f.truncate(victim.stat().st_size // 2)


def lock_holder(path, seconds=600):
  """A process holding spotipop's lock at path for `seconds`, once it says so."""
  import subprocess  # pylint: disable=g-import-not-at-top
  process = subprocess.Popen(
      [sys.executable, '-c', 'import time\n'
       'from spotipop.storage import locks\n'
       f'with locks.held({str(path)!r}, "the folder", wait=False):\n'
       '  print("held", flush=True)\n'
       f'  time.sleep({seconds})\n'],
      cwd=REPO, stdout=subprocess.PIPE, text=True)
  assert process.stdout.readline().strip() == 'held'
  return process
