"""The `keras-adapters` commands, one module per group of commands.

`keras_adapters_launcher` (outside the package) is the command's root; it
imports these modules when their command is asked for (help included;
TensorFlow starts only when the command runs): `run_commands` (train,
predict, evaluate), `tune_command`, `export_commands` (export,
check-export). `config_options` generates options from the settings
dataclasses; `console` holds what every command prints and its error
handling.
"""
