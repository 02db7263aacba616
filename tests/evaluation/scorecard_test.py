"""The report protocol: thresholds chosen on validation, applied unchanged."""

import json

import numpy as np
import pytest

from spotipop import errors
from spotipop import report as report_tool
from spotipop.evaluation import metrics
from spotipop.evaluation import scorecard


def _predictor(probability, score=None):
  return {'probability': probability, 'score': score}


def _split(labels, probability, popularity=None):
  n = len(labels)
  return {'label': np.asarray(labels), 'probability': np.asarray(probability),
          'score': np.linspace(20, 80, n),
          'popularity': (np.linspace(10, 90, n) if popularity is None
                         else popularity),
          'genre': np.array(['pop'] * n), 'release_year': np.full(n, 2001)}


@pytest.fixture
def splits():
  """Validation is best cut at 0.3; test at 0.7."""
  rng = np.random.default_rng(0)
  val_p = rng.uniform(size=400)
  val_labels = (val_p >= 0.3).astype(int)
  test_p = rng.uniform(size=400)
  test_labels = (test_p >= 0.7).astype(int)
  return {'validation': _split(val_labels, val_p),
          'test': _split(test_labels, test_p)}


def test_each_threshold_is_chosen_on_validation_and_applied_to_test(splits):
  test = splits['test']
  best_on_test = metrics.choose_threshold(test['label'], test['probability'],
                                          'mcc')
  best_on_validation = metrics.choose_threshold(
      splits['validation']['label'], splits['validation']['probability'],
      'mcc')
  assert best_on_test > 0.65 and best_on_validation < 0.35
  gbdt = {s: _predictor(p['probability'][::-1].copy(), p['score'])
          for s, p in splits.items()}
  summary = scorecard.summarize('test', splits, {'gbdt': gbdt}, 'mcc')
  assert summary['threshold']['value'] == pytest.approx(best_on_validation)
  at_validation_cut = metrics.classification_metrics(
      test['label'], test['probability'], best_on_validation)
  assert summary['overall']['mcc'] == pytest.approx(at_validation_cut['mcc'])
  assert summary['overall']['mcc'] < 0.9  # The test-tuned cut scores ~1.
  # The baseline's threshold is its own, chosen on its validation output.
  gbdt_cut = metrics.choose_threshold(splits['validation']['label'],
                                      gbdt['validation']['probability'], 'mcc')
  assert summary['baselines']['gbdt']['threshold'] == pytest.approx(gbdt_cut)
  assert summary['confusion_matrix'] == metrics.confusion(
      test['label'], test['probability'] >= best_on_validation).tolist()


def test_a_score_only_baseline_reports_score_metrics_alone(splits):
  mean = {s: _predictor(None, np.full(400, 50.0)) for s in splits}
  row = scorecard.summarize('test', splits, {'mean': mean}, 'mcc')['baselines'][
      'mean']
  assert 'mcc' not in row and 'threshold' not in row
  assert row['mae'] == pytest.approx(
      np.mean(np.abs(splits['test']['popularity'] - 50.0)))


def test_table_marks_undefined_metrics():
  table = scorecard.table({'model': {'roc_auc': None, 'mcc': 0.25}})
  assert '| spotipop | — |' in table and '0.250' in table


