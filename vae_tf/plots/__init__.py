"""Every figure of the package, as functions from arrays (or results) to matplotlib figures, and the
explorer's page (`explorer/`, copied next to the data `python -m vae_tf.explore` writes).
"""

from vae_tf.plots.plots import (  # noqa: F401
    latent_axis_labels, density, latent_scatter, comparison, grid_codes, image_batch, tile_images, generated_grid,
    reconstructions, loss_curves, HISTOGRAM_LABELS, histograms, forward_reverse, fit_summary, final_fits,
    save_fit_animation, rate_distortion, rate_distortion_curves, sweep_codes, latent_evolution, evolution,
    prior_densities
)
