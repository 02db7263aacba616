"""The explanation figures draw what explain's tables hold."""

import matplotlib.colors
import numpy as np
import pytest

from conftest import PNG_MAGIC
from conftest import png_size
from spotipop.explanation import attribution_plots

RED, BLUE, ORANGE = (matplotlib.colors.to_rgba(c) for c in ('C3', 'C0', 'C1'))
GREY = '#808080'


def _bars(ax):
  return [(p.get_y() + p.get_height() / 2, p.get_width(), p.get_facecolor())
          for p in ax.patches]


def _labels(ticks):
  return [t.get_text() for t in ticks]


def _assert_side_by_side(left, right):
  a, b = left.get_position(), right.get_position()
  assert a.y0 == b.y0 and a.x1 < b.x0


@pytest.mark.parametrize('correlation, title', [
    (0.456, 'GBDT (rank correlation 0.46)'),
    (None, 'GBDT (rank correlation undefined)')])
def test_importance_sorts_inputs_by_their_drop(saved_figures, tmp_path, correlation,
                                               title):
  rows = [{'input': 'energy', 'network_auc_drop': 0.05,
           'network_auc_drop_sd': 0.01, 'gbdt_mean_abs_shap': 0.3},
          {'input': 'audio', 'network_auc_drop': 0.20,
           'network_auc_drop_sd': 0.02, 'gbdt_mean_abs_shap': None},
          {'input': 'key', 'network_auc_drop': -0.01,
           'network_auc_drop_sd': 0.03, 'gbdt_mean_abs_shap': 0.1}]
  path = tmp_path / 'importance.png'
  attribution_plots.importance(rows, 0.81234, 7, correlation, str(path))
  assert path.read_bytes().startswith(PNG_MAGIC)
  net, gbdt = saved_figures['importance.png'].axes
  _assert_side_by_side(net, gbdt)
  assert net.get_shared_y_axes().joined(net, gbdt)  # One row per input.
  # Smallest drop at the bottom (y = 0), largest at the top.
  assert _labels(net.get_yticklabels()) == ['key', 'energy', 'audio']
  assert [(y, w) for y, w, _ in _bars(net)] == [(0, -0.01), (1, 0.05),
                                               (2, 0.20)]
  # The error bars span mean +- sd.
  (segments,) = [c.get_segments() for c in net.collections]
  np.testing.assert_allclose([s[:, 0] for s in segments],
                             [[-0.04, 0.02], [0.04, 0.06], [0.18, 0.22]])
  assert net.get_title() == 'network (ROC-AUC 0.812)'
  assert net.get_xlabel() == 'drop in ROC-AUC when shuffled (sd over 7)'
  # The GBDT reads no audio: a bar of 0.
  assert [(y, w) for y, w, _ in _bars(gbdt)] == [(0, 0.1), (1, 0.3), (2, 0.0)]
  assert {c for _, _, c in _bars(net)} == {BLUE}
  assert {c for _, _, c in _bars(gbdt)} == {ORANGE}
  assert gbdt.get_title() == title
  assert gbdt.get_xlabel() == 'mean |TreeSHAP| (log-odds)'
  assert [line.get_xdata()[0] for line in net.lines] == [0]


def test_a_tracks_figure_shows_its_top_features_and_attributed_spectrogram(
    saved_figures, tmp_path):
  names = [f'f{j}' for j in range(12)]
  raw = np.arange(12) * 1.5 + 0.123456
  contributions = np.array([0.5, -0.9, 0.1, 0.0, 0.2, -0.3, 0.05, 0.7, -0.02,
                            0.4, -0.6, 0.01])
  frames, bins = 5, 4
  spec = np.arange(frames * bins, dtype=float).reshape(frames, bins)
  spec_attributions = np.linspace(-2, 1, frames * bins).reshape(frames, bins)
  hz = np.array([0.0, 100.0, 300.0, 700.0])
  path = tmp_path / 't.png'
  attribution_plots.track('t7', raw, names, contributions, spec,
                          spec_attributions, 0.25, hz, str(path))
  assert path.read_bytes().startswith(PNG_MAGIC)
  spectrogram, bars = saved_figures['t.png'].axes
  _assert_side_by_side(spectrogram, bars)
  # The ten largest |contributions|, the largest at the top; red raises the
  # popular logit, blue lowers it.
  top = [1, 7, 10, 0, 9, 5, 4, 2, 6, 8][::-1]
  assert _labels(bars.get_yticklabels()) == [
      f'f{j} = {raw[j]:.3g}' for j in top]
  assert [(y, w) for y, w, _ in _bars(bars)] == [
      (i, contributions[j]) for i, j in enumerate(top)]
  assert [c for _, _, c in _bars(bars)] == [
      RED if contributions[j] > 0 else BLUE for j in top]
  assert bars.get_title() == 'top features'
  assert [line.get_xdata()[0] for line in bars.lines] == [0]  # No effect.
  assert bars.get_xlabel() == 'contribution to the popular logit'
  grey, overlay = spectrogram.collections
  # Red raises the popular logit, blue lowers it, over a grey spectrogram.
  assert (grey.get_cmap().name, overlay.get_cmap().name) == ('Greys',
                                                             'coolwarm')
  np.testing.assert_array_equal(grey.get_array(), spec.T)
  np.testing.assert_array_equal(overlay.get_array(), spec_attributions.T)
  # Symmetric colours about 0, to the largest |attribution|.
  assert overlay.get_clim() == (-2.0, 2.0)
  # Cell edges: frame boundaries in seconds, midpoints between bins' centres.
  corners = grey.get_coordinates()
  np.testing.assert_allclose(corners[0, :, 0], [0, 0.25, 0.5, 0.75, 1.0, 1.25])
  np.testing.assert_allclose(corners[:, 0, 1], [0, 50, 200, 500, 700])
  assert spectrogram.get_title() == (
      't7: spectrogram, attribution over it '
      f'(sum {spec_attributions.sum():+.3f})')
  assert (spectrogram.get_xlabel(), spectrogram.get_ylabel()) == (
      'time (s)', 'frequency (Hz)')


