"""A file's clip and its descriptors, from one decode.

The build and `predict` call this for every track when --descriptors=audio:
only the centre of the file that the clip and the descriptors need is
decoded (decode.load_centre), the clip cropped from it as decode.load_clip
crops it, and the descriptors computed over the centre --descriptor_seconds
of the track, in one compiled call of fixed shape per setting.
"""

import numpy as np

from spotipop.audio import decode
from spotipop.audio import descriptor_names
from spotipop.audio import descriptors


def load(path, sample_rate, clip_seconds, min_seconds, window_seconds):
  """(clip, descriptor values in descriptor_names.NAMES order) of one file.

  Raises errors.AudioError naming the file when it cannot be used.
  """
  clip_samples = int(round(clip_seconds * sample_rate))
  window_samples = int(round(window_seconds * sample_rate))
  centre = decode.load_centre(path, sample_rate,
                              max(clip_samples, window_samples), channels=True)
  decode.require_total(path, centre, sample_rate, min_seconds)
  channels = centre.crop(centre.channels, window_samples)
  if channels.shape[0] == 1:  # One channel: BS.1770 weighs it alone.
    channels = np.concatenate([channels, np.zeros_like(channels)])
  computed = np.asarray(descriptors.describe(
      centre.crop(centre.mono, window_samples)[None], channels[None],
      np.array([min(centre.total, window_samples)]),
      sample_rate=sample_rate))[0]
  values = dict(zip(descriptor_names.COMPUTED, computed.tolist()))
  values['duration_seconds'] = centre.total / sample_rate
  clip = centre.crop(centre.mono, clip_samples)
  return clip, tuple(values[name] for name in descriptor_names.NAMES)
