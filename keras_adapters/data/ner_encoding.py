"""Named-entity features and scores: word pieces in, one tag per word and entity F1 out.

- `encode_ner(tokenizer, sentences, ...)` turns words into word-piece
  features for a `keras_adapters.tasks.TokenClassifier`: each word's label
  goes on its first word piece; the other pieces, `[CLS]`, `[SEP]` and
  padding get sample weight 0.
- `decode_tags` maps per-token predictions back to one tag per word, and
  `entity_scores` computes entity-level precision, recall and F1 with
  seqeval (exact span and type match, as `conlleval`).

The sentences come from `keras_adapters.data.ner` (`load_wnut16`,
`read_conll`).
"""

import dataclasses

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

from keras_adapters.data.ner import OUTSIDE

__all__ = ["EncodedNer", "decode_tags", "encode_ner", "entity_scores", "entity_spans"]


@dataclasses.dataclass(frozen=True)
class EncodedNer:
    """Word-piece features and labels for a `TokenClassifier`.

    Attributes:
        features: dict of int32 arrays `(num_sentences, sequence_length)`:
            `token_ids`, `segment_ids`, `padding_mask`.
        labels: int32 array of the same shape; the tag id of a word on its
            first word piece, 0 elsewhere.
        sample_weight: float32 array of the same shape: 1 on the first word
            piece of each kept word, 0 elsewhere.
        word_positions: per sentence, the position of each kept word's first
            word piece (words past `sequence_length` are dropped).
    """

    features: dict
    labels: np.ndarray
    sample_weight: np.ndarray
    word_positions: list


def encode_ner(tokenizer, sentences, label_names, sequence_length):
    """Tokenizes words into word pieces and aligns the tags with them.

    Args:
        tokenizer: a KerasHub word-piece tokenizer with `[CLS]`/`[SEP]`/
            `[PAD]` tokens (e.g. `keras_hub.models.BertTokenizer`, or the
            `.tokenizer` of `keras_adapters.pretrained.load_preprocessor`).
        sentences: `(tokens, tags)` pairs (tags may be None for inference:
            pass `(tokens, None)`).
        label_names: the tags, as in `NerData.label_names`.
        sequence_length: int, the padded length (including `[CLS]`, `[SEP]`).

    Returns:
        An `EncodedNer`.

    Raises:
        ValueError: for a tag not in `label_names`, or a sequence length
            below 3.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.data.ner_encoding import encode_ner
    >>> tokenizer = keras_hub.models.BertTokenizer(
    ...     vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york", "##er"],
    ...     lowercase=True)
    >>> encoded = encode_ner(tokenizer, [(("New", "Yorker"), ("B-loc", "O"))],
    ...                      ("O", "B-loc"), sequence_length=6)
    >>> encoded.features["token_ids"][0].tolist()
    [2, 5, 6, 7, 3, 0]
    >>> encoded.labels[0].tolist(), encoded.sample_weight[0].tolist()
    ([0, 1, 0, 0, 0, 0], [0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    """
    if sequence_length < 3:
        raise ValueError(f"`sequence_length` must be at least 3; got {sequence_length}.")
    index = {tag: i for i, tag in enumerate(label_names)}
    words = sorted({word for tokens, _ in sentences for word in tokens})
    pieces = {}
    if words:
        ragged = tokenizer(words)
        for word, ids in zip(words, ragged):
            ids = [int(i) for i in np.asarray(ids).reshape(-1)]
            pieces[word] = ids or [tokenizer.unk_token_id]
    count = len(sentences)
    token_ids = np.full((count, sequence_length), tokenizer.pad_token_id, "int32")
    labels = np.zeros((count, sequence_length), "int32")
    weights = np.zeros((count, sequence_length), "float32")
    mask = np.zeros((count, sequence_length), "int32")
    positions = []
    for row, (tokens, tags) in enumerate(sentences):
        ids = [tokenizer.cls_token_id]
        kept = []
        for k, word in enumerate(tokens):
            word_ids = pieces[word]
            if len(ids) + len(word_ids) > sequence_length - 1:
                break
            if tags is not None:
                if tags[k] not in index:
                    raise ValueError(f"Tag {tags[k]!r} is not in `label_names` {label_names}.")
                labels[row, len(ids)] = index[tags[k]]
            weights[row, len(ids)] = 1.0
            kept.append(len(ids))
            ids.extend(word_ids)
        ids.append(tokenizer.sep_token_id)
        token_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
        positions.append(kept)
    features = {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": mask,
    }
    return EncodedNer(features, labels, weights, positions)


