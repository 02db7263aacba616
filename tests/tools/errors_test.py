"""Every error a user can cause ends in one line naming what to fix, never a traceback."""

import csv
import json
import os

import jax
import numpy as np
import pytest

from conftest import fails_in_one_line
from conftest import run_module
from conftest import small_flags
from conftest import write_manifest
from spotipop import config as config_lib
from spotipop.run import workdir as workdir_lib

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def bad_inputs(catalogue, tmp_path_factory):
  """Manifests and folders that are wrong in one way each."""
  root = tmp_path_factory.mktemp('bad')
  manifest_path, folder = catalogue
  with open(manifest_path) as f:
    rows = list(csv.DictReader(f))

  def write(name, rows_to_write):
    path = root / name
    write_manifest(path, rows_to_write)
    return str(path)

  no_audio = write('no_audio.csv', [{**r, 'audio_path': f'gone/{r["audio_path"]}'}
                                    for r in rows])
  nan_row = write('nan.csv', [rows[0], {**rows[1], 'energy': 'nan'}])
  # Finite in float64, Inf in the float32 the model computes in.
  huge = write('huge.csv', [rows[0], {**rows[1], 'tempo': '1e308'}])
  a_file = root / 'a_file'
  a_file.write_text('not a folder')
  not_a_run = root / 'not_a_run'
  not_a_run.mkdir()
  untrained = root / 'untrained'
  untrained.mkdir()
  (untrained / 'config.json').write_text(config_lib.Config().to_json())
  (untrained / 'dataset.json').write_text(json.dumps(
      {'data_dir': str(root), 'genre_vocab': []}))
  return {'manifest': manifest_path, 'audio_dir': str(folder),
          'no_audio': no_audio, 'nan': nan_row, 'huge': huge,
          'file': str(a_file),
          'not_a_run': str(not_a_run), 'untrained': str(untrained),
          'tfds': str(root / 'tfds'), 'root': root}


