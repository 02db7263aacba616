"""The evaluation report's figures draw the report's own numbers."""

import matplotlib.colors
from matplotlib.backends import backend_agg
import numpy as np
from sklearn import metrics as sk_metrics

from conftest import PNG_MAGIC
from conftest import png_size
from spotipop.evaluation import plots


def _report(rng, n=60):
  labels = rng.integers(0, 2, n)
  model = np.clip(0.35 * labels + rng.uniform(0, 0.65, n), 0, 1)
  gbdt = np.clip(0.2 * labels + rng.uniform(0, 0.8, n), 0, 1)
  predictions = {'test': {'label': labels, 'probability': model}}
  baselines = {'gbdt': {'test': {'probability': gbdt}}}
  summary = {'overall': {'roc_auc': 0.8766, 'brier': 0.1234},
             'baselines': {'gbdt': {'roc_auc': 0.6543, 'brier': None}},
             # 19 is half the largest count: still dark text.
             'confusion_matrix': [[7, 19], [2, 38]],
             'threshold': {'value': 0.41234}}
  return predictions, baselines, summary


def test_roc_reliability_and_confusion_show_the_reports_values(
    saved_figures, tmp_path):
  predictions, baselines, summary = _report(np.random.default_rng(0))
  plots.write('test', predictions, baselines, summary, str(tmp_path))
  assert sorted(saved_figures) == ['calibration.png', 'confusion.png', 'roc.png']
  for name in saved_figures:
    assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
  labels = predictions['test']['label']
  probabilities = {'spotipop': predictions['test']['probability'],
                   'GBDT': baselines['gbdt']['test']['probability']}

  roc = saved_figures['roc.png'].axes[0]
  assert [line.get_label() for line in roc.lines] == [
      'spotipop AUC 0.877', 'GBDT AUC 0.654', 'class prior 0.500']
  for line, probability in zip(roc.lines, probabilities.values()):
    fpr, tpr, _ = sk_metrics.roc_curve(labels, probability,
                                       drop_intermediate=False)
    np.testing.assert_allclose(line.get_xdata(), fpr)
    np.testing.assert_allclose(line.get_ydata(), tpr)
  np.testing.assert_array_equal(roc.lines[2].get_xydata(), [[0, 0], [1, 1]])
  assert roc.lines[2].get_linestyle() == '--'
  assert (roc.get_xlabel(), roc.get_ylabel(), roc.get_title()) == (
      'False positive rate', 'True positive rate', 'ROC: popular vs not')
  assert [t.get_text() for t in roc.get_legend().get_texts()] == [
      line.get_label() for line in roc.lines]

  calibration = saved_figures['calibration.png'].axes[0]
  assert [line.get_label() for line in calibration.lines] == [
      'spotipop Brier 0.123', 'GBDT Brier —', 'perfectly calibrated']
  for line, probability in zip(calibration.lines, probabilities.values()):
    # Ten equal-width bins, 1.0 in the last; the empty ones left out.
    bins = np.minimum(np.floor(probability * 10), 9)
    used = np.unique(bins)
    np.testing.assert_allclose(line.get_xdata(),
                               [probability[bins == b].mean() for b in used])
    np.testing.assert_allclose(line.get_ydata(),
                               [labels[bins == b].mean() for b in used])
  np.testing.assert_array_equal(calibration.lines[2].get_xydata(),
                                [[0, 0], [1, 1]])
  assert calibration.lines[2].get_linestyle() == '--'
  assert [t.get_text() for t in calibration.get_legend().get_texts()] == [
      line.get_label() for line in calibration.lines]
  assert (calibration.get_xlabel(), calibration.get_ylabel(),
          calibration.get_title()) == ('Mean predicted probability (10 bins)',
                                       'Observed popular rate', 'Reliability')

  confusion = saved_figures['confusion.png'].axes[0]
  np.testing.assert_array_equal(confusion.images[0].get_array(),
                                [[7, 19], [2, 38]])
  texts = {(t.get_position(), t.get_text()): matplotlib.colors.to_hex(
      t.get_color()) for t in confusion.texts}
  # Rows are the truth, columns the prediction; white on the dark cells.
  assert texts == {((0, 0), '7'): '#000000', ((1, 0), '19'): '#000000',
                   ((0, 1), '2'): '#000000', ((1, 1), '38'): '#ffffff'}
  assert confusion.get_title() == 'Confusion at threshold 0.412'
  assert list(confusion.get_xticks()) == list(confusion.get_yticks()) == [0, 1]
  assert [t.get_text() for t in confusion.get_xticklabels()] == [
      'not_popular', 'popular']
  assert [t.get_text() for t in confusion.get_yticklabels()] == [
      'not_popular', 'popular']
  assert (confusion.get_xlabel(), confusion.get_ylabel()) == ('Predicted',
                                                              'True')


