"""spotipop.explain on a trained two-tower run: files, completeness, sanity."""

import copy
import csv
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from conftest import PNG_MAGIC
from conftest import REPO
from conftest import fails_in_one_line
from conftest import run_module
from conftest import train_here
from spotipop import errors
from spotipop.audio import spectrogram
from spotipop.data import datasets
from spotipop.data import demo_catalogue
from spotipop.evaluation import baselines
from spotipop.explanation import attribution
from spotipop.explanation import explained_run
from spotipop.explanation import split_explanation
from spotipop.model import inference
from spotipop.model import train_state
from spotipop.run import workdir as workdir_lib


def scenario(test):
  """A scenario on the trained run shared with cli_test, on one worker."""
  return pytest.mark.slow(pytest.mark.xdist_group('trained')(test))


# Measured on the shared run at 64 path steps: at most 2.5e-3 of a logit
# (attribution_test: the error falls with the steps).
COMPLETENESS_TOLERANCE = 1e-2
# Measured: signed rank correlations of -0.08 to 0.06 between the trained and
# three re-initialised networks' attributions, for either tower.
RANDOMISATION_BOUND = 0.3
TEST_TRACKS = 7  # Of the session catalogue's 48.
# Measured on the known-answer run (48 validation and test tracks, 23 with
# the hook; 10 of 32 mel bins in 1.5-3 kHz), at the test's 4 path steps: mean
# shares 0.496 against 0.257, every hook track's (lowest 0.439) above every
# other's (highest 0.329). Its test ROC-AUC is 0.822 [0.617, 0.970], the
# GBDT's 0.696: it hears the hook.
HOOK_MARGIN = 0.1
# Measured on the known-answer run's 112 train tracks, 10 shuffles each: ROC-AUC
# drops of 0.0085 (danceability) and 0.0081 (energy) against -0.0046 (key) and
# -0.0021 (liveness), a shuffle's sd 0.004-0.006, so a 10-shuffle mean's under
# 0.002. Its validation and test splits hold 24 tracks each, too few to rank
# drops this small.
PERMUTATION_MARGIN = 0.003


def _csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def explained(trained, tmp_path_factory):
  """explain's files, written with --out outside the run."""
  workdir, _ = trained
  evaluation = workdir / 'eval' / 'test-best'
  track = _csv(evaluation / 'predictions.csv')[0]['track_id']
  out = tmp_path_factory.mktemp('explained')
  result = run_module('spotipop.explain', f'--workdir={workdir}',
                      '--repeats=2', f'--track_ids={track}', f'--out={out}')
  return workdir, track, result, out


@pytest.fixture(scope='module')
def explainer(trained):
  return explained_run.Explainer.from_run(str(trained[0]))


@scenario
def test_explain_writes_the_table_attributions_and_figures(explained):
  workdir, track, result, out = explained
  with open(workdir / 'config.json') as f:
    columns = json.load(f)['data']['feature_columns']
  importance = _csv(out / 'importance.csv')
  assert [r['input'] for r in importance] == [*columns, 'genre', 'audio']
  assert importance[-1]['gbdt_mean_abs_shap'] == ''  # The GBDT hears none.
  assert '| input | network: ROC-AUC drop (sd) | GBDT: mean abs SHAP |' in (
      result.stdout)
  for name in ('importance.png', 'bands.png', f'track-{track}.png'):
    assert (out / name).read_bytes().startswith(PNG_MAGIC), name
  # The explained model is the evaluated one: same tracks, same outputs.
  evaluated = _csv(workdir / 'eval' / 'test-best' / 'predictions.csv')
  with open(workdir / 'eval' / 'test-best' / 'report.json') as f:
    report = json.load(f)
  with open(out / 'summary.json') as f:
    summary = json.load(f)
  assert summary['network_roc_auc'] == pytest.approx(
      report['overall']['roc_auc'])
  attributions = _csv(out / 'attributions.csv')
  assert ([r['track_id'] for r in attributions] ==
          [r['track_id'] for r in evaluated])
  for row, evaluated_row in zip(attributions, evaluated):
    probability = 1 / (1 + np.exp(-float(row['logit'])))
    assert probability == pytest.approx(
        float(evaluated_row['probability']), abs=1e-4)
    total = sum(float(row[c]) for c in [*columns, 'spectrogram'])
    difference = float(row['logit']) - float(row['baseline_logit'])
    assert abs(total - difference) < COMPLETENESS_TOLERANCE
    assert float(row['completeness_error']) == pytest.approx(
        abs(total - difference), abs=1e-4)
  assert summary['max_completeness_error'] < COMPLETENESS_TOLERANCE


