import json

import pytest

from keras_adapters import AdapterConfig, add_adapters
from keras_adapters.config import FORMAT_VERSION
from keras_adapters.errors import KerasAdaptersError

from helpers import bert


def test_presets():
    houlsby = AdapterConfig.from_preset("houlsby")
    assert houlsby.placements == ("attention", "feedforward")
    assert houlsby.train_layer_norms is True
    assert houlsby.bottleneck_size == 64
    pfeiffer = AdapterConfig.from_preset("pfeiffer")
    assert pfeiffer.placements == ("feedforward",)
    assert pfeiffer.train_layer_norms is False
    assert pfeiffer.resolve_bottleneck(384) == 24
    assert set(AdapterConfig.presets()) >= {"houlsby", "pfeiffer"}


def test_preset_overrides_switch_between_size_and_factor():
    assert AdapterConfig.from_preset("pfeiffer", bottleneck_size=8).resolve_bottleneck(384) == 8
    config = AdapterConfig.from_preset("houlsby", reduction_factor=8)
    assert config.bottleneck_size is None and config.resolve_bottleneck(768) == 96


def test_dict_and_json_round_trip():
    config = AdapterConfig(
        bottleneck_size=16, activation="relu", placements=["feedforward"],
        initialization="zero_up", dropout=0.1, scaling=2.0, layers=[0, 3],
        train_layer_norms=False,
    )
    data = config.to_dict()
    assert data["format_version"] == FORMAT_VERSION
    json.dumps(data)  # JSON-serializable
    assert AdapterConfig.from_dict(data) == config
    assert AdapterConfig.from_json(config.to_json()) == config


def test_old_files_without_new_fields_still_load():
    # A file from before `scaling` existed: missing fields take defaults.
    data = AdapterConfig().to_dict()
    del data["scaling"], data["format_version"]
    assert AdapterConfig.from_dict(data).scaling == 1.0


def test_newer_format_version_is_refused():
    data = AdapterConfig().to_dict()
    data["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="format_version"):
        AdapterConfig.from_dict(data)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(bottleneck_size=0), "bottleneck_size.*positive int"),
        (dict(bottleneck_size=-1), "bottleneck_size"),
        (dict(bottleneck_size=2.5), "bottleneck_size"),
        (dict(bottleneck_size=None, reduction_factor=0), "reduction_factor"),
        (dict(bottleneck_size=8, reduction_factor=4), "exactly one"),
        (dict(activation="sigmoidz"), "activation.*relu"),
        (dict(placements=["output"]), "placements.*attention, feedforward"),
        (dict(placements=[]), "placements"),
        (dict(placements=["attention", "attention"]), "placements"),
        (dict(initialization="xavier"), "initialization.*houlsby, zero_up"),
        (dict(dropout=1.5), "dropout"),
        (dict(layers=[-1]), "layers"),
        (dict(layers=[]), "layers"),
        (dict(train_layer_norms="yes"), "train_layer_norms"),
    ],
)
def test_invalid_values_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        AdapterConfig(**fields)


def test_unknown_preset_and_field():
    with pytest.raises(ValueError, match="Unknown adapter preset 'hulsby'.*houlsby, pfeiffer"):
        AdapterConfig.get("hulsby")
    with pytest.raises(ValueError, match=r"Unknown AdapterConfig field\(s\) \['bottleneck'\]"):
        AdapterConfig.from_dict({"bottleneck": 8})
    with pytest.raises(ValueError, match="must be an AdapterConfig"):
        AdapterConfig.get(42)


def test_layer_index_out_of_range_at_surgery():
    with pytest.raises(ValueError, match=r"layers.*\[5\].*0\.\.1"):
        add_adapters(bert(), layers=[0, 5])


def test_config_from_json_file(tmp_path):
    path = tmp_path / "adapter.json"
    path.write_text(AdapterConfig(bottleneck_size=12).to_json())
    assert AdapterConfig.get(str(path)).bottleneck_size == 12
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        AdapterConfig.get(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="does not exist"):
        AdapterConfig.get(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("field", ["scaling", "init_scale", "dropout", "reduction_factor"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_float_fields_must_be_finite(field, value):
    # NaN scaling used to pass and train to NaN weights.
    fields = {field: value}
    if field == "reduction_factor":
        fields["bottleneck_size"] = None
    with pytest.raises(KerasAdaptersError, match=f"`{field}`: got {value!r}"):
        AdapterConfig(**fields)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_values_in_json_files_are_refused(tmp_path, literal):
    # Python's json module reads these non-standard literals as floats.
    path = tmp_path / "adapter.json"
    path.write_text(f'{{"bottleneck_size": 8, "scaling": {literal}}}')
    with pytest.raises(KerasAdaptersError, match="scaling.*finite"):
        AdapterConfig.get(str(path))
    with pytest.raises(KerasAdaptersError, match="scaling"):
        AdapterConfig.from_json(path.read_text())


def test_booleans_are_not_numbers():
    with pytest.raises(KerasAdaptersError, match="init_scale"):
        AdapterConfig(init_scale=True)
    assert AdapterConfig(scaling=10**400).scaling == 10**400  # a huge int is finite


def test_truncated_json_file_names_the_file(tmp_path):
    path = tmp_path / "adapter.json"
    path.write_text(AdapterConfig().to_json()[:40])
    with pytest.raises(KerasAdaptersError, match="not valid JSON") as error:
        AdapterConfig.get(str(path))
    assert str(path) in str(error.value)
    path.write_text("[1, 2]")
    with pytest.raises(KerasAdaptersError, match="must hold a JSON object"):
        AdapterConfig.get(str(path))