def test_bootstrap_intervals_and_paired_comparisons(splits):
  """Every metric gets an interval around its figure; the model against a
  noise predictor is resolved, against itself not."""
  rng = np.random.default_rng(5)
  noise = {s: _predictor(rng.random(400), p['score'] + 30 * rng.standard_normal(
      400)) for s, p in splits.items()}
  itself = {s: _predictor(p['probability'], p['score'])
            for s, p in splits.items()}
  summary = scorecard.summarize('test', splits, {'gbdt': noise, 'copy': itself},
                             'mcc', bootstrap=300, seed=1)
  assert summary['bootstrap'] == {'resamples': 300, 'seed': 1,
                                  'confidence': 0.95, 'unit': 'track',
                                  'units': 400}
  for row in scorecard.rows(summary).values():
    for metric in ('roc_auc', 'mcc', 'accuracy', 'brier', 'mae'):
      if metric in row:
        low, high = row['intervals'][metric]
        assert low - 1e-9 <= row[metric] <= high + 1e-9, metric
  assert summary['comparisons']['gbdt']['roc_auc']['verdict'] == 'better'
  assert summary['comparisons']['gbdt']['mae']['verdict'] == 'better'
  assert summary['comparisons']['copy']['roc_auc'] == {
      'difference': 0.0, 'interval': [0.0, 0.0], 'p_value': 1.0,
      'verdict': 'not resolved'}
  again = scorecard.summarize('test', splits, {'gbdt': noise}, 'mcc',
                           bootstrap=300, seed=1)
  assert again['overall']['intervals'] == summary['overall']['intervals']
  lines = scorecard.verdicts(summary)
  assert lines[0].startswith('spotipop vs GBDT (LightGBM): ROC-AUC +0.')
  assert lines[0].endswith('spotipop better on 400 test tracks')
  assert lines[1].endswith('no difference resolved on 400 test tracks')


def test_a_model_against_its_copy_differs_by_nothing_on_the_same_resamples(
    splits):
  """An imperfect model (a tenth of the test labels flipped): its ROC-AUC
  moves from resample to resample, so only the same resamples for both sides
  give a difference of exactly [0, 0]; separate ones would not."""
  rng = np.random.default_rng(3)
  test = splits['test']
  flipped = np.where(rng.random(400) < 0.1, 1 - test['label'], test['label'])
  imperfect = {**splits, 'test': _split(flipped, test['probability'])}
  itself = {s: _predictor(p['probability'], p['score'])
            for s, p in imperfect.items()}
  summary = scorecard.summarize('test', imperfect, {'copy': itself}, 'mcc',
                                bootstrap=300, seed=1)
  low, high = summary['overall']['intervals']['roc_auc']
  assert high - low > 0.05  # The metric does move between resamples.
  for metric in ('roc_auc', 'mcc', 'brier', 'mae', 'r2'):
    assert summary['comparisons']['copy'][metric]['interval'] == [0.0, 0.0]
  # The same comparison on other draws for the copy is not [0, 0].
  from spotipop.evaluation import uncertainty  # pylint: disable=g-import-not-at-top
  model = {**imperfect['test'], 'threshold': 0.5}
  one, other = (uncertainty.metric_samples(
      uncertainty.multiplicities(400, 300, seed), flipped,
      test['popularity'], model)['roc_auc'] for seed in (1, 2))
  assert uncertainty.paired(one, other)['interval'] != [0.0, 0.0]


def test_a_split_too_small_to_rank_says_so(splits):
  """40 test tracks, 6 of them popular, scored by a weak predictor."""
  rng = np.random.default_rng(7)
  labels = np.r_[np.ones(6, int), np.zeros(34, int)]
  small = {**splits, 'test': _split(labels, rng.random(40) + 0.2 * labels)}
  summary = scorecard.summarize('test', small, {}, 'mcc', bootstrap=200)
  assert summary['warnings'][0] == (
      '6 popular test track(s), under 10: ROC-AUC, PR-AUC and MCC cannot '
      'rank models on this split')
  assert any('ROC-AUC interval' in w and 'wider than 0.10' in w
             for w in summary['warnings'])


def test_without_bootstrap_the_report_has_no_intervals(splits):
  summary = scorecard.summarize('test', splits, {}, 'mcc')
  assert 'intervals' not in summary['overall'] and 'bootstrap' not in summary


