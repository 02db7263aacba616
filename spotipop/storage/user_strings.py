"""Text a user or a catalogue wrote, kept as data wherever spotipop writes it.

A track id, title or genre is the user's; spotipop must not let it become a
path (`../x` in a file name), a formula (`=HYPERLINK(...)` in a CSV cell that
a spreadsheet opens) or a second output line (a line break in a printed id).
"""

import hashlib
import re
import unicodedata

# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')
_UNSAFE_IN_NAMES = re.compile(r'[^A-Za-z0-9._-]')
MAX_NAME = 80


def csv_cell(value):
  """value, with a text that a spreadsheet would run as a formula prefixed by
  an apostrophe (shown as text, not computed); numbers such as -0.5 pass."""
  if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
    return value
  try:
    float(value)
    return value
  except ValueError:
    return "'" + value


def csv_row(values):
  return [csv_cell(v) for v in values]


def csv_record(record):
  """csv_cell of each value of a csv.DictWriter record."""
  return {name: csv_cell(value) for name, value in record.items()}


def file_name(text):
  """A file name part for text: itself when it is plain (letters, digits,
  . _ -, not starting with a dot, up to MAX_NAME), else its plain characters
  and a hash of the whole, so that two texts never share a name."""
  plain = _UNSAFE_IN_NAMES.sub('_', text).lstrip('.')[:MAX_NAME]
  if plain == text and text:
    return text
  digest = hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()
  return f'{plain or "_"}-{digest[:12]}'


def one_line(text):
  """text with its control characters and line or paragraph separators
  written as escapes (\\n, \\x1b, \\u2028), so a printed line stays one."""
  return ''.join(
      c.encode('unicode_escape').decode('ascii')
      if unicodedata.category(c) in ('Cc', 'Zl', 'Zp') else c for c in text)
