"""A licence's Creative Commons terms, by its name (FMA) or URL (Jamendo)."""

import pytest

from spotipop import errors
from spotipop.data import licences

BOTH = {'non_commercial': True, 'no_derivatives': True}
NEITHER = {'non_commercial': False, 'no_derivatives': False}


@pytest.mark.parametrize('name, terms', [
    ('Attribution-Noncommercial-No Derivative Works 3.0 United States', BOTH),
    ('Attribution-NonCommercial-NoDerivatives 4.0 International', BOTH),
    ('Attribution-NonCommercial-ShareAlike 3.0',
     {'non_commercial': True, 'no_derivatives': False}),
    ('Attribution-NoDerivatives 4.0',
     {'non_commercial': False, 'no_derivatives': True}),
    ('Attribution 4.0 International', NEITHER),
    ('Attribution-Non-Commercial-No-Derivs', BOTH),
])
def test_terms_of_a_licence_name(name, terms):
  assert licences.terms_of_name(name) == terms


@pytest.mark.parametrize('url, terms', [
    ('http://creativecommons.org/licenses/by-nc-nd/3.0/', BOTH),
    ('https://creativecommons.org/licenses/by-nc-sa/2.5/it/',
     {'non_commercial': True, 'no_derivatives': False}),
    ('http://creativecommons.org/licenses/by-nd/3.0',
     {'non_commercial': False, 'no_derivatives': True}),
    ('http://creativecommons.org/licenses/by-sa/3.0/', NEITHER),
    # A word containing the letters is not the clause.
    ('http://creativecommons.org/licenses/by/4.0/', NEITHER),
    ('http://example.com/terms', NEITHER),  # Not a Creative Commons URL.
])
def test_terms_of_a_licence_url(url, terms):
  assert licences.terms_of_url(url) == terms


def test_an_unknown_term_to_exclude_names_the_flag():
  licences.check_exclude(['non_commercial', 'no_derivatives'])
  with pytest.raises(errors.FlagError, match="--exclude: \\['share_alike'\\]"):
    licences.check_exclude(['share_alike', 'non_commercial'])
  assert licences.excluded(BOTH, ['no_derivatives'])
  assert not licences.excluded(NEITHER, ['no_derivatives', 'non_commercial'])
  assert not licences.excluded(BOTH, [])
