"""A file's clip and descriptors from one decode: what it refuses."""

import numpy as np
import pytest
import soundfile as sf

from spotipop import errors
from spotipop.audio import file_descriptors


def test_a_file_shorter_than_the_minimum_is_refused_by_its_name(tmp_path):
  """Refused before the descriptors are computed, naming the file."""
  path = tmp_path / 'short.wav'
  sf.write(path, np.zeros(800, np.float32), 8000)  # 0.1 s.
  with pytest.raises(errors.AudioError) as raised:
    file_descriptors.load(str(path), sample_rate=8000, clip_seconds=1.0,
                          min_seconds=0.5, window_seconds=1.0)
  assert str(raised.value).startswith(
      f'{path}: decoded only 0.10 s of audio (< minimum 0.50 s)')
