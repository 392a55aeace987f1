"""The `keras-adapters` command group (also `python -m keras_adapters`).

Defined in `keras_adapters_launcher`, outside this package, so that
`keras-adapters --help` answers without importing the library; this name is
kept for callers and tests that invoke `keras_adapters.cli.main:main`.
"""

from keras_adapters_launcher import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