def decode_tags(logits, word_positions, label_names):
    """One predicted tag per kept word, from per-token logits.

    Args:
        logits: array `(num_sentences, sequence_length, num_classes)`.
        word_positions: `EncodedNer.word_positions`.
        label_names: the tags.

    Returns:
        A list of tuples of tags, one per sentence.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.data.ner_encoding import decode_tags
    >>> logits = np.zeros((1, 4, 2)); logits[0, 1, 1] = 5.0
    >>> decode_tags(logits, [[1, 2]], ("O", "B-loc"))
    [('B-loc', 'O')]
    """
    predicted = np.asarray(logits).argmax(-1)
    return [
        tuple(label_names[predicted[row, position]] for position in positions)
        for row, positions in enumerate(word_positions)
    ]


def entity_spans(tags):
    """The entities of a BIO tag sequence, as `(type, start, end)` triples.

    Chunks as `conlleval` does (seqeval's default mode): an `I-X` that does
    not continue an entity of type X starts a new one. `end` is exclusive.

    Args:
        tags: a sequence of BIO tags.

    Returns:
        A set of `(type, start, end)` triples.

    Example:

    >>> from keras_adapters.data.ner_encoding import entity_spans
    >>> sorted(entity_spans(["B-loc", "I-loc", "O", "I-per", "B-per"]))
    [('loc', 0, 2), ('per', 3, 4), ('per', 4, 5)]
    """
    # seqeval's spans end inclusively.
    return {(kind, start, end + 1) for kind, start, end in get_entities(list(tags))}


def entity_scores(true_tags, predicted_tags):
    """Entity-level precision, recall and F1 (exact span and type).

    Computed by seqeval (micro average over entity types, chunked as
    `conlleval`), the standard scorer for CoNLL-style NER.

    Args:
        true_tags: list of tag sequences, one per sentence.
        predicted_tags: list of tag sequences, one per sentence, each no
            longer than its true sequence (a truncated prediction counts its
            missing words as `"O"`).

    Returns:
        A dict with `precision`, `recall`, `f1` (floats in [0, 1]) and the
        counts `true_entities`, `predicted_entities`, `correct`.

    Raises:
        ValueError: if there are no sentences, the numbers of sentences
            differ, or a prediction is longer than its sentence.

    Example:

    >>> from keras_adapters.data.ner_encoding import entity_scores
    >>> entity_scores([["B-loc", "I-loc", "O"]], [["B-loc", "O", "O"]])["f1"]
    0.0
    >>> entity_scores([["B-loc", "I-loc", "O"]], [["B-loc", "I-loc", "O"]])["f1"]
    1.0
    """
    truth = [list(tags) for tags in true_tags]
    predicted = [list(tags) for tags in predicted_tags]
    if not truth:
        raise ValueError("No sentences to score: `true_tags` is empty.")
    if len(truth) != len(predicted):
        raise ValueError(
            f"Got {len(truth)} true and {len(predicted)} predicted tag sequences; "
            "pass one prediction per sentence."
        )
    for number, (true_sequence, predicted_sequence) in enumerate(zip(truth, predicted)):
        missing = len(true_sequence) - len(predicted_sequence)
        if missing < 0:
            raise ValueError(
                f"Sentence {number} has {len(true_sequence)} tags but its prediction "
                f"{len(predicted_sequence)}; a prediction may be shorter (truncated), not longer."
            )
        predicted_sequence.extend([OUTSIDE] * missing)
    # Nested lists: seqeval chunks each sentence on its own.
    true_spans, predicted_spans = set(get_entities(truth)), set(get_entities(predicted))
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="micro", zero_division=0
    )
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "true_entities": len(true_spans),
        "predicted_entities": len(predicted_spans),
        "correct": len(true_spans & predicted_spans),
    }