def test_a_figure_is_written_whole_and_closed(tmp_path):
  plt = plots.pyplot()
  fig, ax = plt.subplots()
  ax.plot([0, 1], [1, 0])
  plots.save(fig, str(tmp_path / 'line.png'))
  assert (tmp_path / 'line.png').read_bytes().startswith(PNG_MAGIC)
  assert not plt.fignum_exists(fig.number)
  assert [p.name for p in tmp_path.iterdir()] == ['line.png']  # No leftovers.


def test_figures_are_the_documented_sizes_and_styles(saved_figures, tmp_path):
  """docs/evaluation.md: the pixel sizes, grey dashed diagonals in no
  model's colour, marked reliability bins, counts centred in their cells."""
  predictions, baselines, summary = _report(np.random.default_rng(0))
  # The GBDT's probabilities fill one bin: a lone point that must still show.
  baselines['gbdt']['test']['probability'] = np.full(60, 0.55)
  plots.write('test', predictions, baselines, summary, str(tmp_path))
  assert {name: png_size(tmp_path / name) for name in saved_figures} == {
      'roc.png': (450, 450), 'calibration.png': (450, 450),
      'confusion.png': (400, 400)}
  for name in ('roc.png', 'calibration.png'):
    *curves, diagonal = saved_figures[name].axes[0].lines
    grey = matplotlib.colors.to_hex(diagonal.get_color())
    assert grey == '#808080' and diagonal.get_linestyle() == '--'
    assert grey not in {matplotlib.colors.to_hex(c.get_color())
                        for c in curves}
  model, gbdt, _ = saved_figures['calibration.png'].axes[0].lines
  assert len(gbdt.get_xdata()) == 1
  for line in (model, gbdt):
    assert line.get_marker() not in (None, 'None', '', ' ') and (
        line.get_markersize() > 0)
  figure = saved_figures['confusion.png']
  confusion = figure.axes[0]
  # The figure is closed once saved: a new canvas to measure its text on.
  renderer = backend_agg.FigureCanvasAgg(figure).get_renderer()
  for text in confusion.texts:
    box = text.get_window_extent(renderer)
    x, y = confusion.transData.transform(text.get_position())
    assert abs((box.x0 + box.x1) / 2 - x) < 1.0, text.get_text()
    assert abs((box.y0 + box.y1) / 2 - y) < 1.0, text.get_text()


def _luminance(rgba):
  """WCAG 2's relative luminance of an sRGB colour."""
  linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in rgba[:3]]
  return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_confusion_count_is_legible_on_its_cell(saved_figures, tmp_path):
  """Each count's colour against its cell's: WCAG's 4.5:1 for text."""
  predictions, baselines, summary = _report(np.random.default_rng(0))
  plots.write('test', predictions, baselines, summary, str(tmp_path))
  confusion = saved_figures['confusion.png'].axes[0]
  (image,) = confusion.images
  for text in confusion.texts:
    column, row = text.get_position()
    cell = image.cmap(image.norm(image.get_array()[row, column]))
    lighter, darker = sorted(
        [_luminance(cell), _luminance(matplotlib.colors.to_rgba(
            text.get_color()))], reverse=True)
    assert (lighter + 0.05) / (darker + 0.05) >= 4.5, text.get_text()