@scenario
def test_a_reinitialised_network_gets_other_attributions(explainer):
  """Adebayo et al. (2018): attributions that survive re-initialising the
  network describe the input, not the model."""
  rows = explainer.rows('test', range(TEST_TRACKS), with_audio=True)
  trained_attributions = explainer.attribute(rows)[0]
  reinitialised = copy.copy(explainer)
  reinitialised.params = train_state.create(
      explainer.config, explainer.model, jax.random.key(7), 1).params
  random_attributions = reinitialised.attribute(rows)[0]
  for tower in ('features', 'spec'):
    correlation = stats.spearmanr(trained_attributions[tower].ravel(),
                                  random_attributions[tower].ravel()).statistic
    assert abs(correlation) < RANDOMISATION_BOUND, (tower, correlation)


@scenario
def test_an_unknown_track_is_named(trained):
  workdir, _ = trained
  result = run_module('spotipop.explain', f'--workdir={workdir}',
                      '--track_ids=no-such-track', check=False)
  fails_in_one_line(result, 'spotipop.explain', 'no-such-track', 'test')


@scenario
def test_a_folder_without_a_run_is_named(tmp_path):
  result = run_module('spotipop.explain', f'--workdir={tmp_path}', check=False)
  fails_in_one_line(result, 'spotipop.explain', str(tmp_path), 'config.json')


def test_rank_correlation_is_spearmans():
  # Ranks 1 3 2 4 and 1 3 4 2: 1 - 6 * (0 + 0 + 4 + 4) / (4 * 15) = 0.2.
  a, b = [0.1, 0.5, 0.2, 0.9], [1.0, 3.0, 4.0, 2.0]
  assert split_explanation.rank_correlation(a, b) == pytest.approx(0.2)
  assert split_explanation.rank_correlation([1, 2, 3], [10, 20, 30]) == 1.0
  assert split_explanation.rank_correlation([1, 2, 3], [0, 0, 0]) is None
  assert split_explanation.rank_correlation([0, 1], [5, 4]) == pytest.approx(
      -1.0)


@scenario
def test_predict_explains_each_track_as_the_explainer_does(
    trained, explainer, catalogue, tmp_path):
  workdir, _ = trained
  manifest_path, folder = catalogue
  rows = explainer.rows('test', range(3), with_audio=True)
  expected = explainer.top_contributions(rows, 3)
  assert all(len(top) == 3 for top in expected)
  with open(manifest_path) as f:
    by_id = {r['track_id']: {**r, 'audio_path': str(folder / r['audio_path'])}
             for r in csv.DictReader(f)}
  tracks = tmp_path / 'tracks.csv'
  with open(tracks, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(by_id[rows['track_id'][0]]))
    writer.writeheader()
    writer.writerows(by_id[t] for t in rows['track_id'])
  result = run_module('spotipop.predict', f'--workdir={workdir}',
                      f'--tracks={tracks}', '--explain=3')
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 3
  for line, track_id, top in zip(lines, rows['track_id'], expected):
    assert line.startswith(f'{track_id}\t')
    printed = [item.rsplit(' ', 1) for item in
               line.split('\twhy: ')[1].split(', ')]
    assert [name for name, _ in printed] == [name for name, _ in top], line
    # The clip decoded from its file, not read back from the dataset: the
    # last printed digit may differ.
    np.testing.assert_allclose([float(v) for _, v in printed],
                               [value for _, value in top], atol=2e-3)


