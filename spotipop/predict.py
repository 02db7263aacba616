"""Scores new tracks with a trained run's best checkpoint.

Tracks that come with nothing but audio, for a run whose features are the
descriptors computed from it (--descriptors=audio, no --feature_columns):

  python -m spotipop.predict --workdir=runs/mine --audio=song.mp3 more.flac folder/

One track with its features as name=value pairs:

  python -m spotipop.predict --workdir=runs/default --audio=song.mp3 \\
      --genre=pop --features=danceability=0.71,energy=0.64,...

Many tracks, from a CSV with track_id, audio_path, the feature columns and
(optionally) genre:

  python -m spotipop.predict --workdir=runs/default --tracks=new_tracks.csv

Prints one line per track: the probability that it is popular and the
predicted popularity score (0-100); with --explain=K, also the K inputs that
move its popular logit most (e.g. "why: energy +0.412, audio +0.230"). A track
whose audio cannot be used prints "not scored", its CSV line (or file) and
reason go to stderr, the others are scored, and the exit status is 2; so
does a CSV row with a bad value (a feature that is no number, empty or
beyond float32).
"""

from absl import flags
from absl import logging

from spotipop import cli
from spotipop import errors
from spotipop.prediction import new_tracks
from spotipop.prediction import printed_scores

flags.DEFINE_string('workdir', None, 'Run directory written by spotipop.main.')
flags.DEFINE_string('checkpoint', 'best', "'best', 'latest' or a step number.")
flags.DEFINE_string('audio', None, 'An audio file (or a folder of them) to '
                    'score; more may follow as arguments. Not needed by '
                    'models that read no audio.')
flags.DEFINE_string('features', None, 'That track\'s features: name=value,...')
flags.DEFINE_string('genre', 'unknown', 'That track\'s genre.')
flags.DEFINE_string('tracks', None, 'CSV of tracks with the columns the run '
                    'was trained on (its id, audio, feature and, optionally, '
                    'genre columns).')
flags.DEFINE_integer('explain', 0, "Add each track's K largest "
                     'contributions to the popular logit (integrated '
                     'gradients from an average train track; spotipop.explain).',
                     lower_bound=0)
flags.mark_flag_as_required('workdir')


def main(argv):
  f = flags.FLAGS
  paths = ([f.audio] if f.audio else []) + argv[1:]
  new_tracks.check_request(f.tracks, paths, f.features)
  predictor = new_tracks.Predictor(f.workdir, f.checkpoint, f.explain)
  try:
    tracks = new_tracks.requested_tracks(
        predictor.config, predictor.feature_columns, f.tracks, paths,
        f.features, f.genre)
    scores = predictor(tracks.audio_paths, tracks.features, tracks.genres)
  except ValueError as e:  # --features; names the feature.
    raise errors.SpotipopError(str(e)) from None
  result = printed_scores.printed(tracks, scores, f.tracks)
  for line, reason in result.lines:
    # Flushed before its reason goes to stderr, so the two interleave.
    print(line, flush=reason is not None)
    if reason:
      logging.error('%s', reason)
  if result.failure:
    raise result.failure


if __name__ == '__main__':
  cli.run(main, 'spotipop.predict', takes_arguments=True)
