"""What `spotipop.predict` prints: a line per track, why any was not scored,
and the error the tool then exits with (status 2)."""

from typing import NamedTuple

from spotipop import errors
from spotipop.storage import user_strings


class Printed(NamedTuple):
  # (stdout line, stderr line or None) per track: a CSV's in its line order,
  # its unreadable rows among them; files in the order given.
  lines: list
  failure: errors.SomeTracksFailed | None  # Raised after the lines.


def _score_line(track_id, scores, i):
  why = ('' if scores.contributions is None else '\twhy: ' + ', '.join(
      f'{name} {value:+.3f}' for name, value in scores.contributions[i]))
  return (f'{track_id}\tP(popular)={scores.probability[i]:.3f}\t'
          f'predicted popularity={scores.score[i]:.1f}{why}')


def printed(tracks, scores, csv_path=None):
  """The lines for new_tracks.Tracks scored as new_tracks.Scores; csv_path
  when they came from --tracks, whose line numbers then name the rows."""
  # (where, id, index scored or None, why not).
  outcomes = [(tracks.where[i], track_id, i, scores.failed.get(i))
              for i, track_id in enumerate(tracks.ids)]
  outcomes += [(f'{csv_path}:{line}', track_id or f'line{line}', None, reason)
               for line, track_id, reason in tracks.rejected]
  if csv_path:
    outcomes.sort(key=lambda o: int(o[0].rpartition(':')[2]))
  lines, not_scored = [], []
  for where, track_id, i, reason in outcomes:
    track_id = user_strings.one_line(track_id)  # One printed line a track.
    if reason is None:
      lines.append((_score_line(track_id, scores, i), None))
      continue
    lines.append((f'{track_id}\tnot scored', user_strings.one_line(
        reason if reason.startswith(where) else f'{where}: {reason}')))
    not_scored.append(where.rpartition(':')[2] if csv_path else where)
  failure = None
  if not_scored:
    named = ', '.join(not_scored)
    failure = errors.SomeTracksFailed(
        f'{len(not_scored)} of {len(outcomes)} track(s) not scored '
        f'({"lines " + named if csv_path else named}: their audio or values '
        'cannot be used; the reasons are above)')
  return Printed(lines, failure)
