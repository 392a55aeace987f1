"""Text-classification datasets from TensorFlow Datasets (`tfds:NAME`).

Any TFDS dataset with a text feature and a `ClassLabel` feature can be
used, e.g. `tfds:imdb_reviews` or `tfds:glue/sst2`. The dataset is prepared
with `download_and_prepare` on first use (which needs network access for
most TFDS datasets) into `data_dir`, then read from there.

Splits: `train`; `validation` if the dataset has one, else the first
`validation_fraction` of the stored training split (TFDS stores examples
in a fixed pseudo-random order, so a slice is a fixed random sample; it is
not stratified and does not depend on `seed`); `test` if present.
`max_examples` keeps the first examples of the (remaining) training split.

Offline, TFDS retries a download about ten times with growing back-off
before giving up (about 3.5 minutes for `imdb_reviews` here), after which
`load_dataset` raises a `DataError` saying the dataset needs network access
or a prepared `data_dir`.
"""

import difflib
import math
import os
import re

import tensorflow as tf
import tensorflow_datasets as tfds

from keras_adapters.data.core import (
    TextClassificationData,
    check_max_examples,
    check_validation_fraction,
)
from keras_adapters.assets import AssetError
from keras_adapters.data.errors import DataError

DATA_DIR_ENV = "KERAS_ADAPTERS_DATA_DIR"


def resolve_data_dir(data_dir=None):
    """Returns the TFDS data directory to use.

    Args:
        data_dir: an explicit directory, or None.

    Returns:
        `data_dir` if given, else the `KERAS_ADAPTERS_DATA_DIR` environment
        variable if set, else None (TFDS's default: `$TFDS_DATA_DIR` or
        `~/tensorflow_datasets`).
    """
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get(DATA_DIR_ENV) or None


def _is_text(feature):
    return isinstance(feature, tfds.features.Tensor) and (
        feature.tf_dtype == tf.string and tuple(feature.shape) == ()
    )


def _pick(features, wanted, default, preferred, kind, role, name):
    """Returns the feature name to use for `role`."""
    candidates = [key for key, feature in features.items() if kind(feature)]
    if wanted in candidates:
        return wanted
    if wanted == default:  # Not chosen explicitly: infer it.
        if preferred in candidates:
            return preferred
        if len(candidates) == 1:
            return candidates[0]
    what = "text (string)" if role.startswith("text") else "ClassLabel"
    if wanted in features:
        problem = f"the feature {wanted!r} is not a {what} feature"
    elif wanted == default and len(candidates) > 1:
        problem = f"it has several {what} features and none is named {wanted!r}"
    else:
        problem = f"it has no {what} feature named {wanted!r}"
    close = difflib.get_close_matches(wanted, candidates, n=1, cutoff=0.5)
    hint = f" Did you mean {role}={close[0]!r}?" if close else ""
    raise DataError(
        f"Cannot choose the {role} of TFDS dataset {name!r}: {problem}. Its {what} "
        f"features are: {', '.join(map(repr, candidates)) or 'none'} (all features: "
        f"{', '.join(map(repr, features))}).{hint} Pass {role}= to choose one."
    )


def _builder(name, data_dir):
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        base = name.split("/")[0].split(":")[0]
        close = difflib.get_close_matches(base, tfds.list_builders(), n=3)
        hint = f" Did you mean {', '.join(repr('tfds:' + c) for c in close)}?" if close else ""
        raise DataError(
            f"TFDS has no dataset named {base!r}.{hint} Use 'tfds:NAME' or "
            "'tfds:NAME/CONFIG' with a name from `tfds.list_builders()`, e.g. "
            "'tfds:imdb_reviews' or 'tfds:glue/sst2'."
        ) from None
    except (ValueError, KeyError, AssertionError, TypeError) as e:
        # Usually an unknown config or version. TFDS's own message does not
        # always list the choices, so list the configs here.
        base = name.split("/")[0].split(":")[0]
        try:
            configs = [c.name for c in tfds.builder_cls(base).BUILDER_CONFIGS]
        except Exception:  # noqa: BLE001 -- only used to improve the message
            configs = []
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        detail = re.sub(r"\s*Here are \d+ BuilderConfigs.*$", "", detail)
        listing = f" Its configs: {', '.join(configs)}." if configs else ""
        raise DataError(
            f"Cannot open TFDS dataset {name!r}: {detail}{listing} Use 'tfds:NAME' or "
            "'tfds:NAME/CONFIG' with an existing config (and ':VERSION' with an "
            "existing version)."
        ) from None