def test_the_report_holds_each_part_computed_at_the_validation_threshold():
  rng = np.random.default_rng(3)
  val_p = rng.uniform(size=60)
  validation = _split((val_p >= 0.3).astype(int), val_p)
  test_p = np.r_[rng.uniform(size=58), 0.3, 0.3]  # Two exactly at a cut.
  test = _split((test_p >= 0.5).astype(int), test_p)
  test['genre'] = np.array(['pop', 'rock'] * 30)
  test['release_year'] = np.r_[np.full(30, 1994), np.full(30, 2011)]
  model = {'validation': validation, 'test': test}
  summary = scorecard.summarize('test', model, {}, 'mcc')
  threshold = summary['threshold']['value']
  assert threshold == metrics.choose_threshold(validation['label'], val_p,
                                               'mcc') == pytest.approx(0.3, abs=0.05)
  assert summary['threshold'] == {'value': threshold, 'criterion': 'mcc',
                                  'chosen_on': 'validation'}
  assert summary['confusion_matrix'] == metrics.confusion(
      test['label'], test_p >= threshold).tolist()
  assert summary['calibration'] == metrics.reliability(test['label'], test_p)
  assert summary['per_genre'] == metrics.json_safe(metrics.breakdown(
      test['genre'], test['label'], test_p, threshold))
  assert set(summary['per_release_era']) == {'1990s', '2010s'}
  assert summary['per_release_era']['1990s'] == metrics.json_safe(
      metrics.classification_metrics(test['label'][:30], test_p[:30],
                                     threshold))
  # A probability equal to the threshold is a popular call.
  at_cut = scorecard.summarize('test', {'validation': validation,
                                     'test': _split([0, 1], [threshold] * 2)},
                            {}, 'mcc')
  assert at_cut['confusion_matrix'] == [[0, 1], [0, 1]]


def test_intervals_of_groups_count_groups_and_sparse_classes_cannot_rank(
    splits):
  groups = np.repeat(np.arange(40), 10)
  mean = {s: _predictor(None, np.full(400, 50.0)) for s in splits}
  prior = {s: _predictor(np.full(400, 0.3)) for s in splits}
  summary = scorecard.summarize('test', splits, {'prior': prior, 'mean': mean},
                             'mcc', bootstrap=50, seed=4, groups=groups)
  assert summary['bootstrap'] == {'resamples': 50, 'seed': 4,
                                  'confidence': 0.95, 'unit': 'group',
                                  'units': 40}
  assert 'count' not in summary['overall']['intervals']
  # The prior has no score, the mean no probability: each is compared on
  # what both predict.
  assert set(summary['comparisons']['prior']) == {
      'roc_auc', 'average_precision', 'mcc', 'brier'}
  assert set(summary['comparisons']['mean']) == {'mae', 'r2'}
  assert {c['verdict'] for c in summary['comparisons']['prior'].values()} <= {
      'better', 'worse', 'not resolved'}
  # Nine unpopular test tracks: the ranking metrics cannot rank.
  sparse = dict(splits)
  sparse['test'] = _split(np.r_[np.zeros(9), np.ones(391)].astype(int),
                          splits['test']['probability'])
  summary = scorecard.summarize('test', sparse, {'prior': prior}, 'mcc',
                             bootstrap=50, seed=4)
  assert summary['bootstrap']['unit'] == 'track'
  assert summary['bootstrap']['units'] == 400
  verdicts = {m: c['verdict'] for m, c in summary['comparisons']['prior'].items()}
  assert verdicts['roc_auc'] == verdicts['average_precision'] == verdicts[
      'mcc'] == 'cannot rank'
  assert verdicts['brier'] != 'cannot rank'
  assert summary['warnings'][0].startswith(
      '9 unpopular test track(s), under 10: ROC-AUC, PR-AUC and MCC cannot '
      'rank models')


@pytest.mark.parametrize('count,warned', [(9, True), (10, False)])
def test_a_class_is_sparse_under_ten_tracks(count, warned):
  overall = {'count': 100, 'positive_rate': (100 - count) / 100}
  assert bool(scorecard.warnings({'split': 'test', 'overall': overall})) == warned


@pytest.mark.parametrize('bounds,warned', [
    ((0.70, 0.7999), False), ((0.70, 0.8001), True), ((0.05, 0.10), False),
    ((0.0, 0.1), False)])  # Exactly 0.10 wide is not wider.
def test_a_roc_auc_interval_wider_than_a_tenth_is_warned(bounds, warned):
  overall = {'count': 100, 'positive_rate': 0.5,
             'intervals': {'roc_auc': list(bounds)}}
  got = scorecard.warnings({'split': 'test', 'overall': overall})
  assert bool(got) == warned
  if warned:
    assert got[0].startswith(f'the ROC-AUC interval [{bounds[0]:.3f}, '
                             f'{bounds[1]:.3f}] is wider than 0.10')


