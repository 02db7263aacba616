"""The run folder: what training writes and what evaluation, prediction and
explanation read back.

  WORKDIR/config.json      the resolved Config
  WORKDIR/dataset.json     where the dataset lives, its feature transform,
                           genre vocabulary, class counts and build report
  WORKDIR/metrics.jsonl    one line per epoch
  WORKDIR/checkpoints/     latest/ and best/ (checkpointing.py)
  WORKDIR/eval/SPLIT-CHECKPOINT/   evaluation reports
  WORKDIR/explain/SPLIT-CHECKPOINT/  explanations (explain.py)
"""

import contextlib
import json
import os

import jax

from spotipop import errors
from spotipop.config import Config
from spotipop.model import network
from spotipop.model import train_state
from spotipop.run import checkpointing
from spotipop.storage import atomic_files


def write_run_files(workdir, config: Config, builder):
  """The resolved config and dataset record that evaluation/prediction read.

  A workdir belongs to one config: resuming it under other settings would
  train a model that neither describes, so that is refused.
  """
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    previous = read_config(workdir)
    if differences := previous.differences(config):
      raise errors.ConfigMismatchError(
          f'{workdir} was trained with other settings (workdir != now): '
          f'{"; ".join(differences)}. Use a new --workdir, or the same flags '
          'to resume.')
  if jax.process_index():
    return
  os.makedirs(workdir, exist_ok=True)
  with atomic_files.replaced(path) as f:
    f.write(config.to_json())
  with atomic_files.replaced(os.path.join(workdir, 'dataset.json')) as f:
    json.dump({'data_dir': os.fspath(builder.data_dir),
               'feature_stats': builder.info.metadata['feature_stats'],
               'genre_vocab': builder.info.metadata['genre_vocab'],
               'class_counts': builder.info.metadata['class_counts'],
               'build_report': builder.info.metadata['build_report']},
              f, indent=2)


def write_history(workdir, history):
  """metrics.jsonl: one JSON line per epoch (host 0)."""
  if jax.process_index():
    return
  with atomic_files.replaced(os.path.join(workdir, 'metrics.jsonl')) as f:
    for record in history:
      f.write(json.dumps(record) + '\n')


def read_config(workdir):
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise errors.CheckpointError(
        f'{workdir} is not a spotipop run: it has no config.json')
  with open(config_path) as f:
    return Config.from_json(f.read())


def eval_dir(workdir, split, checkpoint):
  return os.path.join(workdir, 'eval', f'{split}-{checkpoint}')


def restore_run(workdir, checkpoint=checkpointing.BEST):
  """(config, dataset record, model, train state) of a run's checkpoint.

  checkpoint is 'best', 'latest' or a step number of the latest manager.
  """
  config = read_config(workdir)
  with open(os.path.join(workdir, 'dataset.json')) as f:
    dataset = json.load(f)
  model = network.create(config, len(dataset['genre_vocab']))
  like = train_state.abstract(config, model)
  which, step = ((checkpointing.LATEST, int(checkpoint))
                 if str(checkpoint).isdigit() else (checkpoint, None))
  if which not in (checkpointing.LATEST, checkpointing.BEST):
    raise errors.CheckpointError(f"--checkpoint={checkpoint}: use 'best', "
                                 "'latest' or a step number")
  with contextlib.closing(checkpointing.Checkpoints(workdir, read_only=True)) as ckpts:
    restored = ckpts.restore(which, like, step)
  if restored is None:
    raise errors.CheckpointError(
        f'{os.path.join(workdir, "checkpoints", which)}: no checkpoint yet '
        '(training saves the first at the end of epoch 1)')
  return config, dataset, model, restored[0]
