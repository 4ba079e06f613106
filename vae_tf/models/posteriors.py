"""The encoder's posterior q(z|x): a registry of families, each a Keras layer owning its own weights.

    --posterior diagonal   the report's N(z_mean, diag(exp(z_log_var)))  (tfd.MultivariateNormalDiag)
    --posterior full       N(z_mean, L L^T), L lower triangular with diagonal exp(z_log_var / 2) and
                           its strictly lower part from one more encoder head (tfd.MultivariateNormalTriL)
    --posterior iaf        an inverse autoregressive flow (Kingma et al. 2016) on top of the diagonal
                           Gaussian: --flow-steps inverted tfb.MaskedAutoregressiveFlow bijectors whose
                           MADE networks are conditioned on a context h computed from the encoder's features

Every family turns the encoder's outputs into a TFP distribution (batch (B,), event (D,)) and
draws reparameterised samples from given standard normal noise, with their log-density:

```python
import numpy as np
from vae_tf.models.posteriors import build_posterior

B, D, F = 4, 2, 8                            # images, latent size, the encoder's feature size
family = build_posterior("full", latent_dim=D, features_dim=F)
params = {"z_mean": np.zeros((B, D), "float32"), "z_log_var": np.zeros((B, D), "float32"),
          "features": np.ones((B, F), "float32")}      # the family's own head reads the features
q = family.distribution(params)              # batch (B,), event (D,)
eps = np.random.default_rng(0).standard_normal((3, B, D)).astype("float32")
z, log_q = family.sample(params, eps)        # eps (..., B, D) -> z (..., B, D), log_q (..., B)
assert z.shape == (3, B, D) and log_q.shape == (3, B)
np.testing.assert_allclose(log_q, q.log_prob(z), rtol=1e-5)
```

The diagonal family draws z = z_mean + exp(z_log_var / 2) eps exactly as the report's model does,
so the default run is unchanged. The weights a family adds (the extra heads, the MADE networks) are
Keras weights, saved in the .keras file and restored on --resume. Names must match
`vae_tf.models.choices.POSTERIORS` (a test checks it).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
tfb = tfp.bijectors

# Units of the IAF's context vector h and of each MADE network's hidden layer.
CONTEXT_UNITS = 32
MADE_UNITS = 64
# log-scales of each IAF step are bounded softly to +-LOG_SCALE_BOUND, for stability early in training.
LOG_SCALE_BOUND = 3.0


def reparameterize(z_mean, z_log_var, eps):
    """z = z_mean + exp(0.5 * z_log_var) * eps; z_mean, z_log_var (B, D) broadcast against eps (..., B, D)."""
    return z_mean + tf.exp(0.5 * z_log_var) * eps


def diagonal_gaussian(z_mean, z_log_var):
    """`tfd.MultivariateNormalDiag(z_mean, exp(z_log_var / 2))`: batch (B,), event (D,)."""
    return tfd.MultivariateNormalDiag(loc=z_mean, scale_diag=tf.exp(0.5 * z_log_var))


class Posterior(keras.layers.Layer):
    """A posterior family. Subclasses set `name_in_registry` and override `distribution`/`sample`.

    Args:
      latent_dim: D.
      features_dim: F, the size of the encoder's features (the input of its z_mean head).
    """

    name_in_registry = ""
    # Whether the family needs the encoder's features (the VAE then computes them).
    needs_features = False

    def __init__(self, latent_dim: int, features_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.features_dim = int(features_dim)

    def distribution(self, params):
        """q(z|x) as a TFP distribution, batch (B,), event (D,)."""
        raise NotImplementedError

    def sample(self, params, eps):
        """Reparameterised draws from standard normal noise eps (..., B, D): (z (..., B, D), log q(z|x) (..., B))."""
        raise NotImplementedError

    def mean(self, params, eps=None):
        """E_q[z|x] (B, D): exact where the family has it; else the mean of the draws from eps (S, B, D)."""
        return params["z_mean"]


class DiagonalPosterior(Posterior):
    """The report's diagonal Gaussian, N(z_mean, diag(exp(z_log_var)))."""

    name_in_registry = "diagonal"

    def distribution(self, params):
        return diagonal_gaussian(params["z_mean"], params["z_log_var"])

    def sample(self, params, eps):
        z = reparameterize(params["z_mean"], params["z_log_var"], eps)
        return z, self.distribution(params).log_prob(z)


