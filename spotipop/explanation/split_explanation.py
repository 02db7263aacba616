"""Why a run's model scores tracks as it does: attributions over a split
(`python -m spotipop.explain`).

Writes under WORKDIR/explain/SPLIT-CHECKPOINT/:

  importance.csv, importance.png  the network's permutation importance (the
      drop in ROC-AUC when one feature, the genre or, in audio runs, the whole
      clip is shuffled across the split; mean and spread over --repeats
      shuffles) beside the GBDT baseline's mean |TreeSHAP| on the same split
  attributions.csv  per track: integrated gradients of the popular logit to
      each feature and to the spectrogram as a whole, the logits they explain,
      and the completeness error |sum - (logit - baseline logit)|
  summary.json      the table, the rank correlation of the two importances,
      the baselines used and the largest completeness error
  track-ID.png      per --track_ids track: its spectrogram with the
      attribution over it, and its top features
  bands.png         audio runs: where in the spectrum and when the model
      listens (mean |attribution| per frequency band and per second)

The integrated-gradient baseline is an average track (explained_run.py
says which and why).
"""

import csv
import json
import os
import time

from absl import logging
import numpy as np

from spotipop import errors
from spotipop.audio import spectrogram
from spotipop.data import catalog
from spotipop.data import datasets
from spotipop.evaluation import baselines
from spotipop.evaluation import metrics
from spotipop.explanation import attribution
from spotipop.explanation import attribution_plots
from spotipop.explanation import explained_run
from spotipop.model import inference
from spotipop.run import checkpointing
from spotipop.run import workdir as workdir_lib
from spotipop.storage import atomic_files
from spotipop.storage import user_strings

AUDIO, GENRE = 'audio', 'genre'


def explain_dir(workdir, split, checkpoint):
  return os.path.join(workdir, 'explain', f'{split}-{checkpoint}')


def _importance(explainer, table, repeats, seed):
  """Rows of the importance table and the network's ROC-AUC on a split's
  table (Explainer.rows of the whole split)."""
  names = explainer.feature_names
  groups = {name: ('features', j) for j, name in enumerate(names)}
  groups[GENRE] = ('genre_id', None)
  if 'audio' in table:
    groups[AUDIO] = ('audio', None)
  inputs = {k: table[k] for k in inference.MODEL_INPUTS if k in table}
  auc, drops = attribution.permutation_importance(
      explainer.predict, inputs, table['label'], groups, repeats, seed)
  gbdt = baselines.fit_gbdt(
      *(datasets.read_tabular(explainer.builder, s)
        for s in ('train', 'validation')), 'label', explainer.config.train.seed)
  shap = np.abs(baselines.gbdt_contributions(gbdt, table)).mean(0)
  rows = [{'input': name, 'network_auc_drop': float(drops[name].mean()),
           'network_auc_drop_sd': float(drops[name].std(ddof=1))
           if repeats > 1 else 0.0,
           'gbdt_mean_abs_shap': (float(shap[names.index(name)])
                                  if name in names else
                                  float(shap[-1]) if name == GENRE else None)}
          for name in groups]
  return rows, auc


def rank_correlation(a, b):
  """Spearman's rank correlation of two equally long sequences; None where a
  sequence is constant (a GBDT with no split gives all-zero contributions)."""
  if np.ptp(a) == 0 or np.ptp(b) == 0:
    return None
  return float(metrics.spearman(a, b))


def _write_csv(path, header, rows):
  """Ids and column names are the user's: cells a spreadsheet will not run."""
  with atomic_files.replaced(path, newline='') as f:
    writer = csv.writer(f)
    writer.writerow(user_strings.csv_row(header))
    writer.writerows(user_strings.csv_row(row) for row in rows)


# Path steps and shuffles past these cost far more than they tell: the
# integral's error at the default 64 steps is reported (summary.json's
# max_completeness_error) and falls as 1 / steps^2; an importance's spread
# narrows as 1 / sqrt(repeats).
MAX_STEPS = 2048
MAX_REPEATS = 100


def check_cost(steps, repeats):
  """Refuses settings whose cost is out of proportion, with the estimate."""
  if not 1 <= steps <= MAX_STEPS:
    raise errors.FlagError(
        f'--steps={steps}: use 1 to {MAX_STEPS}. Each track costs steps + 1 '
        f'gradient passes ({steps + 1:,} here, {(steps + 1) / 65:,.0f}x the '
        'default 64), and the integral\'s error is reported either way '
        '(summary.json: max_completeness_error)')
  if not 1 <= repeats <= MAX_REPEATS:
    raise errors.FlagError(
        f'--repeats={repeats}: use 1 to {MAX_REPEATS}. Each shuffle predicts '
        f'the split once per input ({repeats / 5:,.0f}x the default 5 here); '
        'the importance\'s spread narrows only as 1 / sqrt(repeats)')