@scenario
def test_the_explain_benchmark_checks_its_step_loop_peer(trained):
  workdir, _ = trained
  result = subprocess.run(
      [sys.executable, 'benchmarks/explain.py', f'--workdir={workdir}',
       '--steps=4', '--repeats=1'], cwd=REPO, capture_output=True, text=True,
      timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'step loop (one call a step)' in result.stdout
  assert 'tracks/s' in result.stdout


DEMO = dict(num_tracks=160, sample_rate=8000, seed=0, seconds=(2.0, 2.5))


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
  """A two-tower run on 160 tracks of the demo generator at 8 kHz: its
  Explainer (4 path steps: where the attribution sits, not its sum, is
  checked), and the ids of the tracks with the melodic hook."""
  root = tmp_path_factory.mktemp('demo')
  manifest = demo_catalogue.write_catalogue(str(root / 'catalogue'), **DEMO)
  train_here(root / 'run', f'--manifest={manifest}',
             f'--data_dir={root / "tfds"}', '--sample_rate=8000',
             '--clip_seconds=2.0', '--min_clip_seconds=1.0', '--n_fft=256',
             '--hop_length=128', '--n_mels=32', '--conv_channels=8,16,32',
             '--dense_features=32', '--fusion_features=32', '--batch_size=32',
             '--num_epochs=10', '--early_stopping_patience=1000')
  return (explained_run.Explainer.from_run(str(root / 'run'), steps=4),
          demo_catalogue.hook_tracks(**DEMO))


# The known answer's tests share a worker, so its run is trained once.
known_answer = pytest.mark.xdist_group('known_answer')


@pytest.mark.slow
@known_answer
def test_the_attributions_of_hook_tracks_sit_in_the_hooks_bands(demo_run):
  """The known answer: the demo's popularity depends on a melodic hook at
  1.5-3 kHz that no feature column carries. A trained model's spectrogram
  attributions put a larger share there for hook tracks than for others."""
  explainer, hooks = demo_run
  config = explainer.config
  hz = spectrogram.bin_frequencies(config.data.sample_rate, config.model.n_fft,
                                   config.model.n_mels)
  band = (hz >= 1500) & (hz <= 3000)
  shares, is_hook = [], []
  for split in ('validation', 'test'):
    rows = explainer.rows(split, range(len(
        explainer.builder.as_data_source(split))), with_audio=True)
    magnitude = np.abs(explainer.attribute(rows)[0]['spec'])
    shares.append(magnitude[:, :, band].sum((1, 2)) / magnitude.sum((1, 2)))
    is_hook.append(np.isin(rows['track_id'], list(hooks)))
  share, hook = np.concatenate(shares), np.concatenate(is_hook)
  assert 5 <= hook.sum() <= len(hook) - 5
  assert share[hook].mean() > share[~hook].mean() + HOOK_MARGIN, (
      share[hook].mean(), share[~hook].mean())


@pytest.mark.slow
@known_answer
def test_danceability_and_energy_matter_more_than_key_and_liveness(demo_run):
  """The known answer's other half: the demo's popularity rises with
  danceability and energy, and key and liveness play no part in it. Measured
  on the train split, where the network learnt what it relies on."""
  explainer, _ = demo_run
  table = explainer.rows('train', range(len(
      explainer.builder.as_data_source('train'))), with_audio=True)
  names = explainer.feature_names
  groups = {name: ('features', names.index(name))
            for name in ('danceability', 'energy', 'key', 'liveness')}
  _, drops = attribution.permutation_importance(
      explainer.predict, {k: table[k] for k in inference.MODEL_INPUTS},
      table['label'], groups, repeats=10, seed=0)
  drop = {name: d.mean() for name, d in drops.items()}
  assert min(drop['danceability'], drop['energy']) > max(
      drop['key'], drop['liveness']) + PERMUTATION_MARGIN, drop


@pytest.mark.parametrize('steps, repeats, message', [
    (100_000, 5, r'--steps=100000: use 1 to 2048\. Each track costs steps \+ 1 '
                 r'gradient passes \(100,001 here, 1,538x the default 64\)'),
    (0, 5, '--steps=0: use 1 to 2048'),
    (64, 1000, r'--repeats=1000: use 1 to 100\. .*\(200x the default 5 here\)')])
def test_settings_out_of_proportion_are_refused_with_their_cost_before_work(
    tmp_path, steps, repeats, message):
  # tmp_path is no run: the cost is judged before the folder is even read.
  with pytest.raises(errors.FlagError, match=f'^{message}'):
    split_explanation.explain(str(tmp_path), steps=steps, repeats=repeats)
  split_explanation.check_cost(2048, 100)
  split_explanation.check_cost(1, 1)


@pytest.mark.slow
@pytest.mark.mutation  # The only test of _listening's wait.
def test_a_long_attribution_hears_ctrl_c_while_it_computes():
  """A jitted call of seconds: Ctrl-C is raised within a poll, not at its
  end (explain --steps=100000 once ignored two Ctrl-C for 10 minutes)."""
  @jax.jit
  def slow(x, steps):
    return jax.lax.fori_loop(0, steps, lambda i, v: jnp.tanh(v @ v), x)

  x = jnp.eye(512) * 0.5
  jax.block_until_ready(slow(x, 1))  # Compiled: the same code for any steps.
  timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
  started = time.monotonic()
  timer.start()
  running = slow(x, 400)
  with pytest.raises(KeyboardInterrupt):
    explained_run._listening(running)  # pylint: disable=protected-access
  heard = time.monotonic() - started
  jax.block_until_ready(running)  # Leave no work behind for other tests.
  seconds = time.monotonic() - started
  # Heard within a poll of the signal, while the call ran on for longer.
  assert heard < 0.2 + 0.5 < seconds, (heard, seconds)


# Tests of an untrained run share a worker, one for each run
# (conftest.untrained_run, untrained_audio_run).
on_the_untrained_run = pytest.mark.xdist_group('untrained')
# Each untrained run: the tabular one in the quick tier, the two-tower one
# (the spectrogram's attributions, baseline, band sums and shuffle) in the
# slow tier, which the mutation run also runs.
UNTRAINED_RUNS = pytest.mark.parametrize('run_fixture', [
    pytest.param('untrained_run', marks=on_the_untrained_run),
    pytest.param('untrained_audio_run',
                 marks=[pytest.mark.slow, pytest.mark.mutation,
                        pytest.mark.xdist_group('untrained_audio')])])


@UNTRAINED_RUNS
def test_explain_reports_what_its_tables_hold(run_fixture, request,
                                              monkeypatch, caplog):
  """Each figure against its definition, computed here: the network's
  ROC-AUC on the split, each input's mean and sample sd of drops (the clip
  shuffled whole in the audio run), the GBDT's mean |TreeSHAP| (the genre's
  is its last column), the importances' rank correlation, per track the
  spectrogram's summed attribution and a completeness error of
  |attributions - (logit - baseline logit)|, and the mean |attribution| per
  band and per frame that bands.png draws."""
  run = request.getfixturevalue(run_fixture)
  drawn = {}
  for name in ('bands', 'track', 'importance'):
    real = getattr(split_explanation.attribution_plots, name)

    def capture(*args, real=real, name=name):
      drawn[name] = args
      real(*args)
    monkeypatch.setattr(split_explanation.attribution_plots, name, capture)
  config, dataset, _, _ = workdir_lib.restore_run(str(run))
  audio = config.uses_audio
  track = bytes(datasets.load(dataset['data_dir']).as_data_source('test')[2][
      'track_id']).decode()
  # explain's own explainer, which the figures below are recomputed with
  # (its compiled calls reused).
  explainers, from_run = [], explained_run.Explainer.from_run

  def kept(*args, **kwargs):
    explainer = from_run(*args, **kwargs)
    if audio:  # In chunks of 4: the band and frame sums add up over chunks.
      explainer.chunk = 4
    explainers.append(explainer)
    return explainer
  monkeypatch.setattr(explained_run.Explainer, 'from_run', kept)
  with caplog.at_level(logging.INFO):
    summary = split_explanation.explain(str(run), repeats=2, steps=4,
                                        seed=4, track_ids=(track,))
  (explainer,) = explainers
  assert explainer.steps == 4  # --steps passed on; the default is 64.
  count = len(explainer.builder.as_data_source('test'))
  table = explainer.rows('test', range(count), with_audio=audio)
  assert table['track_id'][2] == track
  progress = [m for m in caplog.messages if m.startswith('attributed ')]
  assert progress[-1].startswith(f'attributed {count}/{count} tracks in ')
  for line in progress:  # Seconds so far and left: a test's few.
    spent, left = map(float, re.findall(r' ([\d.]+) s', line))
    assert 0 <= spent < 120 and 0 <= left < 120
  out = run / 'explain' / 'test-best'  # The default, in the run.
  inputs = {k: table[k] for k in inference.MODEL_INPUTS if k in table}
  assert ('audio' in inputs) == audio
  names = list(explainer.config.data.feature_columns)
  assert summary['network_roc_auc'] == pytest.approx(
      roc_auc_score(table['label'], explainer.predict(inputs)))

  groups = {**{n: ('features', j) for j, n in enumerate(names)},
            'genre': ('genre_id', None),
            **({'audio': ('audio', None)} if audio else {})}
  _, drops = attribution.permutation_importance(
      explainer.predict, inputs, table['label'], groups, 2, 4)
  gbdt = baselines.fit_gbdt(datasets.read_tabular(explainer.builder, 'train'),
                            datasets.read_tabular(explainer.builder,
                                                  'validation'),
                            'label', explainer.config.train.seed)
  shap = np.abs(baselines.gbdt_contributions(gbdt, table)).mean(0)
  importance = _csv(out / 'importance.csv')
  assert [r['input'] for r in importance] == list(groups)
  expected_shaps = [*shap[:len(names)], shap[-1]] + ([None] if audio else [])
  for row, expected_shap in zip(importance, expected_shaps, strict=True):
    assert float(row['network_auc_drop']) == pytest.approx(
        np.mean(drops[row['input']]), abs=1e-9)
    assert float(row['network_auc_drop_sd']) == pytest.approx(
        np.std(drops[row['input']], ddof=1), abs=1e-9)
    if expected_shap is None:
      assert row['gbdt_mean_abs_shap'] == ''
    else:
      assert float(row['gbdt_mean_abs_shap']) == pytest.approx(expected_shap)
  assert summary['rank_correlation_network_vs_gbdt'] == pytest.approx(
      stats.spearmanr([float(r['network_auc_drop']) for r in importance
                       if r['gbdt_mean_abs_shap']],
                      [float(r['gbdt_mean_abs_shap']) for r in importance
                       if r['gbdt_mean_abs_shap']]).statistic)
  # importance.png: the summary's rows, ROC-AUC, shuffles and correlation.
  assert drawn['importance'] == (
      summary['importance'], summary['network_roc_auc'], 2,
      summary['rank_correlation_network_vs_gbdt'], str(out / 'importance.png'))
  train_tracks = len(explainer.builder.as_data_source('train'))
  assert {k: v for k, v in summary.items() if k != 'importance'} == {
      'split': 'test', 'checkpoint': 'best', 'tracks': count,
      'network_roc_auc': summary['network_roc_auc'], 'repeats': 2,
      'path_steps': 4,
      'rank_correlation_network_vs_gbdt':
          summary['rank_correlation_network_vs_gbdt'],
      'max_completeness_error': summary['max_completeness_error'],
      'baseline': {'features': 'train-split median',
                   'spectrogram': (f'mean of {min(256, train_tracks)} train '
                                   'clips') if audio else None}}

  attributions = _csv(out / 'attributions.csv')
  assert list(attributions[0]) == ['track_id', 'label', 'logit',
                                   'baseline_logit', *names, 'spectrogram',
                                   'completeness_error']
  assert [r['track_id'] for r in attributions] == list(table['track_id'])
  assert [int(r['label']) for r in attributions] == list(table['label'])
  attributed, _, _, attributed_inputs = explainer.attribute(table)
  np.testing.assert_allclose(
      [[float(r[c]) for c in names] for r in attributions],
      attributed['features'], atol=1e-5)
  spec_totals = (attributed['spec'].sum((1, 2)) if audio
                 else np.zeros(count))
  assert not audio or np.ptp(spec_totals) > 1e-3  # Tracks differ.
  errors_seen = []
  for row, probability, spec_total in zip(
      attributions, explainer.predict(inputs), spec_totals):
    assert 1 / (1 + np.exp(-float(row['logit']))) == pytest.approx(
        probability, abs=1e-4)
    assert float(row['spectrogram']) == pytest.approx(spec_total, abs=2e-5)
    total = sum(float(row[c]) for c in [*names, 'spectrogram'])
    error = abs(total - (float(row['logit']) - float(row['baseline_logit'])))
    # Written to three significant digits, from attributions to five places.
    assert float(row['completeness_error']) == pytest.approx(error, rel=5e-3,
                                                             abs=1e-4)
    errors_seen.append(error)
  assert summary['max_completeness_error'] == pytest.approx(max(errors_seen),
                                                            abs=1e-4)
  assert json.loads((out / 'summary.json').read_text()) == json.loads(
      json.dumps(summary))
  assert sorted(os.listdir(out)) == sorted(
      ['attributions.csv', 'importance.csv', 'importance.png', 'summary.json',
       f'track-{track}.png'] + (['bands.png'] if audio else []))
  assert (out / f'track-{track}.png').read_bytes().startswith(PNG_MAGIC)

  i = list(table['track_id']).index(track)
  assert drawn['track'][0] == track
  np.testing.assert_array_equal(drawn['track'][1], table['raw_features'][i])
  np.testing.assert_allclose(drawn['track'][3], attributed['features'][i],
                             atol=1e-5)
  assert drawn['track'][6] == config.model.hop_length / config.data.sample_rate
  if not audio:
    assert drawn['track'][4] is None and drawn['track'][5] is None
    assert 'bands' not in drawn
    return
  np.testing.assert_allclose(drawn['track'][4], attributed_inputs['spec'][i],
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(drawn['track'][5], attributed['spec'][i],
                             atol=1e-6)
  magnitude = np.abs(attributed['spec'])  # [tracks, frames, bands]
  hz, per_band, frame_seconds, per_frame, path = drawn['bands']
  # The run's spectrogram is linear: its bins are the STFT's, k sr / n_fft.
  assert config.model.n_mels == 0
  np.testing.assert_allclose(
      hz, np.arange(magnitude.shape[2]) * config.data.sample_rate /
      config.model.n_fft)
  assert magnitude.shape[2] == config.model.n_fft // 2 + 1
  np.testing.assert_allclose(per_band, magnitude.sum(1).mean(0), rtol=1e-4)
  np.testing.assert_allclose(per_frame, magnitude.sum(2).mean(0), rtol=1e-4)
  assert frame_seconds == drawn['track'][6]
  assert path == str(out / 'bands.png')
  assert (out / 'bands.png').read_bytes().startswith(PNG_MAGIC)


@on_the_untrained_run
def test_one_shuffle_has_no_spread_and_each_input_its_own_shap(
    untrained_run, tmp_path, monkeypatch):
  """With contributions of j + 1 in column j (the genre's is the last
  column), each input's mean |SHAP| is its own column's. (A GBDT fitted on
  fewer than 200 tracks never splits on the genre: LightGBM wants 100 a
  category, so the real contributions cannot show this.)"""
  def contributions(model, table):
    del model
    columns = table['features'].shape[1] + 1
    return -np.tile(np.arange(1.0, columns + 1), (len(table['label']), 1))
  monkeypatch.setattr(split_explanation.baselines, 'gbdt_contributions',
                      contributions)
  summary = split_explanation.explain(str(untrained_run), repeats=1, steps=1,
                                      checkpoint='latest',
                                      out_dir=str(tmp_path / 'once'))
  # latest/ holds a model of other parameters than best/, whose ROC-AUC
  # differs (run_report_test checks it).
  assert summary['checkpoint'] == 'latest'
  explainer = explained_run.Explainer.from_run(str(untrained_run), 'latest')
  table = explainer.rows('test', range(len(explainer.builder.as_data_source(
      'test'))), with_audio=False)
  assert summary['network_roc_auc'] == pytest.approx(roc_auc_score(
      table['label'], explainer.predict(
          {k: table[k] for k in inference.MODEL_INPUTS if k in table})))
  assert {r['network_auc_drop_sd'] for r in summary['importance']} == {0.0}
  assert [r['gbdt_mean_abs_shap'] for r in summary['importance']] == list(
      np.arange(1.0, len(summary['importance']) + 1))


@UNTRAINED_RUNS
def test_the_baseline_is_the_train_splits_median_track(run_fixture, request):
  """The features' median and, in the audio run, the mean log-spectrogram
  of every train clip (fewer than BASELINE_CLIPS here), computed whole."""
  run = request.getfixturevalue(run_fixture)
  explainer = explained_run.Explainer.from_run(str(run))
  # docs/explanations.md: the default 64 path steps, by either way in.
  config, dataset, model, state = workdir_lib.restore_run(str(run))
  assert explainer.steps == explained_run.Explainer(
      config, dataset, model, state.params).steps == 64
  train = datasets.read_tabular(explainer.builder, 'train')['features']
  np.testing.assert_array_equal(explainer.baseline['features'],
                                np.median(train, axis=0).astype(np.float32))
  if not explainer.config.uses_audio:
    assert set(explainer.baseline) == {'features'}
    return
  assert set(explainer.baseline) == {'features', 'spec'}
  count = len(train)
  assert count < explained_run.BASELINE_CLIPS
  clips = explainer.rows('train', range(count), with_audio=True)['audio']
  spec = explainer.model.apply({}, clips, method='log_spectrogram')
  assert explainer.baseline['spec'].dtype == np.float32
  # The run's linear bins above the codecs' cut-off hold magnitudes near the
  # log's 1e-5 floor, whose float32 rounding differs between a batch of
  # clips and the explainer's chunks by up to 1e-3 in their mean log.
  np.testing.assert_allclose(explainer.baseline['spec'],
                             np.asarray(spec).mean(0), rtol=1e-5, atol=1e-3)


@on_the_untrained_run
def test_a_split_is_attributed_in_chunks_as_in_one_call(untrained_run):
  """Chunks of 5 with a padded last one give each track what a single
  call over the whole split gives it. (The audio run's chunks: in
  test_explain_reports_what_its_tables_hold.)"""
  whole = explained_run.Explainer.from_run(str(untrained_run), steps=2)
  rows = whole.rows('test', range(12), with_audio=False)  # Of 15.
  chunked = copy.copy(whole)
  chunked.chunk = 5
  # Compiled apart from `whole`'s: the padded last chunk reuses its shape.
  chunked._attribute = jax.jit(chunked._attribute_chunk)  # pylint: disable=protected-access
  for a, b in zip(jax.tree.leaves(chunked.attribute(rows)),
                  jax.tree.leaves(whole.attribute(rows))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert chunked._attribute._cache_size() == 1  # pylint: disable=protected-access
  top = whole.top_contributions(rows, 2)
  features = whole.attribute(rows)[0]['features']
  assert len(top) == 12
  for row, contributions in zip(features, top):
    order = np.argsort(-np.abs(row))[:2]
    assert contributions == [(whole.feature_names[j], pytest.approx(row[j]))
                             for j in order]


def test_the_printed_table_ranks_inputs_by_the_networks_importance():
  summary = {'network_roc_auc': 0.71234, 'tracks': 40, 'split': 'test',
             'rank_correlation_network_vs_gbdt': None, 'importance': [
                 {'input': 'key', 'network_auc_drop': 0.01,
                  'network_auc_drop_sd': 0.002, 'gbdt_mean_abs_shap': 0.5},
                 {'input': 'audio', 'network_auc_drop': 0.2,
                  'network_auc_drop_sd': 0.03, 'gbdt_mean_abs_shap': None}]}
  assert split_explanation.table_text(summary).splitlines() == [
      'network ROC-AUC 0.712 on 40 test tracks; rank correlation with the '
      "GBDT's: undefined (a constant importance)",
      '| input | network: ROC-AUC drop (sd) | GBDT: mean abs SHAP |',
      '| --- | --- | --- |',
      '| audio | 0.2000 (0.0300) | - |',
      '| key | 0.0100 (0.0020) | 0.5000 |']
  summary['rank_correlation_network_vs_gbdt'] = -0.5
  assert split_explanation.table_text(summary).splitlines()[0].endswith(
      "with the GBDT's: -0.50")


@on_the_untrained_run
@pytest.mark.parametrize('flags, message', [
    (dict(split='train2'), r"--split=train2: use one of \('train', "),
    (dict(out_dir='FILE/explained'),
     r'cannot write .*FILE/explained \(.*\): give --out=A_FOLDER_YOU_CAN_WRITE'),
    (dict(track_ids=('no-such-track',)),
     r"--track_ids: \['no-such-track'\] are not in the test split of ")])
def test_a_bad_split_or_track_is_named(untrained_run, tmp_path, flags,
                                       message):
  (tmp_path / 'FILE').write_text('a file, where a folder is asked for')
  flags = {'out_dir': str(tmp_path / 'o'),
           **{k: str(tmp_path / v) if k == 'out_dir' else v
              for k, v in flags.items()}}
  with pytest.raises(errors.SpotipopError, match=message):
    split_explanation.explain(str(untrained_run), steps=2, repeats=1, **flags)


def test_the_top_contributions_count_the_clip_as_one_input():
  """In an audio run the spectrogram's attribution, summed over its bins,
  competes with each feature's by size."""
  explainer = explained_run.Explainer.__new__(explained_run.Explainer)
  explainer.feature_names = ['energy', 'tempo', 'key']
  features = np.array([[0.1, -0.5, 0.2], [0.3, 0.0, -0.1]])
  spec = np.stack([np.full((3, 4), 0.05), np.full((3, 4), -0.001)])
  explainer.attribute = lambda rows: ({'features': features, 'spec': spec},)
  assert explainer.top_contributions(None, 2) == [
      [('audio', pytest.approx(0.6)), ('tempo', -0.5)],
      [('energy', 0.3), ('key', -0.1)]]
  explainer.attribute = lambda rows: ({'features': features},)
  assert explainer.top_contributions(None, 1) == [[('tempo', -0.5)],
                                                  [('energy', 0.3)]]


@on_the_untrained_run
def test_a_split_of_one_class_is_refused_before_any_work(
    untrained_run, tmp_path, monkeypatch):
  """Importance is a drop in ROC-AUC, undefined for one class: refused with
  the split named, before anything is written (summary.json holds no NaN)."""
  read = explained_run.Explainer.rows

  def one_class(self, *args, **kwargs):
    rows = read(self, *args, **kwargs)
    return {**rows, 'label': np.ones_like(rows['label'])}
  monkeypatch.setattr(explained_run.Explainer, 'rows', one_class)
  with pytest.raises(errors.SpotipopError,
                     match='^--split=test: its 15 tracks are all popular; '
                     'importance is a drop in '
                     'ROC-AUC, which needs both classes: explain another '
                     'split$'):
    split_explanation.explain(str(untrained_run), repeats=1, steps=1,
                              out_dir=str(tmp_path / 'o'))
  assert not os.listdir(tmp_path / 'o')