def fill_scale_tril(z_log_var, off_diagonal):
    """L (B, D, D): lower triangular, diagonal exp(z_log_var / 2), strictly lower part `off_diagonal` (B, D(D-1)/2)."""
    latent_dim = z_log_var.shape[-1]
    rows, columns = np.tril_indices(latent_dim, -1)
    indices = np.stack([rows, columns], axis=1)  # (D(D-1)/2, 2), row by row
    batch = tf.shape(z_log_var)[0]
    lower = tf.zeros([batch, latent_dim, latent_dim], z_log_var.dtype)
    if len(rows):
        lower = tf.transpose(tf.scatter_nd(indices, tf.transpose(off_diagonal), [latent_dim, latent_dim, batch]),
                             [2, 0, 1])
    return lower + tf.linalg.diag(tf.exp(0.5 * z_log_var))


class FullPosterior(Posterior):
    """A full-covariance Gaussian N(z_mean, L L^T), L from z_log_var and one more head of D(D-1)/2 units."""

    name_in_registry = "full"
    needs_features = True

    def __init__(self, latent_dim: int, features_dim: int, **kwargs):
        super().__init__(latent_dim, features_dim, **kwargs)
        # Zero initial off-diagonal: training starts from the diagonal Gaussian.
        self.head = keras.layers.Dense(latent_dim * (latent_dim - 1) // 2, kernel_initializer="zeros",
                                       name="z_scale_tril")
        self.head.build((None, self.features_dim))

    def scale_tril(self, params):
        """L (B, D, D), the Cholesky factor of q's covariance."""
        return fill_scale_tril(params["z_log_var"], self.head(params["features"]))

    def distribution(self, params):
        return tfd.MultivariateNormalTriL(loc=params["z_mean"], scale_tril=self.scale_tril(params))

    def sample(self, params, eps):
        q = self.distribution(params)
        z = params["z_mean"] + tf.linalg.matvec(q.scale.to_dense(), eps)  # (B, D, D) against (..., B, D)
        return z, q.log_prob(z)


@keras.saving.register_keras_serializable(package="vae_tf")
class MADE(keras.layers.Layer):
    """A masked autoencoder (Germain et al. 2015) with a context input: shift and log-scale of one IAF step.

    Output d depends on z_1..z_{d-1} (in the order given) and on the context h, never on z_d..z_D.
    The output layer starts at zero, so that a new flow is the identity.

    Args:
      latent_dim: D.
      context_dim: C, the size of h.
      units: the hidden layer's width.
    """

    def __init__(self, latent_dim: int, context_dim: int, units: int = MADE_UNITS, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.context_dim, self.units = int(latent_dim), int(context_dim), int(units)
        input_degrees = np.arange(1, latent_dim + 1)
        hidden_degrees = np.arange(units) % max(latent_dim - 1, 1) + 1
        self.input_mask = (hidden_degrees[None, :] >= input_degrees[:, None]).astype("float32")  # (D, H)
        output_mask = (input_degrees[None, :] > hidden_degrees[:, None]).astype("float32")  # (H, D)
        self.output_mask = np.concatenate([output_mask, output_mask], axis=1)  # shift and log-scale: (H, 2D)
        self.input_kernel = self.add_weight(shape=(latent_dim, units), initializer="glorot_uniform",
                                            name="input_kernel")
        self.context_kernel = self.add_weight(shape=(context_dim, units), initializer="glorot_uniform",
                                              name="context_kernel")
        self.hidden_bias = self.add_weight(shape=(units,), initializer="zeros", name="hidden_bias")
        self.output_kernel = self.add_weight(shape=(units, 2 * latent_dim), initializer="zeros", name="output_kernel")
        self.output_bias = self.add_weight(shape=(2 * latent_dim,), initializer="zeros", name="output_bias")
        # The context also reaches the outputs directly: z_1's step depends on h alone.
        self.context_output_kernel = self.add_weight(shape=(context_dim, 2 * latent_dim), initializer="zeros",
                                                     name="context_output_kernel")
        self.built = True

    def call(self, z, context):
        """(shift, log_scale), each (..., D), for z (..., D) and context (..., C) (broadcasting)."""
        hidden = tf.nn.relu(_matmul_broadcast(z, self.input_kernel * self.input_mask)
                            + _matmul_broadcast(context, self.context_kernel) + self.hidden_bias)
        out = (_matmul_broadcast(hidden, self.output_kernel * self.output_mask)
               + _matmul_broadcast(context, self.context_output_kernel) + self.output_bias)
        shift, raw_log_scale = tf.split(out, 2, axis=-1)
        return shift, LOG_SCALE_BOUND * tf.tanh(raw_log_scale / LOG_SCALE_BOUND)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "context_dim": self.context_dim,
                "units": self.units}


