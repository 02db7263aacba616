"""The explanation figures: importance, one track's attributions, bands."""

import numpy as np

from spotipop.evaluation import plots

TOP_FEATURES = 10


def importance(rows, auc, repeats, correlation, path):
  """The network's permutation importance beside the GBDT's mean |SHAP|."""
  rows = sorted(rows, key=lambda r: r['network_auc_drop'])
  names = [r['input'] for r in rows]
  y = np.arange(len(rows))
  fig, (net, gbdt) = plots.pyplot().subplots(
      1, 2, figsize=(9, 0.3 * len(rows) + 1.5), sharey=True)
  net.barh(y, [r['network_auc_drop'] for r in rows],
           xerr=[r['network_auc_drop_sd'] for r in rows], color='C0')
  net.set(yticks=y, yticklabels=names,
          xlabel=f'drop in ROC-AUC when shuffled (sd over {repeats})',
          title=f'network (ROC-AUC {auc:.3f})')
  net.axvline(0, color='grey', lw=0.8)
  gbdt.barh(y, [r['gbdt_mean_abs_shap'] or 0.0 for r in rows], color='C1')
  gbdt.set(xlabel='mean |TreeSHAP| (log-odds)',
           title='GBDT (rank correlation ' + (
               'undefined' if correlation is None else f'{correlation:.2f}')
           + ')')
  plots.save(fig, path)


def track(track_id, raw_features, names, feature_attributions, spec,
          spec_attributions, frame_seconds, hz, path):
  """One track: its spectrogram under its attribution, and its top features."""
  audio = spec is not None
  fig, axes = plots.pyplot().subplots(
      1, 2 if audio else 1, figsize=(11 if audio else 5.5, 4),
      gridspec_kw={'width_ratios': [3, 2]} if audio else None)
  bars = axes[1] if audio else axes
  if audio:
    seconds = np.arange(spec.shape[0] + 1) * frame_seconds
    edges = np.concatenate([[0], (hz[1:] + hz[:-1]) / 2, [hz[-1]]])
    axes[0].pcolormesh(seconds, edges, spec.T, cmap='Greys', shading='flat')
    limit = np.abs(spec_attributions).max() or 1.0
    axes[0].pcolormesh(seconds, edges, spec_attributions.T, cmap='coolwarm',
                       vmin=-limit, vmax=limit, alpha=0.6, shading='flat')
    axes[0].set(xlabel='time (s)', ylabel='frequency (Hz)',
                title=f'{track_id}: spectrogram, attribution over it '
                      f'(sum {spec_attributions.sum():+.3f})')
  top = np.argsort(-np.abs(feature_attributions))[:TOP_FEATURES][::-1]
  bars.barh(np.arange(len(top)), feature_attributions[top],
            color=['C3' if a > 0 else 'C0' for a in feature_attributions[top]])
  bars.set(yticks=np.arange(len(top)),
           yticklabels=[f'{names[j]} = {raw_features[j]:.3g}' for j in top],
           xlabel='contribution to the popular logit',
           title='top features')
  bars.axvline(0, color='grey', lw=0.8)
  plots.save(fig, path)


def bands(hz, per_band, frame_seconds, per_frame, path):
  """Mean |attribution| per frequency band and per second over a split."""
  fig, (freq, time) = plots.pyplot().subplots(1, 2, figsize=(10, 3.5))
  freq.plot(hz, per_band)
  freq.set(xscale='symlog', xlabel='frequency (Hz)',
           ylabel='mean |attribution| per track', title='where in the spectrum')
  per_second = np.add.reduceat(
      per_frame, np.arange(0, len(per_frame),
                           max(1, round(1 / frame_seconds))))
  time.bar(np.arange(len(per_second)), per_second, align='edge', width=0.9)
  time.set(xlabel='second of the clip', ylabel='mean |attribution| per track',
           title='when in the clip')
  plots.save(fig, path)