def test_the_table_prints_figures_intervals_and_dashes():
  rows = {'model': {'roc_auc': 0.81234, 'mae': 7.5, 'r2': None,
                    'intervals': {'roc_auc': [0.75, 0.86], 'mae': [7.0, 8.25]}},
          'custom': {'roc_auc': 0.5}}
  lines = scorecard.table(rows).splitlines()
  assert lines[0] == ('| predictor | ROC-AUC | PR-AUC | MCC | bal. acc. | F1 | '
                      'accuracy | Brier | MAE | RMSE | R² | Spearman |')
  assert lines[1] == '| --- ' * 12 + '|'
  assert lines[2] == ('| spotipop | 0.812 [0.750, 0.860] | — | — | — | — | — '
                      '| — | 7.50 [7.00, 8.25] | — | — | — |')
  assert lines[3] == '| custom | 0.500 | — | — | — | — | — | — | — | — | — | — |'


def test_verdict_lines_name_each_baseline_and_what_its_interval_resolves():
  summary = {'bootstrap': {'units': 120, 'unit': 'group'}, 'comparisons': {
      'gbdt': {'roc_auc': {'difference': -0.031, 'interval': [-0.05, -0.01],
                           'p_value': 0.004, 'verdict': 'worse'}},
      'always_popular': {},  # Nothing both predict: no line, and go on.
      'mystery': {'mae': {'difference': 1.0, 'interval': None,
                          'p_value': None, 'verdict': 'undefined'}},
      'train_mean_popularity': {'mae': {'difference': 1.0, 'interval': None,
                                        'p_value': None,
                                        'verdict': 'undefined'}},
      'custom': {'brier': {'difference': -0.01, 'interval': [-0.02, 0.01],
                           'p_value': 0.5, 'verdict': 'not resolved'}},
      'train_prior': {'roc_auc': {'difference': 0.2, 'interval': [0.1, 0.3],
                                  'p_value': 0.001, 'verdict': 'cannot rank'}}}}
  assert scorecard.verdicts(summary) == [
      'spotipop vs GBDT (LightGBM): ROC-AUC -0.031 [-0.050, -0.010], '
      'p = 0.004: spotipop worse on 120 test groups',
      'spotipop vs mystery: MAE undefined on too many resamples of 120 test '
      'groups',
      'spotipop vs train mean popularity: MAE undefined on too many resamples '
      'of 120 test groups',
      'spotipop vs custom: Brier -0.010 [-0.020, +0.010], p = 0.5: no '
      'difference resolved on 120 test groups',
      'spotipop vs train prior: ROC-AUC +0.200 [+0.100, +0.300], p = 0.001: '
      'cannot rank models with under 10 tracks of a class on 120 test groups']
  assert scorecard.verdicts({'bootstrap': {'units': 5, 'unit': 'track'}}) == []


def test_group_resamples_give_other_intervals_than_track_resamples(splits):
  groups = np.repeat(np.arange(8), 50)
  by_group, by_track, default_seed = (
      scorecard.summarize('test', splits, {}, 'mcc', bootstrap=200, **kwargs)
      for kwargs in ({'seed': 0, 'groups': groups}, {'seed': 0}, {}))
  assert (by_group['overall']['intervals']['mae']
          != by_track['overall']['intervals']['mae'])
  assert default_seed == by_track  # The seed defaults to 0.


def test_cells_use_the_column_format_with_or_without_an_interval():
  assert scorecard.cell(0.12345) == '0.123' and scorecard.cell(None) == '—'
  line = scorecard.table({'x': {'mae': 7.5, 'roc_auc': 0.5}}).splitlines()[2]
  assert line.split(' | ')[8] == '7.50'


