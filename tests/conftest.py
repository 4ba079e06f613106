import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST, found the way users find it (CI installs Debian's package)."""
    from vae_tf.data import load_fashion_mnist

    return load_fashion_mnist(download=False)
