"""Data: where the images come from and what they are.

- `spec`: a data set's description (`DataSpec`, `DataSource`), the image checks and conversions.
- `idx`: the IDX files of Fashion-MNIST and MNIST: where they are (offline first), reading and checking them.
- `sources`: the registry of data sources (`fashion_mnist`, `mnist`, `digits`, `npz:`, `folder:`) and the one
  loader every command uses (`load_data`, `load_run_data`).
"""

from vae_tf.core.errors import DataError, DataNotFoundError  # noqa: F401
from vae_tf.data.idx import (  # noqa: F401
    APT_HINT,
    CLASS_NAMES,
    DEBIAN_DIR,
    ENV_VAR,
    FASHION_MNIST,
    MNIST,
    MNIST_MD5,
    SPLITS,
    IdxCollection,
    keras_cache_dir,
    load_fashion_mnist,
    load_split,
    locate,
    locate_fashion_mnist,
    read_idx,
    read_split,
)
from vae_tf.data.sources import (  # noqa: F401
    COLORS,
    DIGITS_TRAIN,
    IMAGE_SUFFIXES,
    SOURCES,
    SPLIT_SEED,
    UINT8_TOLERANCE,
    Arrays,
    Data,
    Source,
    class_names_of,
    load_config_data,
    load_data,
    load_run_data,
    parse,
    read_digits,
    read_fashion_mnist,
    read_folder,
    read_mnist,
    read_npz,
    register,
    reread,
    run_spec,
)
from vae_tf.data.spec import (  # noqa: F401
    REPORT_SHAPE,
    DataSource,
    DataSpec,
    as_images,
    check_images,
    fingerprint,
    flatten_images,
    image_layouts,
    to_unit,
)
