"""Every file a run writes, failed in turn: by a full disk, and by a kill.

tests/scenarios/faults/failwrite.c, loaded with LD_PRELOAD, fails the first write to
one file (a glob over its path) as a full disk would (that write and every
later one fail with ENOSPC) or kills the process mid-write. Each case then
reruns the same command with space and checks that the run finishes, without
a traceback, with what an uninterrupted run gives: the report, the
predictions, metrics.jsonl, the TensorBoard curves and the final parameters.

The default suite runs SAMPLE, a write point of each kind of writer, both
faults. Every point with both faults (WRITE_POINTS x FAULTS;
docs/fault_injection.md has the measured results):

    SPOTIPOP_FAULT_SWEEP=all python -m pytest -n 2 tests/scenarios/fault_injection_test.py
"""

import fnmatch
import json
import os
import shutil
import signal

import jax
import numpy as np
import pytest

from conftest import fails_in_one_line
from conftest import run_module
from conftest import small_flags
from conftest import tensorboard_scalars
from spotipop.run import workdir as workdir_lib

SWEEP = os.environ.get('SPOTIPOP_FAULT_SWEEP') == 'all'
# A scenario: whole runs, outside the quick tier. In the suite one worker runs
# them all, so the reference run is made once; a sweep uses every worker.
pytestmark = [pytest.mark.slow, *([] if SWEEP else
                                  [pytest.mark.xdist_group('faults')])]

_SAVE = 'run/checkpoints/{}.orbax-checkpoint-tmp/'
_STATE = _SAVE + 'state.orbax-checkpoint-tmp/'


def _checkpoint_save(name):
  """A checkpoint save's files: its arrays (per process, then merged), their
  metadata, the step's metadata, the progress record, the commit markers and,
  for the best checkpoints, the validation metrics that ranked it."""
  points = {
      f'{name} arrays': _STATE.format(name) + 'ocdbt.process_0/d/*',
      f'{name} merged arrays': _STATE.format(name) + 'd/*',
      f'{name} array metadata': _STATE.format(name) + 'array_metadatas/*',
      f'{name} tree metadata': _STATE.format(name) + '_METADATA',
      f'{name} state commit': _STATE.format(name) + 'commit_success.txt',
      f'{name} progress': (_SAVE.format(name) +
                           'progress.orbax-checkpoint-tmp/*'),
      f'{name} step metadata': _SAVE.format(name) + '_CHECKPOINT_METADATA',
      f'{name} step commit': _SAVE.format(name) + 'commit_success.txt',
  }
  if name.startswith('best/'):
    points[f'{name} metrics'] = (_SAVE.format(name) +
                                 'metrics.orbax-checkpoint-tmp/*')
  return points


# Each file a two-epoch run writes, as a glob relative to its folder. The
# first test checks that the list is complete.
WRITE_POINTS = {
    'build lock': 'tfds/.spotipop-build.lock',
    'train shard': 'tfds/*/incomplete.*/*-train.array_record-*',
    'validation shard': 'tfds/*/incomplete.*/*-validation.array_record-*',
    'test shard': 'tfds/*/incomplete.*/*-test.array_record-*',
    'dataset info': 'tfds/*/incomplete.*/dataset_info.json',
    'dataset features': 'tfds/*/incomplete.*/features.json',
    'dataset labels': 'tfds/*/incomplete.*/label.labels.txt',
    'dataset metadata': 'tfds/*/incomplete.*/metadata.json',
    'run lock': 'run/.spotipop-run.lock',
    'run config': 'run/config.json.partial-*',
    'dataset record': 'run/dataset.json.partial-*',
    'metrics.jsonl': 'run/metrics.jsonl.partial-*',
    'tensorboard': 'run/tensorboard/events.out.tfevents.*',
    **_checkpoint_save('latest/2'),
    **_checkpoint_save('best/2'),
    **_checkpoint_save('latest/4'),
    'report': 'run/eval/test-best/report.json.partial-*',
    'predictions': 'run/eval/test-best/predictions.csv.partial-*',
    'roc plot': 'run/eval/test-best/roc.png.partial-*',
    'confusion plot': 'run/eval/test-best/confusion.png.partial-*',
    'calibration plot': 'run/eval/test-best/calibration.png.partial-*',
}
# Files no result depends on: TensorStore's lock files.
IGNORED = ('*.__lock',)
FAULTS = ('enospc', 'kill')
# One of each kind of writer: TFDS (array_record), Python, TensorStore.
SAMPLE = [('train shard', 'enospc'), ('metrics.jsonl', 'kill'),
          ('latest/4 arrays', 'enospc'), ('best/2 step commit', 'kill')]

