"""Data: where the images come from and what they are.

- `spec`: a data set's description (`DataSpec`), the image checks, the IDX files of Fashion-MNIST and MNIST.
- `sources`: the registry of data sources (`fashion_mnist`, `mnist`, `digits`, `npz:`, `folder:`) and the one
  loader every command uses (`load_data`, `load_run_data`).
"""

from vae_tf.data.spec import (  # noqa: F401
    CLASS_NAMES, ENV_VAR, DEBIAN_DIR, APT_HINT, SPLITS, DataError, DataNotFoundError, DataSource, DataSpec,
    fingerprint, IdxCollection, FASHION_MNIST, MNIST_MD5, MNIST, keras_cache_dir, locate, locate_fashion_mnist,
    read_idx, read_split, load_fashion_mnist, load_split, REPORT_SHAPE, image_layouts, check_images,
    flatten_images, as_images, to_unit
)
from vae_tf.data.sources import (  # noqa: F401
    IMAGE_SUFFIXES, COLORS, SPLIT_SEED, DIGITS_TRAIN, UINT8_TOLERANCE, Arrays, Source, SOURCES, register, Data,
    parse, dataset_help, read_fashion_mnist, read_mnist, read_digits, read_npz, read_folder, load_data,
    load_config_data, run_spec, load_run_data, class_names_of
)
