"""The shared value rules: the same refusal, in the caller's words, from the CLI, the engine and OSC."""
from __future__ import annotations

import math

import pytest

from app.errors import UserError
from app.rules import check_alpha, check_mix_weights


@pytest.mark.parametrize("alpha", [0, 0.0, 0.5, 1, 1.0])
def test_alpha_in_range_passes_as_a_float(alpha):
    assert check_alpha(alpha) == float(alpha) and isinstance(check_alpha(alpha), float)


@pytest.mark.parametrize("alpha", [-0.01, 1.01, math.nan, math.inf, -math.inf])
def test_alpha_out_of_range_names_the_caller(alpha):
    with pytest.raises(UserError, match=r"^/alpha must be between 0 and 1, got "):
        check_alpha(alpha, "/alpha")


@pytest.mark.parametrize("weights", [(), (0.0, 0.0), (1.0, -0.5), (1.0, math.nan), (math.inf, 1.0)])
def test_bad_mix_weights_are_refused(weights):
    with pytest.raises(UserError, match="^--mix weights must be non-negative and not all zero$"):
        check_mix_weights(weights, "--mix weights")


def test_good_mix_weights_come_back_as_floats():
    assert check_mix_weights([1, 0]) == (1.0, 0.0)