CASES = ([(point, fault) for point in WRITE_POINTS for fault in FAULTS]
         if SWEEP else SAMPLE)


def _flags(catalogue, folder):
  return [*small_flags(catalogue[0], folder / 'tfds'),
          f'--workdir={folder / "run"}', '--towers=tabular_only']


@pytest.fixture(scope='module')
def reference(catalogue, failwrite, tmp_path_factory):
  """An uninterrupted run: its folder, the files it wrote in the order
  written, its results and its final parameters."""
  folder = tmp_path_factory.mktemp('reference')
  log = folder / 'writes.log'
  run_module('spotipop.main', *_flags(catalogue, folder),
             env={'LD_PRELOAD': failwrite, 'FAILWRITE_LOG': str(log)})
  written = [os.path.relpath(line, folder)
             for line in log.read_text().splitlines()
             if line.startswith(f'{folder}/')]
  return folder, written, _results(folder), _final_params(folder)


def _points_of(path):
  return [name for name, glob in WRITE_POINTS.items()
          if fnmatch.fnmatchcase(path, glob)]


def test_the_write_points_are_every_file_a_run_writes(reference):
  _, written, _, _ = reference
  unlisted = [p for p in written if not _points_of(p)
              and not any(fnmatch.fnmatchcase(p, g) for g in IGNORED)]
  assert not unlisted, f'files no write point covers: {unlisted}'
  unused = set(WRITE_POINTS) - {n for p in written for n in _points_of(p)}
  assert not unused, f'write points the run never wrote: {sorted(unused)}'
  assert all(len(_points_of(p)) <= 1 for p in written)


def _results(folder):
  """What a run leaves its user, less what measures the machine's speed."""
  run = folder / 'run'
  history = [{k: v for k, v in json.loads(line).items()
              if k != 'examples_per_second'}
             for line in (run / 'metrics.jsonl').read_text().splitlines()]
  report = run / 'eval' / 'test-best'
  return {'report': json.loads((report / 'report.json').read_text()),
          'predictions': (report / 'predictions.csv').read_text(),
          'history': history,
          'curves': {tag: values for tag, values in
                     tensorboard_scalars(str(run)).items()
                     if tag != 'train/examples_per_second'}}


def _final_params(folder):
  _, _, _, state = workdir_lib.restore_run(str(folder / 'run'), 'latest')
  return state.params


@pytest.mark.parametrize('point,fault', CASES)
def test_a_failed_write_then_a_rerun_ends_as_an_uninterrupted_run(
    catalogue, failwrite, reference, tmp_path, point, fault):
  _, _, expected_results, expected_params = reference
  flags = _flags(catalogue, tmp_path)
  failed = run_module('spotipop.main', *flags, check=False, env={
      'LD_PRELOAD': failwrite, 'FAILWRITE_MODE': fault,
      'FAILWRITE_MATCH': f'{tmp_path}/{WRITE_POINTS[point]}'})
  if fault == 'kill':
    assert failed.returncode == -signal.SIGKILL, failed.stderr[-3000:]
  else:
    last = fails_in_one_line(failed, 'spotipop', str(tmp_path))
    assert 'no space left on the device' in last, last

  rerun = run_module('spotipop.main', *flags)
  assert 'Traceback' not in rerun.stderr, rerun.stderr[-4000:]
  assert _results(tmp_path) == expected_results
  jax.tree.map(np.testing.assert_array_equal, _final_params(tmp_path),
               expected_params)


def test_evaluate_on_a_full_disk_names_the_file_and_keeps_the_last_report(
    failwrite, reference, tmp_path):
  expected_folder, _, _, _ = reference
  shutil.copytree(expected_folder / 'run', tmp_path / 'run')
  report = tmp_path / 'run' / 'eval' / 'test-best' / 'report.json'
  before = report.read_bytes()
  failed = run_module('spotipop.evaluate', f'--workdir={tmp_path / "run"}',
                      check=False, env={
                          'LD_PRELOAD': failwrite, 'FAILWRITE_MODE': 'enospc',
                          'FAILWRITE_MATCH': f'{report}.partial-*'})
  last = fails_in_one_line(failed, 'spotipop.evaluate', str(report))
  assert 'no space left on the device' in last, last
  assert report.read_bytes() == before
  assert sorted(os.listdir(report.parent)) == sorted(
      os.listdir(expected_folder / 'run' / 'eval' / 'test-best'))
