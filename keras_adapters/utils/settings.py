"""Settings fields: dataclass fields that carry their allowed values and help.

A settings dataclass (`TrainConfig`, `TuneConfig`) declares each field as
`dataclasses.field(default=..., metadata=setting(...))`: its default, what it
allows (a number range, choices, a list of such values, a check function) and
a one-line help. `check_settings` enforces exactly that,
`keras_adapters.cli.config_options` turns the same fields into command-line
options and `document_settings` into the class's `Args:`, so a default, a
limit or a help text is written once.

The kind of value comes from the field's annotation: `int`, `float`, `str`,
`bool`, `tuple[X, ...]` (a list of X), any of them `| None`, or another
settings dataclass (nested settings, checked field by field).
"""

import dataclasses
import types
import typing

from keras_adapters.errors import KerasAdaptersError

# check_value, describe_allowed, field_kind and setting_of are shared with
# keras_adapters.cli.config_options.
__all__ = ["Setting", "check_settings", "document_settings", "setting"]

_METADATA_KEY = "keras_adapters.setting"
_KIND_NAMES = {int: "integer", float: "number", str: "string", bool: "True or False"}


@dataclasses.dataclass(frozen=True)
class Setting:
    """What a settings field allows, and how it is described.

    Attributes:
        help: one-line description (the command-line help).
        flags: command-line names, e.g. `("--learning-rate", "--lr")`;
            empty: `--field-name`.
        minimum, maximum: number limits (None: unbounded).
        min_open, max_open: whether the limit itself is excluded.
        choices: the allowed values, or None.
        check: optional callable raising `KerasAdaptersError` for a bad
            value (for syntax a range cannot express).
        command_line: whether the command line offers the field.
        omit: for a nested settings field, the names of its fields that the
            command line does not offer.
        nested_help: for a nested settings field, help texts that replace
            those of its fields on the command line (name -> text).
    """

    help: str
    flags: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple | None = None
    check: typing.Callable | None = None
    command_line: bool = True
    omit: tuple = ()
    nested_help: dict = dataclasses.field(default_factory=dict, hash=False)

    def describe(self, kind):
        """What a value of `kind` (int, float, str, bool) must be, in words."""
        if self.choices is not None:
            return "one of " + ", ".join(str(choice) for choice in self.choices)
        name = _KIND_NAMES[kind]
        article = "an" if name[0] in "aeiou" else "a"
        low, high = self.minimum, self.maximum
        if low is None and high is None:
            return f"{article} {name}" if kind is not bool else name
        if high is None:
            if low == 0 and self.min_open or kind is int and low == 1 and not self.min_open:
                return f"a positive {name}"
            return f"{article} {name} {'>' if self.min_open else '>='} {low:g}"
        if low is None:
            return f"{article} {name} {'<' if self.max_open else '<='} {high:g}"
        left, right = "(" if self.min_open else "[", ")" if self.max_open else "]"
        return f"{article} {name} in {left}{low:g}, {high:g}{right}"

    def allows(self, value):
        """Whether a value of the right kind is within the limits and choices."""
        if self.choices is not None and value not in self.choices:
            return False
        # Comparisons written so that NaN fails them.
        if self.minimum is not None and not (
            value > self.minimum if self.min_open else value >= self.minimum
        ):
            return False
        if self.maximum is not None and not (
            value < self.maximum if self.max_open else value <= self.maximum
        ):
            return False
        return True


def setting(*, help, **allowed):
    """The field metadata of a setting: what it allows and its help.

    Args:
        help: one-line description.
        **allowed: the other `Setting` attributes (`flags`, `minimum`,
            `maximum`, `min_open`, `max_open`, `choices`, `check`,
            `command_line`, `omit`, `nested_help`).

    Returns:
        A dict for `dataclasses.field(metadata=...)`.

    Example:

    >>> import dataclasses
    >>> from keras_adapters.utils.settings import check_settings, setting
    >>> @dataclasses.dataclass
    ... class Fit:
    ...     epochs: int = dataclasses.field(
    ...         default=2, metadata=setting(minimum=1, help="Passes over the data."))
    >>> check_settings(Fit(epochs=0))
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: `epochs` must be a positive integer; got 0.
    """
    return {_METADATA_KEY: Setting(help=help, **allowed)}


def setting_of(field):
    """The `Setting` in a dataclass field's metadata, or None if it has none."""
    return field.metadata.get(_METADATA_KEY)