CASES = {
    # name: (module, args from the bad_inputs dict, names the line must hold)
    'unknown flag': ('spotipop.main', lambda b: [
        f'--workdir={b["root"]}/w', '--learnin_rate=0.1'], ['learnin_rate']),
    'missing workdir': ('spotipop.main', lambda b: [], ['--workdir']),
    'invalid flag value': ('spotipop.main', lambda b: [
        f'--workdir={b["root"]}/w', '--learning_rate=0'], ['--learning_rate']),
    'conv channels GroupNorm cannot group': ('spotipop.main', lambda b: [
        f'--workdir={b["root"]}/w', '--conv_channels=16,12'],
                                             ['--conv_channels']),
    'group split without a group column': ('spotipop.main', lambda b: [
        f'--workdir={b["root"]}/w', '--split=group'], ['--group_column']),
    'batch not divisible by devices': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['tfds']), f'--workdir={b["root"]}/w',
        '--batch_size=20'], ['--batch_size=20', '8 devices']),
    'workdir is a file': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['tfds']), f'--workdir={b["file"]}'],
                          ['--workdir', 'a_file', 'is a file']),
    'data_dir is a file': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['file']), f'--workdir={b["root"]}/w9'],
                           ['--data_dir', 'a_file', 'a file, not a folder']),
    'data_dir is a file, for the build': ('spotipop.build', lambda b: [
        *small_flags(b['manifest'], b['file'])],
                                          ['--data_dir', 'a_file',
                                           'a file, not a folder']),
    'workdir cannot be created': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['tfds']),
        f'--workdir={b["file"]}/run'], ['--workdir', 'cannot be created']),
    'fewer training tracks than a batch': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['tfds']), f'--workdir={b["root"]}/w1',
        '--batch_size=64'], ['--batch_size=64 exceeds']),
    'no usable audio': ('spotipop.main', lambda b: [
        *small_flags(b['no_audio'], b['tfds']), f'--workdir={b["root"]}/w2'],
                        ['no_audio.csv', 'none of the 48 tracks']),
    'no usable audio, found by the Beam build': ('spotipop.build', lambda b: [
        *small_flags(b['no_audio'], b['tfds']), '--build_runner=beam'],
                                                 ['no_audio.csv',
                                                  'none of the 48 tracks']),
    'unknown Beam pipeline option': ('spotipop.build', lambda b: [
        *small_flags(b['manifest'], b['tfds']), '--build_runner=beam',
        '--beam_pipeline_options=--direct_num_wrokers=2'],
                                     ['direct_num_wrokers']),
    'manifest not found': ('spotipop.main', lambda b: [
        *small_flags(f'{b["root"]}/gone.csv', b['tfds']),
        f'--workdir={b["root"]}/w4'], ['gone.csv', 'No such file']),
    'NaN in a feature': ('spotipop.main', lambda b: [
        *small_flags(b['nan'], b['tfds']), f'--workdir={b["root"]}/w3'],
                         ['nan.csv:3', "'energy'"]),
    'a value beyond float32': ('spotipop.main', lambda b: [
        *small_flags(b['huge'], b['tfds']), f'--workdir={b["root"]}/w5'],
                               ['huge.csv:3', "'tempo'", 'float32']),
    'every track popular': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['tfds']), f'--workdir={b["root"]}/w6',
        '--towers=tabular_only', '--popularity_threshold=0'],
                            ['the train split has no unpopular track',
                             '--popularity_threshold=0']),
    # The session catalogue's most popular track scores 83.
    'no track popular': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['tfds']), f'--workdir={b["root"]}/w7',
        '--towers=tabular_only', '--popularity_threshold=100'],
                         ['the train split has no popular track',
                          '--popularity_threshold=100']),
    'a threshold no score can reach': ('spotipop.main', lambda b: [
        *small_flags(b['manifest'], b['tfds']), f'--workdir={b["root"]}/w8',
        '--popularity_threshold=101'],
                                       ['--popularity_threshold', '[0, 100]']),
    'evaluate on too few resamples': ('spotipop.evaluate', lambda b: [
        f'--workdir={b["untrained"]}', '--bootstrap=2'],
                                      ['--bootstrap', '[100, 100000]', 'not 2']),
    'evaluate a folder that is not a run': ('spotipop.evaluate', lambda b: [
        f'--workdir={b["not_a_run"]}'], ['not_a_run', 'not a spotipop run']),
    'evaluate before a best checkpoint': ('spotipop.evaluate', lambda b: [
        f'--workdir={b["untrained"]}'], ['checkpoints/best', 'no checkpoint']),
    'evaluate an unknown checkpoint name': ('spotipop.evaluate', lambda b: [
        f'--workdir={b["untrained"]}', '--checkpoint=newest'],
                                            ['--checkpoint=newest']),
    'explain before a best checkpoint': ('spotipop.explain', lambda b: [
        f'--workdir={b["untrained"]}'], ['checkpoints/best', 'no checkpoint']),
    'predict without tracks or features': ('spotipop.predict', lambda b: [
        f'--workdir={b["untrained"]}'], ['--features', '--tracks']),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_cli_error_is_one_line(bad_inputs, case):
  module, args, names = CASES[case]
  result = run_module(module, *args(bad_inputs), check=False)
  fails_in_one_line(result, module.replace('.main', ''), *names)


def test_divergence_stops_the_run_before_anything_is_saved(catalogue,
                                                           tmp_path):
  workdir = tmp_path / 'run'
  result = run_module('spotipop.main', *small_flags(catalogue[0],
                                                    tmp_path / 'tfds'),
                      f'--workdir={workdir}', '--learning_rate=1e3',
                      '--towers=tabular_only', check=False)
  line = fails_in_one_line(result, 'spotipop', 'training diverged at step',
                            '--learning_rate (now 1000)')
  assert 'loss' in line
  assert not (workdir / 'eval').exists()  # Nothing of it was evaluated.
  best = workdir / 'checkpoints' / 'best'
  if best.exists() and os.listdir(best):  # Saved before the divergence showed.
    _, _, _, state = workdir_lib.restore_run(str(workdir), 'best')
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))


@pytest.mark.parametrize('platform, module', [('cuda', 'spotipop.main'),
                                              ('tpu', 'spotipop.evaluate')])
def test_a_jax_platform_this_machine_lacks_is_named(bad_inputs, platform,
                                                    module):
  """JAX says AssertionError (cuda) or RuntimeError (tpu) from its backend
  setup; the tools name the variable and what is installed."""
  args = ([*small_flags(bad_inputs['manifest'], bad_inputs['tfds']),
           f'--workdir={bad_inputs["root"]}/w_{platform}']
          if module == 'spotipop.main'
          else [f'--workdir={bad_inputs["untrained"]}'])
  result = run_module(module, *args, env={'JAX_PLATFORMS': platform},
                      check=False)
  fails_in_one_line(result, module.replace('.main', ''),
                    f'JAX_PLATFORMS={platform}', 'JAX plugins installed')
