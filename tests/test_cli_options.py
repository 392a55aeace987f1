"""Command-line options generated from the settings dataclasses (one source of limits and defaults)."""

import dataclasses

import click
import pytest
from click.testing import CliRunner

from keras_adapters.cli.config_options import build_config
from keras_adapters.cli.main import main
from keras_adapters.cli.run_commands import train
from keras_adapters.cli.tune_command import tune
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training import TrainConfig
from keras_adapters.tuning import text_classification
from keras_adapters.tuning.text_classification import TuneConfig
from keras_adapters.utils.settings import field_kind, setting_of

from test_cli import WORDS, _write_csv, tiny_preset  # noqa: F401 (fixture)


def _parsed(command, args):
    """The keyword arguments `command` would run with (nothing runs)."""
    return command.make_context(command.name, list(args)).params


def test_defaults_are_the_dataclass_defaults():
    assert build_config(TrainConfig, _parsed(train, [])) == TrainConfig()
    assert build_config(TuneConfig, _parsed(tune, [])) == TuneConfig()


def test_option_names_and_aliases_reach_the_fields():
    config = build_config(TrainConfig, _parsed(train, [
        "-o", "out", "-d", "csv:x.csv", "-a", "pfeiffer", "--bottleneck", "4", "--lr", "0.01",
        "--warmup", "0.2", "--layers", "top:2", "--cache-frozen-prefix", "--overwrite",
    ]))
    assert (config.output_dir, config.dataset, config.adapter, config.bottleneck_size) == (
        "out", "csv:x.csv", "pfeiffer", 4)
    assert (config.learning_rate, config.warmup_fraction) == (0.01, 0.2)
    assert (config.layers, config.cache_frozen_prefix, config.overwrite) == ("top:2", True, True)
    assert config.adapter_config().layers == "top:2"

    search = build_config(TuneConfig, _parsed(tune, [
        "-o", "search", "--epochs", "1", "--bottlenecks", "4,8", "--adapters", "houlsby,pfeiffer",
        "--learning-rates", "1e-3,3e-4", "--max-trainable-params", "100", "--layers", "bottom:1",
        "--cache-frozen-prefix",
    ]))
    assert (search.output_dir, search.bottleneck_sizes, search.adapter_presets) == (
        "search", (4, 8), ("houlsby", "pfeiffer"))
    assert (search.learning_rates, search.max_trainable_parameters) == ((1e-3, 3e-4), 100)
    assert (search.train.epochs, search.train.layers, search.train.cache_frozen_prefix) == (
        1, "bottom:1", True)
    # The trials' output directory and bottleneck are the search's business.
    for option in ("--bottleneck", "--verbose"):
        with pytest.raises(click.NoSuchOption):
            _parsed(tune, [option, "4"])


def _bad_values(config_class):
    """(option, field name, a value its limits refuse) for every limited option."""
    for field in dataclasses.fields(config_class):
        spec = setting_of(field)
        kind = field_kind(field)[0]
        if spec is None or not spec.command_line or dataclasses.is_dataclass(kind):
            continue
        flag = spec.flags[0] if spec.flags else f"--{field.name.replace('_', '-')}"
        if spec.choices is not None:
            yield flag, field.name, ("bogus",) if kind is tuple else "bogus"
        elif spec.minimum is not None:
            below = spec.minimum if spec.min_open else spec.minimum - 1
            yield flag, field.name, (below,) if kind is tuple else below
        elif spec.maximum is not None:
            yield flag, field.name, spec.maximum if spec.max_open else spec.maximum + 1
        elif spec.check is not None:
            yield flag, field.name, "top:0"


@pytest.mark.parametrize("flag, name, value", list(_bad_values(TrainConfig)))
def test_command_line_and_validate_refuse_the_same_values(flag, name, value):
    # The limits are declared once, at the field: both checks follow them.
    result = CliRunner().invoke(main, ["train", flag, str(value)])
    assert result.exit_code == 2 and f"Invalid value for '{flag}'" in result.output, result.output
    with pytest.raises(KerasAdaptersError, match=f"`{name}`"):
        TrainConfig(**{name: value}).validate()
    # The value at the limit itself, where allowed, passes both.
    spec = setting_of(next(f for f in dataclasses.fields(TrainConfig) if f.name == name))
    if spec.minimum is not None and not spec.min_open:
        TrainConfig(**{name: type(value)(spec.minimum)}).validate()
        assert _parsed(train, [flag, str(spec.minimum)])[name] == spec.minimum


@pytest.mark.parametrize("flag, name, value", list(_bad_values(TuneConfig)))
def test_search_options_follow_the_same_limits(flag, name, value):
    text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    result = CliRunner().invoke(main, ["tune", flag, text])
    assert result.exit_code == 2 and f"Invalid value for '{flag}'" in result.output, result.output
    with pytest.raises(KerasAdaptersError, match=f"`{name}` must be"):
        TuneConfig(**{name: value}).validate()


def test_search_lists_are_checked_as_lists():
    for text, message in (("8,x", "comma-separated list of int"), ("8,8", "distinct")):
        result = CliRunner().invoke(main, ["tune", "--bottlenecks", text])
        assert result.exit_code == 2 and message in result.output, result.output
    with pytest.raises(KerasAdaptersError, match="`learning_rates` must be a non-empty list"):
        TuneConfig(learning_rates=()).validate()
    with pytest.raises(KerasAdaptersError, match="`epochs` must be a positive integer"):
        TuneConfig(train=TrainConfig(epochs=0)).validate()
    with pytest.raises(KerasAdaptersError, match="takes `bottleneck_sizes`"):
        TuneConfig(train=TrainConfig(bottleneck_size=8)).validate()


def test_search_records_flat_settings_and_trains_the_chosen_layers(
        tiny_preset, tmp_path, monkeypatch):  # noqa: F811
    config = TuneConfig(output_dir=str(tmp_path / "search"), bottleneck_sizes=(2, 4),
                        train=TrainConfig(dataset="csv:" + _write_csv(
                            tmp_path / "data.csv",
                            [(f"the movie {w} {i}", "pos" if i % 2 else "neg")
                             for i, w in enumerate(WORDS * 2)]),
                            preset=tiny_preset, sequence_length=8, layers="top:1"))
    record = config.settings_record()
    assert record["output_dir"] == config.output_dir and record["bottleneck_sizes"] == (2, 4)
    assert record["layers"] == "top:1" and "train" not in record
    assert config.train_config({"bottleneck_size": 2, "layers": "0"}).layers == "0"

    seen = {}

    class Stop(Exception):
        pass

    def hypermodel(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(text_classification, "AdapterHyperModel", hypermodel)
    with pytest.raises(Stop):
        text_classification.tune_text_classifier(config, log=lambda message: None)
    assert seen["layers"] == ["top:1"] and seen["bottleneck_sizes"] == (2, 4)