def field_kind(field):
    """The kind of value a settings field holds, read from its annotation.

    Args:
        field: a `dataclasses.Field` of a settings dataclass (annotations
            evaluated, i.e. no `from __future__ import annotations`).

    Returns:
        `(kind, item_kind, optional)`: `kind` is int, float, str, bool,
        tuple (then `item_kind` is the kind of its items) or a settings
        dataclass; `optional` says whether None is allowed.

    Raises:
        TypeError: for an annotation this module does not handle (a bug in
            the dataclass, not user input).
    """
    annotation, optional = field.type, False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"Settings field {field.name!r}: unsupported annotation {field.type!r}.")
        annotation = members[0]
    if typing.get_origin(annotation) is tuple:
        item_kind = typing.get_args(annotation)[0]
        if item_kind not in _KIND_NAMES:
            raise TypeError(f"Settings field {field.name!r}: unsupported annotation {field.type!r}.")
        return tuple, item_kind, optional
    if annotation in _KIND_NAMES or dataclasses.is_dataclass(annotation):
        return annotation, None, optional
    raise TypeError(f"Settings field {field.name!r}: unsupported annotation {field.type!r}.")


def _is_kind(value, kind):
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def describe_allowed(field):
    """What a settings field allows, in words (as error messages say it).

    Args:
        field: a `dataclasses.Field` with `setting()` metadata.

    Returns:
        A string such as "a positive integer or None".
    """
    spec = setting_of(field)
    kind, item_kind, optional = field_kind(field)
    if dataclasses.is_dataclass(kind):
        text = f"a {kind.__name__}"
    elif kind is tuple:
        text = f"a non-empty list of distinct values, each {spec.describe(item_kind)}"
    else:
        text = spec.describe(kind)
    return text + (" or None" if optional else "")


def check_value(field, value):
    """Checks one value of a settings field.

    Args:
        field: a `dataclasses.Field` with `setting()` metadata.
        value: the value to check.

    Raises:
        KerasAdaptersError: naming the field, what it allows and the value.
    """
    spec = setting_of(field)
    kind, item_kind, optional = field_kind(field)
    if value is None and optional:
        return
    if dataclasses.is_dataclass(kind):
        ok = isinstance(value, kind)
    elif kind is tuple:
        items = list(value) if isinstance(value, (tuple, list)) else []
        ok = bool(items) and len(set(items)) == len(items) and all(
            _is_kind(item, item_kind) and spec.allows(item) for item in items
        )
    else:
        ok = _is_kind(value, kind) and spec.allows(value)
    if not ok:
        raise KerasAdaptersError(f"`{field.name}` must be {describe_allowed(field)}; got {value!r}.")
    if dataclasses.is_dataclass(kind):
        check_settings(value)
    elif spec.check is not None:
        spec.check(value)


def check_settings(instance):
    """Checks every field of a settings dataclass with `setting()` metadata.

    Args:
        instance: a settings dataclass instance.

    Returns:
        None.

    Raises:
        KerasAdaptersError: for the first field whose value is not allowed.

    Example:

    >>> from keras_adapters.training import TrainConfig
    >>> from keras_adapters.utils.settings import check_settings
    >>> check_settings(TrainConfig(warmup_fraction=1.0))
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: `warmup_fraction` must be a number in [0, 1); got 1.0.
    """
    for field in dataclasses.fields(instance):
        if setting_of(field) is not None:
            check_value(field, getattr(instance, field.name))


def document_settings(cls):
    """Class decorator: adds an `Args:` section built from the settings' help.

    Each field with `setting()` metadata is listed with its help, what it
    allows and its default, before the docstring's `Example:` section (or at
    its end), so the API documentation says what `--help` says.

    Args:
        cls: a settings dataclass (apply this decorator above `@dataclass`).

    Returns:
        `cls`, its docstring extended.

    Example:

    >>> import dataclasses
    >>> from keras_adapters.utils.settings import document_settings, setting
    >>> @document_settings
    ... @dataclasses.dataclass
    ... class Fit:
    ...     \"""Fitting settings.\"""
    ...     epochs: int = dataclasses.field(
    ...         default=2, metadata=setting(minimum=1, help="Passes over the data."))
    >>> import inspect
    >>> print(inspect.getdoc(Fit))
    Fitting settings.
    <BLANKLINE>
    Args:
        epochs: Passes over the data. A positive integer; default 2.
    """
    lines = ["    Args:"]
    for field in dataclasses.fields(cls):
        spec = setting_of(field)
        if spec is None:
            continue
        if field.default is not dataclasses.MISSING:
            default = f"; default {field.default!r}"
        elif dataclasses.is_dataclass(field_kind(field)[0]):
            default = "; default: its defaults"
        else:
            default = ""
        allowed = describe_allowed(field)
        lines.append(f"        {field.name}: {spec.help.rstrip('.')}. "
                     f"{allowed[0].upper()}{allowed[1:]}{default}.")
    section = "\n".join(lines) + "\n"
    doc = cls.__doc__ or ""
    marker = "\n    Example:"
    if marker in doc:
        head, tail = doc.split(marker, 1)
        cls.__doc__ = f"{head.rstrip()}\n\n{section}{marker}{tail}"
    else:
        cls.__doc__ = f"{doc.rstrip()}\n\n{section}"
    return cls
