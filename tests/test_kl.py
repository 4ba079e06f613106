"""vae_tf.kl (discrete, gaussian, estimators, grid): every formula against an independent way of computing it."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import rel_entr

from vae_tf import kl
from vae_tf.kl import primers

tfd = tfp.distributions


def random_probabilities(rng, shape, zeros=0.0):
    """Probability vectors along the last axis; a fraction `zeros` of entries set to 0."""
    x = rng.gamma(0.5, size=shape)
    x[rng.random(shape) < zeros] = 0.0
    x[..., 0] += 1e-3  # never an all-zero vector
    return x / x.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Discrete
# ---------------------------------------------------------------------------------------------


def test_report_discrete_example_matches_rel_entr():
    p, q, r = primers.REPORT_P, primers.REPORT_Q, primers.REPORT_R
    assert kl.kl_discrete(p, q) == pytest.approx(rel_entr(p, q).sum(), rel=1e-12)
    assert kl.kl_discrete(q, r) == pytest.approx(rel_entr(q, r).sum(), rel=1e-12)
    assert kl.kl_discrete(p, p) == 0.0
    # The numbers quoted in README.md ("The report's worked examples, computed by the package").
    assert kl.kl_discrete(p, q) == pytest.approx(1.33568, abs=1e-5)
    assert kl.kl_discrete(q, r) == pytest.approx(0.01232, abs=1e-5)
    assert primers.discrete_example() == {
        "D(p||q)": kl.kl_discrete(p, q),
        "D(q||r)": kl.kl_discrete(q, r),
        "D(p||p)": 0.0,
        "D(q||p)": kl.kl_discrete(q, p),
    }


def test_batched_discrete_kl_matches_rel_entr_with_zeros():
    rng = np.random.default_rng(0)
    p = random_probabilities(rng, (4, 5, 7), zeros=0.3)
    q = random_probabilities(rng, (4, 5, 7), zeros=0.3)
    expected = rel_entr(p, q).sum(axis=-1)  # contains +inf where q = 0 < p
    assert np.isinf(expected).any() and np.isfinite(expected).any()
    np.testing.assert_allclose(kl.kl_discrete(p, q), expected, rtol=1e-12)
    assert kl.kl_discrete(p, q).shape == (4, 5)


def test_batch_axes_broadcast():
    rng = np.random.default_rng(1)
    p = random_probabilities(rng, (6,))
    q = random_probabilities(rng, (3, 6))
    np.testing.assert_allclose(kl.kl_discrete(p, q), rel_entr(p[None], q).sum(-1), rtol=1e-12)


def test_zero_conventions():
    assert kl.kl_discrete([0.0, 1.0], [0.5, 0.5]) == pytest.approx(math.log(2))  # 0 log 0/q = 0
    assert kl.kl_discrete([0.5, 0.5], [1.0, 0.0]) == np.inf  # P > 0 where Q = 0
    assert kl.entropy([0.0, 1.0]) == 0.0
    assert kl.cross_entropy([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert kl.cross_entropy([0.0, 1.0], [0.0, 1.0]) == 0.0


def test_bits_are_nats_over_log_2():
    p, q = [0.25, 0.25, 0.5], [0.5, 0.25, 0.25]
    assert kl.kl_discrete(p, q, units="bits") == pytest.approx(kl.kl_discrete(p, q) / math.log(2))
    assert kl.entropy([0.5, 0.5], units="bits") == pytest.approx(1.0)
    assert kl.entropy(np.full(8, 1 / 8), units="bits") == pytest.approx(3.0)


def test_normalize_turns_counts_into_probabilities():
    counts_p, counts_q = [1, 2, 7], [5, 3, 2]
    assert kl.kl_discrete(counts_p, counts_q, normalize=True) == pytest.approx(
        kl.kl_discrete([0.1, 0.2, 0.7], [0.5, 0.3, 0.2])
    )


probability_vectors = st.integers(2, 8).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(0.0, 10.0), min_size=k, max_size=k).filter(lambda v: sum(v) > 1e-3),
        st.lists(st.floats(1e-3, 10.0), min_size=k, max_size=k),
    )
)


@settings(max_examples=200, deadline=None)
@given(probability_vectors)
def test_kl_is_cross_entropy_minus_entropy_and_non_negative(pair):
    p, q = (np.asarray(v) / np.sum(v) for v in pair)
    d = kl.kl_discrete(p, q)
    assert d >= -1e-12
    assert d == pytest.approx(kl.cross_entropy(p, q) - kl.entropy(p), abs=1e-9)
    assert kl.kl_discrete(p, p) == pytest.approx(0.0, abs=1e-12)


def test_kl_is_asymmetric_on_random_pairs():
    rng = np.random.default_rng(2)
    p = random_probabilities(rng, (200, 5))
    q = random_probabilities(rng, (200, 5))
    forward, reverse = kl.kl_discrete(p, q), kl.kl_discrete(q, p)
    assert np.all(forward >= 0) and np.all(reverse >= 0)
    assert np.mean(np.abs(forward - reverse) > 1e-3) > 0.9
    assert kl.kl_discrete(primers.REPORT_P, primers.REPORT_Q) != pytest.approx(
        kl.kl_discrete(primers.REPORT_Q, primers.REPORT_P), abs=1e-3
    )


@pytest.mark.parametrize(
    "p, q, kwargs, message",
    [
        ([0.5, 0.6], [0.5, 0.5], {}, r"p sums to 1\.1 .* pass normalize=True"),
        ([0.5, 0.5], [0.2, 0.2], {}, r"q sums to 0\.4"),
        ([-0.1, 1.1], [0.5, 0.5], {}, r"p has a negative entry \(-0\.1 at index \(0,\)\)"),
        ([0.5, 0.5], [0.3, 0.3, 0.4], {}, r"shape \(2,\) and q has shape \(3,\)"),
        (np.full((2, 3), 1 / 3), np.full((4, 3), 1 / 3), {}, "batch axes do not broadcast"),
        (0.5, 0.5, {}, "p is a scalar"),
        ([np.nan, 1.0], [0.5, 0.5], {}, "non-finite entry"),
        ([0.5, 0.5], [0.5, 0.5], {"units": "dits"}, "units must be 'nats' or 'bits'"),
        ([0, 0], [1, 1], {"normalize": True}, "cannot normalise an all-zero vector"),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_problem(p, q, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kl.kl_discrete(p, q, **kwargs)


def test_entropy_and_cross_entropy_validate_too():
    with pytest.raises(ValueError, match="negative entry"):
        kl.entropy([-1.0, 2.0])
    with pytest.raises(ValueError, match="sums to"):
        kl.cross_entropy([0.5, 0.5], [0.9, 0.9])


# ---------------------------------------------------------------------------------------------
# Histograms
# ---------------------------------------------------------------------------------------------


def test_histogram_samples_are_the_reports_global_seed_draws():
    saved = np.random.get_state()
    try:
        np.random.seed(42)
        a = np.concatenate([np.random.normal(3, 0.5, 300), np.random.normal(5, 0.5, 700)])
        b = np.random.normal(4, 1, 1000)
        c = np.concatenate([np.random.normal(3, 0.5, 400), np.random.normal(5, 0.5, 600)])
    finally:
        np.random.set_state(saved)
    ours_a, ours_b, ours_c = primers.histogram_samples()
    np.testing.assert_array_equal(ours_a, a)
    np.testing.assert_array_equal(ours_b, b)
    np.testing.assert_array_equal(ours_c, c)


def test_histogram_kl_reproduces_the_reports_figure_and_the_true_kl():
    a, b, c = primers.histogram_samples()
    bins = primers.HISTOGRAM_BINS
    width = 6 / 19
    results = primers.histogram_example()
    for name, other in (("B", b), ("C", c)):
        a_hist = np.histogram(a, bins=bins, density=True)[0]
        other_hist = np.histogram(other, bins=bins, density=True)[0]
        result = results[name]
        np.testing.assert_allclose(result.p_density, a_hist, rtol=1e-12)
        np.testing.assert_allclose(result.q_density, other_hist, rtol=1e-12)
        assert result.report_value == pytest.approx(rel_entr(a_hist, other_hist).sum(), rel=1e-12)
        assert result.kl == pytest.approx(result.report_value * width, rel=1e-12)
        # The true KL is the discrete KL of the bin probabilities.
        assert result.kl == pytest.approx(kl.kl_discrete(a_hist * width, other_hist * width), rel=1e-9)
    # The numbers quoted in README.md ("The report's worked examples, computed by the package").
    assert results["B"].report_value == pytest.approx(0.87928, abs=1e-5)
    assert results["C"].report_value == pytest.approx(0.09241, abs=1e-5)
    assert results["B"].kl == pytest.approx(0.27767, abs=1e-5)
    assert results["C"].kl == pytest.approx(0.02918, abs=1e-5)
    assert results["B"].outside_q == 2  # two draws of N(4, 1) fall outside [1, 7]


def test_histogram_smoothing_keeps_empty_bins_finite():
    p_sample = [0.5, 1.5, 2.5, 2.5]
    q_sample = [0.5, 0.5, 1.5]  # bin [2, 3] empty under Q
    edges = [0, 1, 2, 3]
    assert kl.histogram_kl(p_sample, q_sample, edges).kl == np.inf
    smoothed = kl.histogram_kl(p_sample, q_sample, edges, smoothing=1.0)
    counts_p, counts_q = np.array([1, 1, 2]) + 1.0, np.array([2, 1, 0]) + 1.0
    assert smoothed.kl == pytest.approx(kl.kl_discrete(counts_p, counts_q, normalize=True))
    with pytest.raises(ValueError, match="smoothing must be"):
        kl.histogram_kl(p_sample, q_sample, edges, smoothing=-1)
    with pytest.raises(ValueError, match="increasing edges"):
        kl.histogram_kl(p_sample, q_sample, [0, 2, 1])
    with pytest.raises(ValueError, match="samples_q is empty"):
        kl.histogram_kl(p_sample, [], edges)


# ---------------------------------------------------------------------------------------------
# Gaussians: closed form, TFP analytic, numerical integration, Monte Carlo
# ---------------------------------------------------------------------------------------------


def quad_kl(m1, s1, m2, s2):
    """KL by adaptive quadrature with SciPy's own densities: independent of vae_tf and TFP."""

    def integrand(x):
        return stats.norm.pdf(x, m1, s1) * (stats.norm.logpdf(x, m1, s1) - stats.norm.logpdf(x, m2, s2))

    value, _ = integrate.quad(integrand, m1 - 30 * s1, m1 + 30 * s1, limit=200)
    return value