def test_a_tabular_tracks_figure_has_its_features_alone(saved_figures, tmp_path):
  attribution_plots.track('t', np.array([1.0, 2.0, 3.0]), ['a', 'b', 'c'],
                          np.array([-0.1, 0.3, 0.0]), None, None, 0.1, None,
                          str(tmp_path / 't.png'))
  (bars,) = saved_figures['t.png'].axes
  assert _labels(bars.get_yticklabels()) == ['c = 3', 'a = 1', 'b = 2']
  # docs/explanations.md: a contribution of exactly 0 does not raise the
  # logit, so it is not drawn red.
  assert [c for _, _, c in _bars(bars)] == [BLUE, BLUE, RED]


def test_a_spectrogram_attributed_zero_everywhere_still_draws(saved_figures, tmp_path):
  zeros = np.zeros((3, 2))
  attribution_plots.track('t', np.array([1.0]), ['a'], np.array([0.0]),
                          np.ones((3, 2)), zeros, 0.1, np.array([0.0, 50.0]),
                          str(tmp_path / 't.png'))
  assert saved_figures['t.png'].axes[0].collections[1].get_clim() == (-1.0, 1.0)


def test_bands_sums_frames_into_seconds(saved_figures, tmp_path):
  hz = np.array([0.0, 500.0, 1000.0])
  per_band = np.array([0.1, 0.4, 0.2])
  per_frame = np.arange(1.0, 11.0)  # Ten frames of 0.25 s: 4 to a second.
  attribution_plots.bands(hz, per_band, 0.25, per_frame,
                          str(tmp_path / 'bands.png'))
  freq, time = saved_figures['bands.png'].axes
  _assert_side_by_side(freq, time)
  np.testing.assert_array_equal(freq.lines[0].get_xydata(),
                                np.stack([hz, per_band], 1))
  assert freq.get_xscale() == 'symlog'
  assert [(p.get_x(), p.get_height()) for p in time.patches] == [
      (0, 1 + 2 + 3 + 4), (1, 5 + 6 + 7 + 8), (2, 9 + 10)]
  assert (freq.get_title(), time.get_title()) == ('where in the spectrum',
                                                  'when in the clip')
  assert (freq.get_xlabel(), freq.get_ylabel()) == (
      'frequency (Hz)', 'mean |attribution| per track')
  assert (time.get_xlabel(), time.get_ylabel()) == (
      'second of the clip', 'mean |attribution| per track')


def test_frames_longer_than_a_second_are_a_bar_each(saved_figures, tmp_path):
  attribution_plots.bands(np.array([0.0]), np.array([1.0]), 2.0,
                          np.array([3.0, 4.0]), str(tmp_path / 'bands.png'))
  assert [p.get_height() for p in saved_figures['bands.png'].axes[1].patches] == [3.0, 4.0]



def _zero_lines(ax):
  return [(matplotlib.colors.to_hex(line.get_color()), line.get_linewidth())
          for line in ax.lines]


@pytest.mark.parametrize('count', [3, 10])
def test_importance_is_30_pixels_a_row_and_its_zero_line_thin_grey(
    saved_figures, tmp_path, count):
  """docs/explanations.md: 900 pixels wide, 30 a row plus 150 high."""
  rows = [{'input': f'f{i}', 'network_auc_drop': 0.01 * i,
           'network_auc_drop_sd': 0.001, 'gbdt_mean_abs_shap': 0.1}
          for i in range(count)]
  path = tmp_path / 'importance.png'
  attribution_plots.importance(rows, 0.8, 5, 0.5, str(path))
  assert png_size(path) == (900, 30 * count + 150)
  net, _ = saved_figures['importance.png'].axes
  assert _zero_lines(net) == [(GREY, 0.8)]


@pytest.mark.parametrize('audio', [True, False])
def test_a_tracks_figure_is_the_documented_size_and_layout(
    saved_figures, tmp_path, audio):
  """docs/explanations.md: 1,100 x 400 pixels with audio, the spectrogram
  three fifths of the width under a 60%-opaque attribution; 550 x 400
  without."""
  spec = np.ones((4, 3)) if audio else None
  path = tmp_path / 't.png'
  attribution_plots.track(
      't', np.array([1.0, 2.0]), ['a', 'b'], np.array([-0.1, 0.3]), spec,
      np.linspace(-1, 1, 12).reshape(4, 3) if audio else None, 0.1,
      np.array([0.0, 50.0, 100.0]) if audio else None, str(path))
  assert png_size(path) == ((1100, 400) if audio else (550, 400))
  *spectrogram, bars = saved_figures['t.png'].axes
  assert _zero_lines(bars) == [(GREY, 0.8)]
  if audio:
    (spectrogram,) = spectrogram
    widths = [ax.get_position().width for ax in (spectrogram, bars)]
    assert widths[0] / sum(widths) == pytest.approx(3 / 5)
    assert spectrogram.collections[1].get_alpha() == 0.6


def test_bands_is_the_documented_size_with_a_bar_a_second(saved_figures,
                                                           tmp_path):
  path = tmp_path / 'bands.png'
  attribution_plots.bands(np.array([0.0, 500.0]), np.array([1.0, 2.0]), 0.5,
                          np.arange(1.0, 5.0), str(path))
  assert png_size(path) == (1000, 350)
  assert [(p.get_x(), p.get_width()) for p in
          saved_figures['bands.png'].axes[1].patches] == [(0, 0.9), (1, 0.9)]