def test_the_headline_says_what_was_evaluated_and_how(splits):
  summary = scorecard.summarize('test', splits, {}, 'mcc', bootstrap=20, seed=0)
  summary.update(checkpoint='best', step=42)
  lines = scorecard.headline(summary).splitlines()
  threshold = summary['threshold']['value']
  popular = 100 * summary['overall']['positive_rate']
  assert lines[0] == (
      f'test split, 400 tracks ({popular:.1f}% popular), best checkpoint '
      f'(step 42); threshold {threshold:.3f} (max mcc on validation); 95% '
      'intervals from 20 bootstrap resamples of the 400 tracks')
  summary['warnings'] = ['a warning']
  assert scorecard.headline(summary).splitlines()[-1] == 'WARNING: a warning'
  del summary['bootstrap']
  assert scorecard.headline(summary).splitlines()[1:] == ['WARNING: a warning']
  del summary['warnings']  # A report written before warnings existed.
  assert scorecard.headline(summary).splitlines()[1:] == []


def test_the_report_tool_prints_each_run_and_names_a_missing_one(
    splits, tmp_path, capsys):
  summary = scorecard.summarize('test', splits, {}, 'mcc')
  summary.update(checkpoint='best', step=7)
  run = tmp_path / 'run_a'
  (run / 'eval' / 'test-best').mkdir(parents=True)
  (run / 'eval' / 'test-best' / 'report.json').write_text(json.dumps(summary))
  report_tool.main(['report', str(run)])
  out = capsys.readouterr().out
  assert out.startswith(f'### run_a\n\n{scorecard.headline(summary)}\n\n'
                        f'{scorecard.table(scorecard.rows(summary))}\n')
  with pytest.raises(errors.SpotipopError, match='gone/eval/test-best/report.json'):
    report_tool.main(['report', str(tmp_path / 'gone')])
  with pytest.raises(errors.SpotipopError, match='usage'):
    report_tool.main(['report'])


@pytest.mark.parametrize('units, fewest, metric, verdict', [
    (9, 100, 'mae', 'cannot decide'), (9, 100, 'roc_auc', 'cannot decide'),
    (10, 100, 'mae', 'better'), (10, 9, 'roc_auc', 'cannot rank'),
    (10, 9, 'brier', 'better'), (10, 10, 'roc_auc', 'better')])
def test_a_verdict_needs_ten_resampled_units_and_ranking_ten_of_a_class(
    units, fewest, metric, verdict):
  paired = {'interval': [0.1, 0.2], 'p_value': 0.01, 'verdict': 'better'}
  assert scorecard.settled(paired, metric, fewest, units) == {
      **paired, 'verdict': verdict}
  undefined = {'interval': None, 'p_value': None, 'verdict': 'undefined'}
  assert scorecard.settled(undefined, metric, fewest, units) == {
      **undefined, 'verdict': 'undefined' if verdict == 'better' else verdict}


def test_two_test_tracks_decide_nothing_however_far_apart(splits):
  """A perfect model against the prior on 2 tracks: every resample agrees,
  and still nothing is decided."""
  tiny = dict(splits)
  tiny['test'] = _split([0, 1], [0.1, 0.9], popularity=np.array([10., 90.]))
  prior = {s: _predictor(np.full(len(tiny[s]['label']), 0.3)) for s in tiny}
  mean = {s: _predictor(None, np.full(len(tiny[s]['label']), 50.0))
          for s in tiny}
  summary = scorecard.summarize('test', tiny, {'prior': prior, 'mean': mean},
                                'mcc', bootstrap=200, seed=0)
  verdicts = {m: c['verdict'] for name in ('prior', 'mean')
              for m, c in summary['comparisons'][name].items()}
  assert verdicts and set(verdicts.values()) == {'cannot decide'}
  assert ('2 track(s) resampled, under 10: no comparison on this split can '
          'decide') in summary['warnings']
  assert any(line.endswith('cannot decide (under 10 resampled) on 2 test '
                           'tracks') for line in scorecard.verdicts(summary))
  # The same model on 10 groups is judged.
  groups = np.repeat(np.arange(10), 40)
  judged = scorecard.summarize('test', splits, {'prior': prior_of(splits)},
                               'mcc', bootstrap=200, seed=0, groups=groups)
  assert 'cannot decide' not in {
      c['verdict'] for c in judged['comparisons']['prior'].values()}


def prior_of(splits):
  return {s: _predictor(np.full(len(splits[s]['label']), 0.3)) for s in splits}
