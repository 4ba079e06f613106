"""Data: where the images come from and what they are.

- `spec`: a data set's description (`DataSpec`, `DataSource`), the image checks and conversions.
- `idx`: the IDX files of Fashion-MNIST and MNIST: where they are (offline first), reading and checking them.
- `checks`: a source's arrays checked (images' layout and storage, labels) and its classes (the labels that occur).
- `folders`: the `folder:DIR` rule: which files are images, of which class and split (nothing dropped silently).
- `sources`: the registry of data sources (`fashion_mnist`, `mnist`, `digits`, `npz:`, `folder:`, `shards:`,
  `tfds:`) and the one loader every command uses (`load_data`, `load_run_data`).
- data bigger than memory: `streaming` (the `--data-memory` budget, the `Stream` form), `opening` (whole or
  streamed: `open_data`), `shards` and `packing` (the sharded format, `python -m vae_tf.data pack`, which is
  `__main__`), `folder_stream` (a folder streamed), `tfds_source` (TensorFlow Datasets).

The names are imported on first use (PEP 562): `from vae_tf.data import REPORT_SHAPE` imports
`spec` alone, not the IDX readers or the sources' registry.
"""

from vae_tf.core.lazy import lazy_names

# Each module, and the names `vae_tf.data` offers from it (the flat layout's data.py, and the loaders).
__getattr__, __dir__, __all__ = lazy_names(__name__, {
    "vae_tf.core.errors": ("DataError", "DataNotFoundError"),
    ".spec": ("DataSource", "DataSpec", "fingerprint", "REPORT_SHAPE", "image_layouts", "check_images",
              "flatten_images", "as_images", "to_unit"),
    ".idx": ("CLASS_NAMES", "ENV_VAR", "DEBIAN_DIR", "APT_HINT", "SPLITS", "IdxCollection", "FASHION_MNIST",
             "MNIST_MD5", "MNIST", "keras_cache_dir", "locate", "locate_fashion_mnist", "read_idx", "read_split",
             "load_fashion_mnist", "load_split"),
    ".sources": ("Data", "load_data", "load_config_data", "load_run_data", "load_data_for_run"),
})
