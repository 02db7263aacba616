"""The names of the descriptors, in their stored order, without JAX.

The feature columns of a run list them (data/features.py), and a tool that
builds no descriptors should not import JAX to learn their names;
descriptors.py computes them.
"""

N_MFCC = 13


def _spread_names(name):
  return (f'{name}_mean', f'{name}_std')


NAMES = (
    'tempo_bpm', 'tempo_strength', 'onset_rate_hz',
    'key_pitch_class', 'mode_major', 'key_strength',
    'loudness_lufs', 'loudness_range_lu', 'sample_peak_dbfs',
    'crest_factor_db',
    *_spread_names('spectral_centroid_hz'),
    *_spread_names('spectral_bandwidth_hz'),
    *_spread_names('spectral_rolloff_hz'),
    *_spread_names('spectral_flatness'),
    *_spread_names('spectral_contrast_db'),
    *_spread_names('zero_crossing_rate'),
    'harmonic_percussive_ratio_db',
    *(f'mfcc{i}_mean' for i in range(1, N_MFCC + 1)),
    *(f'mfcc{i}_std' for i in range(1, N_MFCC + 1)),
    'duration_seconds',
)
# Computed from the decoded file as a whole, not from the window.
FROM_FILE = ('duration_seconds',)
COMPUTED = tuple(n for n in NAMES if n not in FROM_FILE)
