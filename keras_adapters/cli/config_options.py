"""Command-line options generated from settings dataclasses.

`config_options(TrainConfig)` adds one click option per field with
`keras_adapters.utils.settings.setting` metadata, in field order: its name (or the
field's `flags`), type (a range or choice from the field's limits), default
and help; `build_config` turns the parsed values back into the dataclass.
A nested settings field (`TuneConfig.train`) contributes the options of its
own fields, less those it omits. Lists (`tuple[int, ...]` fields) are
written comma-separated, e.g. `--bottlenecks 8,64,256`.
"""

import dataclasses

import click

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.utils.settings import check_value, field_kind, setting_of

__all__ = ["build_config", "config_options"]


def _option_fields(config_class, omit=(), nested_help=None):
    """`(field, setting, help)` of every option of `config_class`, in order."""
    for field in dataclasses.fields(config_class):
        spec = setting_of(field)
        if spec is None or not spec.command_line or field.name in omit:
            continue
        kind = field_kind(field)[0]
        if dataclasses.is_dataclass(kind):
            yield from _option_fields(kind, spec.omit, spec.nested_help)
        else:
            yield field, spec, (nested_help or {}).get(field.name, spec.help)


def _checked(field):
    """A click callback checking a value with the field's own check."""

    def check(context, parameter, value):
        if value is not None:
            try:
                check_value(field, value)
            except KerasAdaptersError as e:
                raise click.BadParameter(str(e)) from None
        return value

    return check


def _comma_list(field, item_kind):
    """A click callback parsing 'a,b,c' into a checked tuple (None stays None)."""

    def parse(context, parameter, value):
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        try:
            parsed = tuple(item_kind(item) for item in items)
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list of {item_kind.__name__} "
                                     f"values, got {value!r}.") from None
        return _checked(field)(context, parameter, parsed)

    return parse


def _option(field, spec, help_text):
    """The click option of one settings field."""
    kind, item_kind, _ = field_kind(field)
    flags = spec.flags or (f"--{field.name.replace('_', '-')}",)
    default = field.default
    if default is dataclasses.MISSING:
        default = field.default_factory()
    arguments = {"help": help_text, "default": default, "show_default": default is not None}
    if kind is bool:
        arguments.update(is_flag=True, show_default=False)
    elif kind is tuple:
        arguments.update(
            default=None if default is None else ",".join(str(item) for item in default),
            callback=_comma_list(field, item_kind),
        )
    elif spec.choices is not None:
        arguments["type"] = click.Choice(spec.choices)
    elif kind in (int, float) and (spec.minimum is not None or spec.maximum is not None):
        range_type = click.IntRange if kind is int else click.FloatRange
        arguments["type"] = range_type(spec.minimum, spec.maximum, min_open=spec.min_open,
                                       max_open=spec.max_open)
    else:
        arguments["type"] = kind
    if spec.check is not None and kind is not tuple:
        arguments["callback"] = _checked(field)
    return click.option(*flags, field.name, **arguments)


def config_options(config_class):
    """A decorator adding the options of a settings dataclass to a click command.

    The command receives one keyword argument per option, named as the
    field; pass them to `build_config`.

    Args:
        config_class: a dataclass whose fields have `setting()` metadata.

    Returns:
        The decorator.

    Raises:
        TypeError: if two options would share a name (a bug in the dataclasses).

    Example:

    >>> import click
    >>> from click.testing import CliRunner
    >>> from keras_adapters.cli.config_options import build_config, config_options
    >>> from keras_adapters.training import TrainConfig
    >>> @click.command()
    ... @config_options(TrainConfig)
    ... def show(**options):
    ...     print(build_config(TrainConfig, options).epochs)
    >>> CliRunner().invoke(show, ["--epochs", "3"]).output
    '3\\n'
    >>> result = CliRunner().invoke(show, ["--epochs", "0"])
    >>> result.exit_code, result.output.splitlines()[-1]
    (2, "Error: Invalid value for '--epochs': 0 is not in the range x>=1.")
    """
    options = list(_option_fields(config_class))
    names = [field.name for field, _, _ in options]
    if len(set(names)) != len(names):
        raise TypeError(f"{config_class.__name__}: option names must be distinct; got {names}.")

    def decorate(function):
        for field, spec, help_text in reversed(options):
            function = _option(field, spec, help_text)(function)
        return function

    return decorate


def build_config(config_class, options):
    """The settings dataclass of parsed options (what `config_options` added).

    Fields without an option (omitted or `command_line=False`) keep their
    defaults.

    Args:
        config_class: the dataclass given to `config_options`.
        options: the command's keyword arguments.

    Returns:
        A `config_class` instance.

    Example:

    >>> from keras_adapters.cli.config_options import build_config
    >>> from keras_adapters.cli.tune_command import tune
    >>> from keras_adapters.tuning.config import TuneConfig
    >>> options = tune.make_context("tune", ["--epochs", "1", "--bottlenecks", "8,64"]).params
    >>> config = build_config(TuneConfig, options)
    >>> config.train.epochs, config.bottleneck_sizes, config.output_dir
    (1, (8, 64), 'runs/adapter-tune')
    """
    return _build(config_class, options, omit=())


def _build(config_class, options, omit):
    values = {}
    for field in dataclasses.fields(config_class):
        spec = setting_of(field)
        if spec is None or not spec.command_line or field.name in omit:
            continue
        kind = field_kind(field)[0]
        if dataclasses.is_dataclass(kind):
            values[field.name] = _build(kind, options, spec.omit)
        else:
            values[field.name] = options[field.name]
    return config_class(**values)