GAUSSIAN_PAIRS = [(0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 0.0, 2.0), (1.5, 0.5, -1.0, 2.5), (-3.0, 3.0, 2.0, 0.7)]


def test_univariate_closed_form_known_values():
    assert float(kl.kl_gaussian(0.0, 1.0, 1.0, 1.0)) == pytest.approx(0.5)
    assert float(kl.kl_gaussian(0.0, 1.0, 0.0, 2.0)) == pytest.approx(math.log(2) + 1 / 8 - 1 / 2)
    assert float(kl.kl_gaussian(2.0, 3.0, 2.0, 3.0)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("m1, s1, m2, s2", GAUSSIAN_PAIRS)
def test_univariate_gaussian_four_ways(m1, s1, m2, s2):
    closed = float(kl.kl_gaussian(np.float64(m1), s1, m2, s2))
    p, q = tfd.Normal(np.float64(m1), np.float64(s1)), tfd.Normal(np.float64(m2), np.float64(s2))
    assert float(kl.kl_analytic(p, q)) == pytest.approx(closed, rel=1e-9)
    assert float(kl.kl_numerical(p, q)) == pytest.approx(closed, rel=1e-6, abs=1e-9)
    assert quad_kl(m1, s1, m2, s2) == pytest.approx(closed, rel=1e-6)
    mc = kl.kl_monte_carlo(p, q, num_samples=200_000, seed=7)
    assert float(mc.standard_error) > 0
    assert abs(float(mc.estimate) - closed) < 4 * float(mc.standard_error)


def test_closed_forms_broadcast_elementwise():
    rng = np.random.default_rng(3)
    m1, m2 = rng.normal(size=(2, 5, 3))
    s1, s2 = rng.uniform(0.3, 3.0, size=(2, 5, 3))
    element = kl.kl_gaussian(m1, s1, m2, s2).numpy()
    expected = np.array([[quad_kl(*args) for args in zip(*rows)] for rows in zip(m1, s1, m2, s2)])
    np.testing.assert_allclose(element, expected, rtol=1e-6)
    np.testing.assert_allclose(kl.kl_diag_gaussian(m1, s1, m2, s2).numpy(), expected.sum(-1), rtol=1e-6)
    p = tfd.MultivariateNormalDiag(loc=m1, scale_diag=s1)
    q = tfd.MultivariateNormalDiag(loc=m2, scale_diag=s2)
    np.testing.assert_allclose(kl.kl_analytic(p, q).numpy(), expected.sum(-1), rtol=1e-9)
    mc = kl.kl_monte_carlo(p, q, num_samples=50_000, seed=3)
    assert np.all(np.abs(mc.estimate.numpy() - expected.sum(-1)) < 4 * mc.standard_error.numpy())
    batched = kl.kl_numerical(tfd.Normal(m1, s1), tfd.Normal(m2, s2)).numpy()
    np.testing.assert_allclose(batched, expected, rtol=1e-5)


def test_vae_kl_against_standard_normal_four_ways():
    rng = np.random.default_rng(4)
    z_mean = rng.normal(size=(6, 2))
    z_log_var = rng.normal(scale=0.8, size=(6, 2))
    std = np.exp(0.5 * z_log_var)
    expected = np.array([sum(quad_kl(m, s, 0.0, 1.0) for m, s in zip(mr, sr)) for mr, sr in zip(z_mean, std)])
    np.testing.assert_allclose(kl.kl_standard_normal(z_mean, z_log_var).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(kl.kl_standard_normal_tfp(z_mean, z_log_var).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(kl.kl_diag_gaussian(z_mean, std, 0.0, 1.0).numpy(), expected, rtol=1e-6)
    posterior = kl.diag_gaussian(z_mean, z_log_var)
    prior = kl.standard_normal_prior(2, dtype=tf.float64)
    mc = kl.kl_monte_carlo(posterior, prior, num_samples=50_000, seed=5)
    assert np.all(np.abs(mc.estimate.numpy() - expected) < 4 * mc.standard_error.numpy())
    # float32, the dtype the VAE trains in
    np.testing.assert_allclose(
        kl.kl_standard_normal_tfp(z_mean.astype("float32"), z_log_var.astype("float32")).numpy(),
        expected,
        rtol=1e-5,
    )


def test_gaussian_kl_is_asymmetric_and_non_negative():
    rng = np.random.default_rng(5)
    m1, m2 = rng.normal(size=(2, 100))
    s1, s2 = rng.uniform(0.2, 4.0, size=(2, 100))
    forward = kl.kl_gaussian(m1, s1, m2, s2).numpy()
    reverse = kl.kl_gaussian(m2, s2, m1, s1).numpy()
    assert np.all(forward >= 0) and np.all(reverse >= 0)
    assert np.mean(np.abs(forward - reverse) > 1e-3) > 0.9


def test_non_positive_std_is_rejected():
    with pytest.raises(ValueError, match="std_p must be > 0"):
        kl.kl_gaussian(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="std_q must be > 0"):
        kl.kl_diag_gaussian([0.0], [1.0], [0.0], [0.0])


def test_pairs_without_a_closed_form_go_to_monte_carlo():
    p, q = tfd.Normal(np.float64(0), np.float64(1)), tfd.StudentT(np.float64(3), np.float64(0), np.float64(1))
    with pytest.raises(NotImplementedError, match="kl_monte_carlo"):
        kl.kl_analytic(p, q)
    mc = kl.kl_monte_carlo(p, q, num_samples=100_000, seed=1)
    numerical = float(kl.kl_numerical(p, q))
    assert numerical == pytest.approx(
        integrate.quad(lambda x: stats.norm.pdf(x) * (stats.norm.logpdf(x) - stats.t.logpdf(x, 3)), -30, 30)[0],
        rel=1e-6,
    )
    assert abs(float(mc.estimate) - numerical) < 4 * float(mc.standard_error)


def test_monte_carlo_is_reproducible_and_validates():
    p, q = tfd.Normal(0.0, 1.0), tfd.Normal(1.0, 2.0)
    first = kl.kl_monte_carlo(p, q, num_samples=1000, seed=11)
    second = kl.kl_monte_carlo(p, q, num_samples=1000, seed=11)
    assert float(first.estimate) == float(second.estimate)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 2"):
        kl.kl_monte_carlo(p, q, num_samples=1)
    with pytest.raises(ValueError, match="univariate"):
        kl.kl_numerical(tfd.MultivariateNormalDiag([0.0, 0.0]), tfd.MultivariateNormalDiag([1.0, 0.0]))


# ---------------------------------------------------------------------------------------------
# Densities on a grid
# ---------------------------------------------------------------------------------------------


def test_grid_kl_conventions_and_finite_gradients():
    log_p = tf.constant([-np.inf, np.log(0.5), np.log(0.5)])
    log_q = tf.Variable([np.log(0.2), np.log(0.4), np.log(0.4)])
    with tf.GradientTape() as tape:
        value = kl.kl_grid_mean(log_p, log_q)
    assert float(value) == pytest.approx(np.sum(rel_entr([0, 0.5, 0.5], [0.2, 0.4, 0.4])) / 3, rel=1e-6)
    assert np.all(np.isfinite(tape.gradient(value, log_q).numpy()))
    assert float(kl.kl_grid_mean([0.0, 0.0], [0.0, -np.inf])) == np.inf


def test_grid_integral_is_the_trapezoid_rule():
    x = np.linspace(-10, 10, 2001)
    log_p = stats.norm.logpdf(x, 0.5, 1.2)
    log_q = stats.norm.logpdf(x, -0.3, 1.7)
    integrand = np.exp(log_p) * (log_p - log_q)
    assert float(kl.kl_grid_integral(log_p, log_q, x)) == pytest.approx(np.trapezoid(integrand, x), rel=1e-6)
    assert float(kl.kl_grid_integral(log_p, log_q, x)) == pytest.approx(
        float(kl.kl_gaussian(0.5, 1.2, -0.3, 1.7)), rel=1e-5
    )
