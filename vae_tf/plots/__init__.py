"""Every figure of the package, as functions from arrays (or results) to matplotlib figures, and the
explorer's page (`explorer/`, copied next to the data `python -m vae_tf.explore` writes).
"""

from vae_tf.plots.plots import (  # noqa: F401
    HISTOGRAM_LABELS,
    comparison,
    density,
    evolution,
    final_fits,
    fit_summary,
    forward_reverse,
    generated_grid,
    grid_codes,
    histograms,
    image_batch,
    latent_axis_labels,
    latent_evolution,
    latent_scatter,
    loss_curves,
    prior_densities,
    rate_distortion,
    rate_distortion_curves,
    reconstructions,
    save_fit_animation,
    sweep_codes,
    tile_images,
)