def _matmul_broadcast(a, kernel):
    """a (..., n) @ kernel (n, m) -> (..., m), for any number of leading axes."""
    return tf.tensordot(a, kernel, axes=[[-1], [0]])


class IAFPosterior(Posterior):
    """An inverse autoregressive flow on the diagonal Gaussian: z_0 = z_mean + sigma eps, z_t = IAF_t(z_{t-1}; h).

    Each step is `tfb.Invert(tfb.MaskedAutoregressiveFlow(...))`: sampling and the log-density of a
    sample take one pass of the MADE network, the log-density of any other z (`distribution(...).log_prob`)
    inverts the flow, D passes per step. The order of z is reversed between steps.

    Args:
      latent_dim, features_dim: see `Posterior`.
      flow_steps: the number of IAF steps.
    """

    name_in_registry = "iaf"
    needs_features = True

    def __init__(self, latent_dim: int, features_dim: int, flow_steps: int = 2, **kwargs):
        super().__init__(latent_dim, features_dim, **kwargs)
        self.flow_steps = int(flow_steps)
        self.context = keras.layers.Dense(CONTEXT_UNITS, activation="relu", name="iaf_context")
        self.context.build((None, self.features_dim))
        self.steps = [MADE(latent_dim, CONTEXT_UNITS, name=f"iaf_made_{step}") for step in range(self.flow_steps)]

    def flow(self, context):
        """The bijector z_0 -> z_T for context h (B, C) (or (K, C)); forward is the sampling direction."""
        bijectors = []
        reverse = list(range(self.latent_dim))[::-1]
        for step, made in enumerate(self.steps):
            if step:
                bijectors.append(tfb.Permute(permutation=reverse))

            def shift_and_log_scale(y, made=made):
                # MAF's inverse, our forward, is z_t = (z_{t-1} - shift) exp(-log_scale): one pass of `made`.
                return made(y, context)

            bijectors.append(tfb.Invert(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale,
                                                                     unroll_loop=True)))
        return tfb.Chain(bijectors[::-1])  # Chain applies its last bijector first

    def _context(self, params):
        return self.context(params["features"])

    def distribution(self, params):
        base = diagonal_gaussian(params["z_mean"], params["z_log_var"])
        return tfd.TransformedDistribution(base, self.flow(self._context(params)))

    def sample(self, params, eps):
        base = diagonal_gaussian(params["z_mean"], params["z_log_var"])
        flow = self.flow(self._context(params))
        z0 = reparameterize(params["z_mean"], params["z_log_var"], eps)
        z = flow.forward(z0)
        return z, base.log_prob(z0) - flow.forward_log_det_jacobian(z0, event_ndims=1)

    def mean(self, params, eps=None):
        if eps is None:
            raise ValueError("the IAF posterior's mean is estimated from draws: pass eps (S, B, D).")
        return tf.reduce_mean(self.sample(params, eps)[0], axis=0)


POSTERIORS = {family.name_in_registry: family for family in (DiagonalPosterior, FullPosterior, IAFPosterior)}


def build_posterior(name: str, latent_dim: int, features_dim: int, flow_steps: int = 2) -> Posterior:
    """The posterior family `name` ("diagonal", "full" or "iaf") as a Keras layer.

    Args:
      name: a key of `POSTERIORS`.
      latent_dim: D.
      features_dim: F, the size of the encoder's features.
      flow_steps: IAF steps (iaf only).

    Returns:
      A `Posterior` layer, its weights created.
    """
    if name not in POSTERIORS:
        raise ValueError(f"posterior={name!r} is not one of {', '.join(map(repr, POSTERIORS))}.")
    options = {"flow_steps": flow_steps} if name == "iaf" else {}
    return POSTERIORS[name](latent_dim, features_dim, name=f"posterior_{name}", **options)
