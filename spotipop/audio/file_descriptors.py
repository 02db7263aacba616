"""A file's clip and its descriptors, from one decode.

The build and `predict` call this for every track when --descriptors=audio:
the file is decoded once, its clip cropped as decode.load_clip crops it, and
the descriptors computed over the centre --descriptor_seconds of the track
(descriptors.window), in one compiled call of fixed shape per setting.
"""

import numpy as np

from spotipop.audio import decode
from spotipop.audio import descriptors


def load(path, sample_rate, clip_seconds, min_seconds, window_seconds):
  """(clip, descriptor values in descriptors.NAMES order) of one file.

  Raises errors.AudioError naming the file when it cannot be used.
  """
  mono, channels = decode.load_channels(path, sample_rate)
  decode.require_length(path, mono, sample_rate, min_seconds)
  clip = decode.fix_length(mono, int(round(clip_seconds * sample_rate)))
  window_mono, window_channels, length = descriptors.window(
      mono, channels, int(round(window_seconds * sample_rate)))
  computed = np.asarray(descriptors.describe(
      window_mono[None], window_channels[None], np.array([length]),
      sample_rate=sample_rate))[0]
  values = dict(zip(descriptors.COMPUTED, computed.tolist()))
  values['duration_seconds'] = mono.shape[-1] / sample_rate
  return clip, tuple(values[name] for name in descriptors.NAMES)
