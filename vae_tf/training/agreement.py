"""The workers of a cluster agree on what they train, or refuse together in one line.

Every worker of a `--strategy multiworker` cluster runs its own command; if two were given
different settings (`--epochs 2` and `--epochs 3`, another `--limit`) or different data, their
collectives would stop matching and the cluster would hang. So once the cluster has formed and
the data are read, `check_agreement` has each worker publish its settings and its training
data's fingerprint (`data_fingerprint`; a stream's, without reading its pixels: `stream_fingerprint`)
in the key-value store of TensorFlow's coordination service; the chief compares every worker's
with its own and publishes the verdict, which every worker then reads: all go on, or all stop
with the same line, e.g. `the workers of the cluster do not agree: worker 1 has --epochs 3, the
chief --epochs 2; ...`.

Compared: every `TrainConfig` field except `data_dir` and the path of a file or folder source
(the same data may live elsewhere on each machine; the fingerprint compares the data themselves).
"""

from __future__ import annotations

import hashlib
import json
import os

from vae_tf.config import TrainConfig, flag
from vae_tf.core.errors import UsageError
from vae_tf.training.cluster import cluster_wait_seconds, read_tf_config

KEY = "vae_tf/agreement"


def data_fingerprint(x, y=None) -> dict:
    """The training data in brief: {"images": N, "shape": [...], "sha256": the first 16 hex digits of the
    images' bytes (and the labels', if any)}. About 0.1 s for 60,000 images of 28 x 28."""
    import numpy as np

    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    if y is not None:
        digest.update(np.ascontiguousarray(y).tobytes())
    return {"images": int(len(x)), "shape": list(np.shape(x)[1:]), "sha256": digest.hexdigest()[:16]}


def stream_fingerprint(stream) -> dict:
    """A streamed data set in brief, as `data_fingerprint` gives an array's, without reading its pixels: the
    stream's spec fingerprint (of its shards' index, or of a folder's listing) and a hash of its labels."""
    import numpy as np

    digest = hashlib.sha256(str(stream.spec.fingerprint).encode())
    labels = stream.labels.get("train")
    if labels is not None:
        digest.update(np.ascontiguousarray(labels).tobytes())
    return {"images": int(stream.counts["train"]), "shape": [int(stream.spec.pixels)],
            "sha256": digest.hexdigest()[:16]}


def compared_settings(settings: TrainConfig) -> dict:
    """The settings the workers must agree on: every field but `data_dir`; a file source by its kind only."""
    compared = {key: value for key, value in settings.to_dict().items() if key != "data_dir"}
    kind, colon, _ = str(compared["dataset"]).partition(":")
    compared["dataset"] = f"{kind}:..." if colon else kind
    return compared


def _shown(name: str, value) -> str:
    if name == "data":
        return f"training data of {value['images']:,} images (fingerprint {value['sha256']})"
    if isinstance(value, list):
        value = " ".join(map(str, value))
    return f"{flag(name)} {'(not given)' if value is None else value}"


def disagreement(name: str, theirs: dict, ours: dict) -> str | None:
    """"worker 1 has --epochs 3, the chief --epochs 2" for the keys in which `theirs` differs from `ours`, or None."""
    keys = [key for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
    if not keys:
        return None
    return (f"{name} has {' '.join(_shown(key, theirs.get(key)) for key in keys)}, the chief "
            f"{' '.join(_shown(key, ours.get(key)) for key in keys)}")


def check_agreement(settings: TrainConfig, data: dict, wait: float | None = None) -> None:
    """Refuse to train, on every worker alike, unless every worker has the chief's settings and data.

    Args:
      settings: this worker's settings.
      data: this worker's `data_fingerprint`.
      wait: how long to wait for the others' (default: `$VAE_TF_CLUSTER_WAIT`, 120 s).

    Raises:
      UsageError: one line naming each difference, e.g. "... worker 1 has --epochs 3, the chief --epochs 2 ...".
    """
    from tensorflow.python.eager import context  # the coordination service's key-value store

    store = context.context()
    task, seconds = read_tf_config(), cluster_wait_seconds() if wait is None else wait
    cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
    others = [(f"{job} {index}", f"{KEY}/{job}/{index}") for job in ("chief", "worker")
              for index in range(len(cluster.get(job) or [])) if (job, index) != (task.task_type, task.index)]

    def read(name: str, key: str) -> str:
        try:
            return store.get_config_key_value(key, int(1000 * seconds))
        except Exception as error:  # TensorFlow's DeadlineExceededError, UnavailableError...
            raise UsageError(f"{name} did not report its settings within {seconds:g} s ({type(error).__name__}); "
                             "start every worker with the same command ($VAE_TF_CLUSTER_WAIT sets the wait).") from None

    ours = {**compared_settings(settings), "data": data}
    store.set_config_key_value(f"{KEY}/{task.task_type}/{task.index}", json.dumps(ours))
    if task.is_chief:
        found = [disagreement(name, json.loads(read(name, key)), ours) for name, key in others]
        verdict = "; ".join(line for line in found if line)
        store.set_config_key_value(f"{KEY}/verdict", verdict)
        if verdict:  # the chief runs the store: it stays until every worker has read the verdict
            for name, key in others:
                read(name, f"{key}/read")
    else:
        verdict = read("the chief", f"{KEY}/verdict")
        try:  # the chief may leave as soon as the key is in, before its answer reaches us
            store.set_config_key_value(f"{KEY}/{task.task_type}/{task.index}/read", "yes")
        except Exception:  # TensorFlow's UnavailableError: the verdict is known all the same
            pass
    if verdict:
        raise UsageError(f"the workers of the cluster do not agree: {verdict}; start every worker with the same "
                         "settings and the same data (nothing was written).")