def prepare_builder(name, data_dir=None):
    """Returns a prepared TFDS builder, preparing it if needed.

    Args:
        name: a TFDS name, `"NAME"` or `"NAME/CONFIG"` (optionally
            `":VERSION"`).
        data_dir: the TFDS data directory, or None (see `resolve_data_dir`).

    Returns:
        A `tfds.core.DatasetBuilder` whose data is prepared.

    Raises:
        DataError: if the dataset does not exist or cannot be downloaded or
            prepared (e.g. no network access).
    """
    data_dir = resolve_data_dir(data_dir)
    builder = _builder(name, data_dir)
    if builder.is_prepared():
        return builder
    try:
        builder.download_and_prepare()
    except (DataError, AssetError):
        raise  # Already explains itself (e.g. a missing asset package).
    except Exception as e:  # noqa: BLE001 -- any failure means "not available"
        # Another process may have prepared the same data meanwhile (TFDS
        # publishes by renaming, and the second rename fails): use its copy.
        if _builder(name, data_dir).is_prepared():
            return _builder(name, data_dir)
        where = data_dir or "TFDS's default data directory (~/tensorflow_datasets)"
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(
            f"The TFDS dataset {name!r} could not be downloaded or prepared in "
            f"{where} ({type(e).__name__}: {first[:300]}). Most TFDS datasets are "
            "downloaded on first use, which needs network access; without it, "
            "prepare the dataset on a machine that has access (e.g. "
            f"`tfds build {name}`) and point data_dir= (or the {DATA_DIR_ENV} "
            "environment variable) at a data directory that holds it."
        ) from e
    return builder


def load_tfds_dataset(
    name,
    *,
    display_name=None,
    text_column="text",
    label_column="label",
    text_pair_column=None,
    validation_fraction=0.1,
    max_examples=None,
    data_dir=None,
):
    """Loads a TFDS text-classification dataset.

    Args:
        name: a TFDS name, `"NAME"` or `"NAME/CONFIG"`.
        display_name: the name to record (defaults to `"tfds:" + name`).
        text_column: the text feature. With the default `"text"`, a dataset
            without a `text` feature uses its supervised text key or its only
            text feature.
        label_column: the `ClassLabel` feature, chosen the same way.
        text_pair_column: the second text feature of sentence pairs, or None.
        validation_fraction: share of the training split held out when the
            dataset has no validation split.
        max_examples: keep the first this many training examples, or None.
        data_dir: TFDS data directory (see `resolve_data_dir`).

    Returns:
        A `TextClassificationData`.

    Raises:
        DataError: the dataset is unknown, cannot be prepared, or has no
            usable text or ClassLabel feature or no train split.
    """
    check_validation_fraction(validation_fraction)
    check_max_examples(max_examples)
    builder = prepare_builder(name, data_dir)
    info = builder.info
    features = dict(info.features.items())
    supervised = info.supervised_keys if isinstance(info.supervised_keys, tuple) else (None, None)
    if len(supervised) < 2 or not all(isinstance(k, str) for k in supervised[:2]):
        supervised = (None, None)
    text_key = _pick(features, text_column, "text", supervised[0], _is_text, "text_column", name)
    label_key = _pick(
        features,
        label_column,
        "label",
        supervised[1],
        lambda f: isinstance(f, tfds.features.ClassLabel),
        "label_column",
        name,
    )
    pair_key = None
    if text_pair_column is not None:
        pair_key = _pick(
            features, text_pair_column, None, None, _is_text, "text_pair_column", name
        )
        if pair_key == text_key:
            raise DataError(
                f"text_pair_column and the text feature are both {text_key!r}; for "
                "sentence pairs, name two different text features (e.g. "
                "text_column='sentence1', text_pair_column='sentence2')."
            )

    splits = info.splits
    if "train" not in splits:
        raise DataError(
            f"The TFDS dataset {name!r} has no 'train' split (its splits: "
            f"{', '.join(map(repr, splits))}); a fine-tuning dataset needs one."
        )
    num_train = splits["train"].num_examples
    if "validation" in splits:
        val_split, val_count = "validation", splits["validation"].num_examples
        first_train = 0
    else:
        val_count = max(1, math.floor(num_train * validation_fraction + 0.5))
        if val_count >= num_train:
            raise DataError(
                f"The TFDS dataset {name!r} has {num_train} training example(s) and no "
                "validation split: too few to carve one out. Use a larger dataset or "
                "a smaller validation_fraction."
            )
        val_split, first_train = f"train[:{val_count}]", val_count
    train_count = num_train - first_train
    if max_examples is not None:
        train_count = min(train_count, max_examples)
    train_split = f"train[{first_train}:{first_train + train_count}]"

    def read(split):
        dataset = builder.as_dataset(split=split, shuffle_files=False)
        if pair_key is None:
            return dataset.map(
                lambda ex: (ex[text_key], tf.cast(ex[label_key], tf.int32)),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        return dataset.map(
            lambda ex: ((ex[text_key], ex[pair_key]), tf.cast(ex[label_key], tf.int32)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )

    num_examples = {"train": train_count, "validation": val_count}
    test = None
    if "test" in splits:
        test = read("test")
        num_examples["test"] = splits["test"].num_examples
    return TextClassificationData(
        name=display_name or f"tfds:{name}",
        train=read(train_split),
        validation=read(val_split),
        test=test,
        label_names=list(features[label_key].names),
        num_examples=num_examples,
        text_pair=pair_key is not None,
    )
