"""The defaults of a run that is not the report's: settings the user left out, chosen so that it learns.

`TrainConfig`'s defaults are the report's (Adam at 1e-4 for its MLP on 60,000 Fashion-MNIST images,
10 epochs, its loss), right for reproducing it and wrong for almost anything else: on 3,000 photo
patches the conv model's reconstructions stay grey smudges. So when the data or the architecture is
not the report's, the settings the user did not give are chosen by one rule (docs/defaults.md):

```python
from vae_tf.config import TrainConfig
from vae_tf.config.defaults import choose, describe

settings, record = choose(TrainConfig(dataset="digits"), given={"dataset"}, train_images=1500)
print(settings.learning_rate, settings.epochs)  # 0.001 84: Keras' Adam default, 1,000 steps of 12 batches
print(describe(record))                         # defaults chosen (docs/defaults.md): learning rate 1e-3 (...
```

- learning rate 1e-3, Keras' Adam default (the report's 1e-4 is for its MLP);
- the textbook loss (`--reduction elbo`): the report's averages the reconstruction over the P pixels
  and so weighs the KL term P times more (a beta of 3,072 on 32 x 32 colour images);
- latent size 8: the report's 2 is for drawing its codes on a plane; with 2, 32 x 32 photo patches
  are reconstructed no better than by each patch's mean colour;
- epochs: enough for `TARGET_STEPS` Adam steps at the run's batch size, at least `MIN_EPOCHS`.

The report's configuration (Fashion-MNIST with the MLP) keeps every default as it is, and a setting
the user gives always wins. `record` (config.json's "defaults") says for each of these settings its
value and where it came from. No TensorFlow, no NumPy.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Collection

from vae_tf.config.settings import TrainConfig

ADAM_LEARNING_RATE = 1e-3  # keras.optimizers.Adam's default
TARGET_STEPS = 1000  # Adam steps a run off the report's setup trains for, unless --epochs says otherwise
MIN_EPOCHS = 2
MAX_EPOCHS = 500

REPORT_DATASET, REPORT_ARCHITECTURE = "fashion_mnist", "mlp"
LATENT_DIM = 8  # off the report's setup: 2 numbers explain no more of a photo patch than its mean colour
CHOSEN = ("learning_rate", "reduction", "latent_dim", "epochs")  # the settings the rule may choose, as it says them


def is_report_setup(settings: TrainConfig) -> bool:
    """Whether the run is the report's setup (Fashion-MNIST, the MLP), whose defaults stay the report's."""
    return settings.dataset == REPORT_DATASET and settings.architecture == REPORT_ARCHITECTURE


def choose(settings: TrainConfig, given: Collection[str] | None, train_images: int) -> tuple[TrainConfig, dict]:
    """The settings with the defaults of this module's rule, and the record of where each came from.

    Args:
      settings: the run's configuration; the fields not in `given` hold `TrainConfig`'s defaults.
      given: the names of the fields the user set (e.g. {"dataset", "architecture"}); None: all of
        them (the settings are used as they are, as the Python API's `train` does by default).
      train_images: N, the training images the run has (after --limit): the epochs come from the
        steps per epoch, ceil(N / batch size).

    Returns:
      (settings, record): `record` maps each of `CHOSEN` to {"value", "source"}, `source` one of
      "given", "the report's" or the reason of the choice; "rule" says which rule applied.
    """
    values = {name: getattr(settings, name) for name in CHOSEN}
    report = is_report_setup(settings)
    if given is None:
        sources = dict.fromkeys(CHOSEN, "given")
    elif report:
        sources = {name: "given" if name in given else "the report's" for name in CHOSEN}
    else:
        steps = math.ceil(train_images / settings.batch_size)
        proposals = {
            "learning_rate": (ADAM_LEARNING_RATE, "Keras' Adam default; the report's 1e-4 is for its MLP"),
            "reduction": ("elbo", "the textbook negative ELBO; the report's loss weighs the KL term P times "
                                  "more, P the pixels"),
            "latent_dim": (LATENT_DIM, "the report's 2 is for drawing its scatter; with 2, photo patches are "
                                       "reconstructed no better than by their mean colour"),
            "epochs": (min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps))),
                       f"about {TARGET_STEPS:,} steps of {steps:,} batches of {settings.batch_size}"),
        }
        if settings.regularizer != "kl":  # without a KL term the reduction only scales the loss: the report's stays
            del proposals["reduction"]
        sources = {}
        for name in CHOSEN:
            if name in given or name not in proposals:
                sources[name] = "given" if name in given else "the report's"
            else:
                values[name], sources[name] = proposals[name]
    record = {"rule": "the report's defaults" if report or given is None else "defaults for other data or models "
                      "(docs/defaults.md)",
              **{name: {"value": values[name], "source": sources[name]} for name in CHOSEN}}
    return dataclasses.replace(settings, **values), record


def describe(record: dict) -> str:
    """The chosen defaults in a few words for the run's first line ("" if none was chosen), e.g. "defaults
    chosen (docs/defaults.md): learning rate 1e-3 (Keras' Adam default; the report's 1e-4 is for its MLP), ..."."""
    chosen = [f"{_NAMES[name]} {_value(record[name]['value'])} ({record[name]['source']})" for name in CHOSEN
              if record.get(name, {}).get("source") not in (None, "given", "the report's")]
    return "defaults chosen (docs/defaults.md): " + ", ".join(chosen) if chosen else ""


_NAMES = {"learning_rate": "learning rate", "reduction": "reduction", "latent_dim": "latent size",
          "epochs": "epochs"}


def _value(value) -> str:
    """1e-3 rather than 0.001."""
    return f"{value:.0e}".replace("e-0", "e-") if isinstance(value, float) and value < 0.01 else str(value)


_UNSET = object()


def given_settings(parser: argparse.ArgumentParser, argv) -> set[str]:
    """The `TrainConfig` fields whose flags `argv` gives, whatever their values (a flag given with the
    default's value counts: `--learning-rate 1e-4` on digits keeps 1e-4).

    Args:
      parser: a fresh parser of the command (its defaults are replaced by a marker), with `add_arguments`' flags.
      argv: the command's arguments.
    """
    names = [field.name for field in dataclasses.fields(TrainConfig)]
    parser.set_defaults(**dict.fromkeys(names, _UNSET))
    args = parser.parse_args(list(argv))
    return {name for name in names if getattr(args, name, _UNSET) is not _UNSET}
