"""Every figure of the package, from arrays to matplotlib figures, and the latent explorer's page.

The figures are functions of arrays (or results) that return a matplotlib `Figure` and read no
files; the explorer's page (`explorer/`) is copied next to the data `python -m vae_tf.explore` writes.

    from vae_tf import plots
    fig = plots.latent_scatter(z, y, title="with KL")           # the report's scatter
    fig = plots.generated_grid(decode, lo=z.min(0), hi=z.max(0))  # the report's 10x10 grid
    fig.savefig("latent_scatter.png")

The package's map:

    common.py           what the figures share: DPI and FPS, the latent axes' labels, the scatter of codes
    latent.py           the latent plane: latent_scatter, comparison, latent_evolution, evolution,
                        sweep_codes, prior_densities
    grids.py            where the generated grid goes: grid_codes, grid_bounds (NumPy only)
    images.py           images: generated_grid, reconstructions, tile_images, image_batch
    samples.py          a trained model's images: image_grid, interpolation_strip, traversal_grid, png_bytes,
                        gif_bytes (for generate, interpolate, traverse)
    curves.py           numbers per step: loss_curves, rate_distortion, rate_distortion_curves
    primers.py          the KL primers (`vae_tf.kl.primers`): histograms, forward_reverse
    fits.py             the fitting experiment (`vae_tf.kl.fitting`): fit_summary, final_fits, save_fit_animation
    explorer_export.py  a trained decoder as the explorer's page computes it (export_vae, ExportError)
    explorer_page.py    the explorer page's data (data.js) and files
    browser.py          a headless Chromium for the page's tests, screenshot and benchmark
    explorer/           the page itself: index.html, explorer.js, explorer.css, and conv.wat, the source of
                        its WebAssembly kernel (assembled into explorer.js by docs/build_explorer_wasm.py)

The figures' names are `vae_tf.plots.NAME`, imported on first use (PEP 562), so that a command that
needs only `vae_tf.plots.explorer_export` or `vae_tf.plots.grids` does not import matplotlib while it
parses its arguments. The explorer's modules and the browser are imported by their module paths.
Nothing here imports TensorFlow, except the explorer's export when it exports a decoder (Keras).
"""

from vae_tf.core.lazy import lazy_names

# Each module of this package, and the names it defines; a module is imported when one of them is first read.
__getattr__, __dir__, __all__ = lazy_names(__name__, {
    ".common": ("DPI", "FPS", "density", "latent_axis_labels", "scatter_point_size"),
    ".grids": ("grid_bounds", "grid_codes"),
    ".images": ("generated_grid", "image_batch", "reconstructions", "tile_images"),
    ".latent": ("comparison", "evolution", "latent_evolution", "latent_scatter", "prior_densities", "sweep_codes"),
    ".curves": ("loss_curves", "rate_distortion", "rate_distortion_curves"),
    ".primers": ("HISTOGRAM_LABELS", "forward_reverse", "histograms"),
    ".fits": ("final_fits", "fit_summary", "save_fit_animation"),
    ".samples": ("gif_bytes", "image_grid", "interpolation_strip", "png_bytes", "to_uint8", "traversal_grid"),
})