def explain(workdir, split='test', checkpoint=checkpointing.BEST,
            track_ids=(), repeats=5, steps=64, seed=0, out_dir=None):
  """Writes the explanation files of a split (to out_dir, default
  explain_dir, checked before any work); returns the summary."""
  if split not in catalog.SPLITS:
    raise errors.SpotipopError(f'--split={split}: use one of {catalog.SPLITS}')
  check_cost(steps, repeats)
  workdir_lib.read_config(workdir)  # Not a run: say so, create nothing.
  out_dir = out_dir or explain_dir(workdir, split, checkpoint)
  atomic_files.check_writable_folder(out_dir, '--out')
  explainer = explained_run.Explainer.from_run(workdir, checkpoint, steps)
  config = explainer.config
  count = len(explainer.builder.as_data_source(split))
  table = explainer.rows(split, range(count), config.uses_audio)
  if unknown := [t for t in track_ids if t not in set(table['track_id'])]:
    raise errors.SpotipopError(
        f'--track_ids: {unknown} are not in the {split} split of {workdir}')
  if len(classes := set(np.asarray(table['label']).tolist())) < 2:
    # Importance is a drop in ROC-AUC, which one class leaves undefined.
    held = (f'its {count} tracks are all {catalog.LABEL_NAMES[classes.pop()]}'
            if classes else 'it holds no tracks')
    raise errors.SpotipopError(
        f'--split={split}: {held}; importance is a drop in ROC-AUC, which '
        'needs both classes: explain another split')

  logging.info('Explaining %d %s tracks: %d shuffles of each input, then '
               '%d x %d = %s gradient passes', count, split, repeats, count,
               steps + 1, f'{count * (steps + 1):,}')
  rows, auc = _importance(explainer, table, repeats, seed)
  gbdt_rows = [r for r in rows if r['gbdt_mean_abs_shap'] is not None]
  correlation = rank_correlation(
      [r['network_auc_drop'] for r in gbdt_rows],
      [r['gbdt_mean_abs_shap'] for r in gbdt_rows])
  _write_csv(os.path.join(out_dir, 'importance.csv'), list(rows[0]),
             [list(r.values()) for r in rows])
  attribution_plots.importance(rows, auc, repeats, correlation,
                               os.path.join(out_dir, 'importance.png'))

  names = explainer.feature_names
  hz = spectrogram.bin_frequencies(config.data.sample_rate, config.model.n_fft,
                                   config.model.n_mels)
  frame_seconds = config.model.hop_length / config.data.sample_rate
  per_band = per_frame = None
  csv_rows, worst = [], 0.0
  started = time.monotonic()
  for start in range(0, count, explainer.chunk):
    chunk = {k: v[start:start + explainer.chunk] for k, v in table.items()}
    attributions, logit, base_logit, inputs = explainer.attribute(chunk)
    total = attributions['features'].sum(1)
    spec_total = np.zeros_like(total)
    if 'spec' in attributions:
      magnitude = np.abs(attributions['spec'])
      spec_total = attributions['spec'].sum((1, 2))
      per_band = magnitude.sum((0, 1)) + (0 if per_band is None else per_band)
      per_frame = magnitude.sum((0, 2)) + (0 if per_frame is None
                                            else per_frame)
    error = np.abs(total + spec_total - (logit - base_logit))
    worst = max(worst, float(error.max()))
    for i, track_id in enumerate(chunk['track_id']):
      csv_rows.append([track_id, int(chunk['label'][i]), f'{logit[i]:.5f}',
                    f'{base_logit[i]:.5f}',
                    *(f'{a:.5f}' for a in attributions['features'][i]),
                    f'{spec_total[i]:.5f}', f'{error[i]:.2e}'])
      if track_id in track_ids:
        attribution_plots.track(
            track_id, chunk['raw_features'][i], names,
            attributions['features'][i],
            inputs['spec'][i] if 'spec' in inputs else None,
            attributions['spec'][i] if 'spec' in attributions else None,
            frame_seconds, hz, os.path.join(out_dir,
                         f'track-{user_strings.file_name(track_id)}.png'))
    elapsed = time.monotonic() - started
    logging.info('attributed %d/%d tracks in %.0f s; about %.0f s left',
                 len(csv_rows), count, elapsed,
                 elapsed * (count - len(csv_rows)) / len(csv_rows))
  _write_csv(os.path.join(out_dir, 'attributions.csv'),
             ['track_id', 'label', 'logit', 'baseline_logit', *names,
              'spectrogram', 'completeness_error'], csv_rows)
  if per_band is not None:
    attribution_plots.bands(hz, per_band / count, frame_seconds,
                            per_frame / count,
                            os.path.join(out_dir, 'bands.png'))
  summary = {
      'split': split, 'checkpoint': str(checkpoint), 'tracks': count,
      'network_roc_auc': auc, 'repeats': repeats, 'path_steps': steps,
      'rank_correlation_network_vs_gbdt': correlation,
      'max_completeness_error': worst,
      'baseline': {'features': 'train-split median',
                   'spectrogram': (f'mean of {explainer.baseline_clips} '
                                   'train clips' if config.uses_audio
                                   else None)},
      'importance': rows}
  with atomic_files.replaced(os.path.join(out_dir, 'summary.json')) as f:
    json.dump(summary, f, indent=2, allow_nan=False)
  logging.info('Explanations in %s', out_dir)
  return summary


def table_text(summary):
  """The importance table as printed: inputs by the network's importance."""
  correlation = summary['rank_correlation_network_vs_gbdt']
  lines = [f"network ROC-AUC {summary['network_roc_auc']:.3f} on "
           f"{summary['tracks']} {summary['split']} tracks; rank correlation "
           'with the GBDT\'s: ' + ('undefined (a constant importance)'
                                  if correlation is None
                                  else f'{correlation:.2f}'),
           '| input | network: ROC-AUC drop (sd) | GBDT: mean abs SHAP |',
           '| --- | --- | --- |']
  for row in sorted(summary['importance'],
                    key=lambda r: -r['network_auc_drop']):
    shap = row['gbdt_mean_abs_shap']
    lines.append(f"| {row['input']} | {row['network_auc_drop']:.4f} "
                 f"({row['network_auc_drop_sd']:.4f}) | "
                 f"{'-' if shap is None else f'{shap:.4f}'} |")
  return '\n'.join(lines)
