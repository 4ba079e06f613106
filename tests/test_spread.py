"""The spread statistics behind the report's with-vs-without-KL claim, on hand-made codes."""

import math

import numpy as np
import pytest

from vae_tf.analysis.spread import latent_spread, share_inside_box, spread_markdown, spread_ratios

# Four codes worked by hand: dim 1 is 0, 1, 4, -3 (mean 0.5, variance 25/4, std 2.5);
# dim 2 is 0, -2, 1, 3 (mean 0.5, variance 13/4); (4, 1) is the only code outside [-3, 3]^2
# ((-3, 3) lies on its boundary, which counts as inside).
HAND_MADE = np.array([[0.0, 0.0], [1.0, -2.0], [4.0, 1.0], [-3.0, 3.0]])


def test_spread_of_hand_made_codes():
    stats = latent_spread(HAND_MADE)
    assert stats["codes"] == 4 and stats["latent_dim"] == 2
    assert stats["min"] == [-3.0, -2.0] and stats["max"] == [4.0, 3.0]
    assert stats["mean"] == [0.5, 0.5]
    assert stats["std"] == pytest.approx([2.5, math.sqrt(13 / 4)], rel=1e-15)
    assert stats["share_inside_box"] == 0.75
    assert stats["box"] == [-3.0, 3.0]


def test_share_inside_box_needs_every_coordinate_inside():
    z = np.array([[2.9, -2.9, 0.0], [2.9, 0.0, 3.1], [-3.0, 3.0, 3.0], [10.0, 0.0, 0.0]])
    assert share_inside_box(z) == 0.5
    assert share_inside_box(z, half_width=20) == 1.0
    assert share_inside_box(z, half_width=1) == 0.0


def test_ratios_of_a_variant_ten_times_wider():
    stats = {"kl": latent_spread(HAND_MADE), "none": latent_spread(10 * HAND_MADE + 5)}
    ratios = spread_ratios(stats)
    assert ratios["std"] == pytest.approx([10, 10]) and ratios["range"] == pytest.approx([10, 10])


def test_spread_markdown_has_a_row_per_variant_and_dimension():
    text = spread_markdown({"kl": latent_spread(HAND_MADE), "none": latent_spread(10 * HAND_MADE)})
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| variant | latent dim | min | max | std | share of codes inside [-3, 3]^2")
    assert rows[1] == "| with KL | 1 | -3.00 | 4.00 | 2.50 | 75.0% |"
    assert rows[2] == "|  | 2 | -2.00 | 3.00 | 1.80 |  |"
    assert rows[3] == "| without KL | 1 | -30.00 | 40.00 | 25.00 | 25.0% |"
    assert "Without KL vs with KL: dim 1: std 10.0x, range 10.0x, dim 2: std 10.0x, range 10.0x." in text


def test_spread_refuses_arrays_that_are_not_codes():
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        latent_spread(np.zeros(5))
