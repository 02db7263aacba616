"""The feature transform against scipy, value by value."""

import numpy as np
import pytest
from scipy import stats

from conftest import small_config
from spotipop import errors
from spotipop.audio import descriptor_names
from spotipop.data import features
from spotipop.data import manifest


def _tracks(rows):
  return [manifest.Track(row=i + 2, track_id=f't{i}', audio_path='',
                         popularity=50.0, genre='pop', release_date='',
                         group='', features=tuple(map(float, row)))
          for i, row in enumerate(rows)]


def _data(**overrides):
  return small_config('', '/unused', **{
      'feature_columns': ('spread', 'spike'), 'log1p_columns': (),
      **overrides}).data


@pytest.fixture
def train_rows():
  """101 rows (quantile levels k/100 fall on the 1001-point grid): a
  continuous column, and one with a spike of 31 zeros."""
  rng = np.random.default_rng(0)
  spread = np.exp(rng.standard_normal(101))
  spike = np.r_[np.zeros(31), rng.uniform(1, 5, 70)]
  return np.column_stack([spread, spike])


def test_zscore_is_scipys_zscore_of_the_train_split(train_rows):
  stats_ = features.fit(_tracks(train_rows), _data())
  new_rows = np.array([[0.5, 2.0], [3.0, 0.0]])
  out = features.apply(new_rows, stats_)
  mean, std = train_rows.mean(axis=0), train_rows.std(axis=0)
  np.testing.assert_allclose(out, (new_rows - mean) / std, rtol=1e-6)
  np.testing.assert_allclose(features.apply(train_rows, stats_),
                             stats.zscore(train_rows, axis=0), rtol=1e-5,
                             atol=1e-6)


def test_log1p_columns_are_scaled_after_log1p(train_rows):
  data = _data(log1p_columns=('spread',))
  out = features.apply(train_rows, features.fit(_tracks(train_rows), data))
  np.testing.assert_allclose(out[:, 0], stats.zscore(np.log1p(train_rows[:, 0])),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out[:, 1], stats.zscore(train_rows[:, 1]),
                             rtol=1e-5, atol=1e-6)


def test_quantile_maps_the_train_cdf_to_normal_scores(train_rows):
  stats_ = features.fit(_tracks(train_rows),
                        _data(feature_transform='quantile'))
  spread = np.sort(train_rows[:, 0])
  probes = np.array([spread[10], (spread[40] + spread[41]) / 2, spread[90],
                     spread[0] / 2, spread[-1] * 2])
  rows = np.column_stack([probes, np.zeros(5)])
  out = features.apply(rows, stats_)
  # The empirical CDF, linear between order statistics k / 100.
  levels = np.interp(probes, spread, np.arange(101) / 100)
  expected = stats.norm.ppf(np.clip(levels, 1e-3, 1 - 1e-3))
  np.testing.assert_allclose(out[:, 0], expected, rtol=1e-4, atol=1e-4)
  # The spike of 31 zeros spans CDF levels 0 to 0.30: it maps to the middle.
  np.testing.assert_allclose(out[:, 1], stats.norm.ppf(0.15), rtol=1e-4)
  assert out[3, 0] == pytest.approx(stats.norm.ppf(1e-3), rel=1e-4)


def test_a_constant_column_is_centred_not_divided_by_zero():
  rows = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]])
  out = features.apply(rows, features.fit(_tracks(rows), _data()))
  np.testing.assert_array_equal(out[:, 1], 0.0)


def test_values_log1p_cannot_take_are_named():
  rows = np.array([[1.0, 0.0], [-1.0, 1.0]])
  with pytest.raises(errors.DataError, match=r"\['spread'\] have values <= -1"):
    features.fit(_tracks(rows), _data(log1p_columns=('spread',)))


def test_fit_names_only_the_log1p_columns_with_values_at_or_below_minus_one():
  # 'spike' holds 0.5 and is log1p'd too; 'spread' reaches exactly -1.
  rows = np.array([[1.0, 0.5], [-1.0, 0.5], [2.0, -0.5]])
  with pytest.raises(errors.DataError, match=r": \['spread'\] have"):
    features.fit(_tracks(rows), _data(log1p_columns=('spread', 'spike')))


