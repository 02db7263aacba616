"""Creative Commons terms of a track's licence, by its name or its URL.

A catalogue row keeps its licence so that a user can leave out the tracks
whose terms do not fit their use (--exclude) and redistribute only what the
licence allows; docs/data.md says what that is.
"""

from spotipop import errors

# The terms --exclude can name, as manifest columns of True/False.
TERMS = ('non_commercial', 'no_derivatives')


def terms_of_name(text):
  """TERMS of a licence's name ('Attribution-NonCommercial-NoDerivatives')."""
  words = text.lower().replace('-', '').replace(' ', '')
  return {'non_commercial': 'noncommercial' in words,
          'no_derivatives': 'noderiv' in words}


def terms_of_url(url):
  """TERMS of a licence's URL (http://creativecommons.org/licenses/by-nc-nd/3.0/).

  The URL's licence element names its clauses: by, nc, nd, sa.
  """
  parts = url.rstrip('/').split('/')
  try:
    clauses = parts[parts.index('licenses') + 1].lower().split('-')
  except (ValueError, IndexError):
    clauses = []
  return {'non_commercial': 'nc' in clauses, 'no_derivatives': 'nd' in clauses}


def check_exclude(exclude):
  """Refuses an --exclude entry that is not one of TERMS."""
  unknown = sorted(set(exclude) - set(TERMS))
  if unknown:
    raise errors.FlagError(f'--exclude: {unknown}; use {TERMS}')


def excluded(terms, exclude):
  """Whether a track with these terms is left out by --exclude."""
  return any(terms[term] for term in exclude)