def test_apply_refuses_exactly_minus_one_in_a_log1p_column_and_names_it():
  data = _data(log1p_columns=('spike',))
  stats_ = features.fit(_tracks([[1.0, 0.0], [2.0, 3.0]]), data)
  # -1 in the plain column is a value like any other.
  assert np.isfinite(features.apply([[-1.0, -0.999]], stats_)).all()
  with pytest.raises(ValueError, match=r"^\['spike'\]: values <= -1"):
    features.apply([[0.0, -1.0]], stats_)


@pytest.mark.parametrize('transform', ['zscore', 'quantile'])
def test_a_column_constant_to_rounding_is_fed_as_zero_and_named(
    transform, caplog):
  """0.1 + 0.2 and 0.3 differ by rounding (a std of 4.8e-17 over these rows): scaled by it,
  a new value 0.4 would become 2e15; no split may see anything but 0."""
  rows = np.array([[1.0, 0.1 + 0.2], [2.0, 0.3], [3.0, 0.3], [4.0, 0.3]])
  assert rows[:, 1].std() > 0
  fitted = features.fit(_tracks(rows), _data(feature_transform=transform))
  assert fitted['constant'] == [False, True]
  out = features.apply([[2.0, 0.3], [2.0, 0.4], [2.0, -1e6]], fitted)
  np.testing.assert_array_equal(out[:, 1], 0.0)
  assert np.all(out[:, 0] == out[0, 0])  # The other column is untouched.
  assert "constant in the train split" in caplog.text
  assert 'spike (std 4.8e-17 around 0.3)' in caplog.text
  assert 'spread' not in caplog.text


def test_a_column_of_small_values_that_vary_is_not_constant(train_rows):
  tiny = train_rows * 1e-12
  fitted = features.fit(_tracks(tiny), _data())
  assert fitted['constant'] == [False, False]
  np.testing.assert_allclose(features.apply(tiny, fitted),
                             stats.zscore(tiny, axis=0), rtol=1e-5, atol=1e-6)


def test_a_transform_fitted_before_constants_were_recorded_still_applies(
    train_rows):
  """A dataset built earlier has no 'constant' list: its columns scaled by
  rounding noise are found from its mean and std."""
  fitted = features.fit(_tracks(train_rows), _data())
  del fitted['constant']
  np.testing.assert_allclose(features.apply(train_rows, fitted),
                             stats.zscore(train_rows, axis=0), rtol=1e-5,
                             atol=1e-6)
  fitted['mean'][1], fitted['std'][1] = 0.3, 4.8e-17  # As fitted before.
  out = features.apply([[1.0, 0.3], [1.0, 0.4]], fitted)
  np.testing.assert_array_equal(out[:, 1], 0.0)


@pytest.mark.parametrize('transform', ['zscore', 'quantile'])
def test_apply_computes_float32_rows_in_float64_and_returns_float32(
    train_rows, transform):
  # Datasets store features as float32; the transform must not lose bits to
  # float32 arithmetic on the way (the reference: the same rows as float64).
  stats_ = features.fit(_tracks(train_rows),
                        _data(log1p_columns=('spread',),
                              feature_transform=transform))
  rows32 = train_rows.astype(np.float32) * np.float32(1.37)
  out = features.apply(rows32, stats_)
  assert out.dtype == np.float32
  np.testing.assert_array_equal(
      out, features.apply(rows32.astype(np.float64), stats_))


def test_descriptor_columns_follow_the_manifests_and_may_not_shadow_them():
  assert features.model_columns(_data()) == ('spread', 'spike')
  assert features.model_columns(_data(descriptors='audio')) == (
      'spread', 'spike', *descriptor_names.NAMES)
  assert features.model_columns(_data(descriptors='audio',
                                      feature_columns=())) == descriptor_names.NAMES
  with pytest.raises(errors.FlagError,
                     match=r"^--feature_columns: \['tempo_bpm'\] are also"):
    features.model_columns(_data(descriptors='audio',
                                 feature_columns=('tempo_bpm', 'spike')))
