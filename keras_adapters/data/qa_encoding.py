"""Question answering with a WordPiece tokenizer: windows, span labels, decoding.

- Offsets: KerasHub's WordPiece tokenizers give no character offsets, so the
  context is split on whitespace, each word is tokenized on its own (the
  word pieces are the same: WordPiece never crosses whitespace), and each
  piece is found in the word as the tokenizer normalises it (lower case,
  accents stripped when the tokenizer does so), mapped back to the
  original characters. A piece that cannot be found (`[UNK]`) spans the
  characters between its neighbours.
- Windows: `[CLS] question [SEP] context piece [SEP]`, segment 0 then 1.
  The question keeps at most `max_question_tokens` pieces; a context longer
  than the rest of the sequence is cut into overlapping windows, each
  starting `stride` pieces after the previous one (half a window by
  default), so every answer fits whole in at least one window.
- Labels: the start and end token of the first gold answer in the window
  it falls in whole; a window that does not hold the whole answer, and an
  unanswerable question, are labelled with the `[CLS]` position (0) for
  both, the convention of BERT's SQuAD 2.0 recipe. Such windows stay in the
  training data, which teaches the model a low score for spans in windows
  without the answer.
- Decoding: over all windows of an example, the context span
  `start <= end < start + max_answer_tokens` with the highest
  `start_logit + end_logit`, returned as the context's own characters.
"""

import dataclasses
import unicodedata

import numpy as np

from keras_adapters.errors import KerasAdaptersError

__all__ = ["QAFeatures", "decode_answers", "encode_qa", "word_piece_offsets"]

#: The `[CLS]` position, label of windows without the answer.
NO_ANSWER_POSITION = 0


@dataclasses.dataclass
class QAFeatures:
    """Model inputs and labels for the windows of a list of `QAExample`.

    Attributes:
        features: dict of int32 arrays `(windows, sequence_length)`:
            `token_ids`, `segment_ids`, `padding_mask`.
        start_positions, end_positions: int32 `(windows,)`: the answer's
            first and last token, or 0 (`[CLS]`) when the window does not
            hold it whole.
        example_index: int32 `(windows,)`: the example each window is of.
        offsets: int32 `(windows, sequence_length, 2)`: each context
            token's character span `[start, end)` in its context; -1 for
            `[CLS]`, question, `[SEP]` and padding tokens.
    """

    features: dict
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    offsets: np.ndarray

    @property
    def labels(self):
        """`{"start_logits": ..., "end_logits": ...}`, the targets `fit` takes."""
        return {"start_logits": self.start_positions, "end_logits": self.end_positions}


def _ids(tokenizer, texts):
    ids = tokenizer(list(texts))
    return ids.to_list() if hasattr(ids, "to_list") else [list(map(int, row)) for row in ids]


def _normalised(word, lowercase, strip_accents):
    """The word as the tokenizer compares it, and each character's source index."""
    characters, sources = [], []
    for index, character in enumerate(word):
        text = unicodedata.normalize("NFKC", character).casefold() if lowercase else character
        if strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        characters.append(text)
        sources += [index] * len(text)
    return "".join(characters), sources


def word_piece_offsets(tokenizer, text):
    """Tokenizes `text` into word-piece ids with each piece's character span.

    Args:
        tokenizer: a KerasHub WordPiece tokenizer (e.g. `BertTokenizer`).
        text: the string.

    Returns:
        `(ids, offsets)`: a list of ids and a list of `(start, end)`
        character spans in `text`, one per id.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.data.qa_encoding import word_piece_offsets
    >>> tokenizer = keras_hub.models.BertTokenizer(vocabulary=[
    ...     "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "in", "paris", "tower", "##s", "."],
    ...     lowercase=True)
    >>> ids, offsets = word_piece_offsets(tokenizer, "Towers in Paris.")
    >>> [tokenizer.id_to_token(i) for i in ids], offsets
    (['tower', '##s', 'in', 'paris', '.'], [(0, 5), (5, 6), (7, 9), (10, 15), (15, 16)])
    """
    words, starts, position = [], [], 0
    for word in text.split():
        position = text.index(word, position)
        words.append(word)
        starts.append(position)
        position += len(word)
    if not words:
        return [], []
    vocabulary = tokenizer.get_vocabulary()
    suffix = getattr(tokenizer, "suffix_indicator", "##")
    lowercase = getattr(tokenizer, "lowercase", False)
    strip_accents = getattr(tokenizer, "strip_accents", False)
    all_ids, all_offsets = [], []
    for word, word_start, ids in zip(words, starts, _ids(tokenizer, words)):
        normalised, sources = _normalised(word, lowercase, strip_accents)
        spans, cursor = [], 0
        for token_id in ids:
            piece = vocabulary[token_id]
            piece = piece.removeprefix(suffix)
            found = normalised.find(piece, cursor) if piece else -1
            if found < 0 or piece == getattr(tokenizer, "oov_token", "[UNK]"):
                spans.append(None)
                continue
            spans.append((sources[found], sources[found + len(piece) - 1] + 1))
            cursor = found + len(piece)
        # Unfound pieces span the characters between their neighbours.
        for i, span in enumerate(spans):
            if span is None:
                before = spans[i - 1][1] if i and spans[i - 1] else 0
                after = next((s[0] for s in spans[i + 1:] if s), len(word))
                spans[i] = (before, max(before, after))
        all_ids += ids
        all_offsets += [(word_start + a, word_start + b) for a, b in spans]
    return all_ids, all_offsets


def encode_qa(tokenizer, examples, sequence_length, stride=None, max_question_tokens=64):
    """Encodes examples as windows of `[CLS] question [SEP] context [SEP]`.

    Args:
        tokenizer: a KerasHub WordPiece tokenizer with `[CLS]`/`[SEP]`/`[PAD]`
            (e.g. `BertTokenizer`).
        examples: a list of `QAExample`.
        sequence_length: tokens per window (at most the backbone's maximum).
        stride: context pieces from one window's start to the next; default
            half the context part of a window.
        max_question_tokens: longer questions are cut to this many pieces.

    Returns:
        A `QAFeatures` (one or more windows per example).

    Raises:
        KerasAdaptersError: if `sequence_length` leaves fewer than 8 context
            tokens after the question, or `stride` is out of range.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.data.question_answering import QAExample
    >>> from keras_adapters.data.qa_encoding import encode_qa
    >>> tokenizer = keras_hub.models.BertTokenizer(vocabulary=[
    ...     "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "where", "is", "the", "tower", "in", "paris", "?", "."],
    ...     lowercase=True)
    >>> example = QAExample("The tower is in Paris.", "Where is the tower?", ("Paris",), (16,))
    >>> encoded = encode_qa(tokenizer, [example], sequence_length=16)
    >>> start, end = int(encoded.start_positions[0]), int(encoded.end_positions[0])
    >>> tokenizer.id_to_token(int(encoded.features["token_ids"][0, start])), start == end
    ('paris', True)
    """
    question_limit = min(max_question_tokens, max(1, sequence_length // 2))
    questions = [ids[:question_limit] for ids in _ids(tokenizer, [e.question for e in examples])]
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    rows = {"token_ids": [], "segment_ids": [], "padding_mask": []}
    starts, ends, owners, all_offsets = [], [], [], []
    for index, (example, question) in enumerate(zip(examples, questions)):
        budget = sequence_length - len(question) - 3
        if budget < 8:
            raise KerasAdaptersError(
                f"`sequence_length` {sequence_length} leaves {budget} context tokens after a "
                f"{len(question)}-token question; use at least {len(question) + 11}."
            )
        step = budget // 2 if stride is None else stride
        if not 1 <= step <= budget:
            raise KerasAdaptersError(f"`stride` must be from 1 to {budget} (the context part); got {step}.")
        context_ids, context_offsets = word_piece_offsets(tokenizer, example.context)
        answer = (example.answer_starts[0], example.answer_starts[0] + len(example.answers[0])) \
            if example.answers else None
        window_start = 0
        while True:
            window = slice(window_start, window_start + budget)
            ids, offsets = context_ids[window], context_offsets[window]
            prefix = [cls, *question, sep]
            tokens = prefix + ids + [sep]
            padding = sequence_length - len(tokens)
            rows["token_ids"].append(tokens + [pad] * padding)
            rows["segment_ids"].append([0] * len(prefix) + [1] * (len(ids) + 1) + [0] * padding)
            rows["padding_mask"].append([1] * len(tokens) + [0] * padding)
            row_offsets = np.full((sequence_length, 2), -1, "int32")
            if offsets:
                row_offsets[len(prefix): len(prefix) + len(ids)] = offsets
            all_offsets.append(row_offsets)
            start, end = _span_in_window(answer, offsets)
            starts.append(start + len(prefix) if start is not None else NO_ANSWER_POSITION)
            ends.append(end + len(prefix) if end is not None else NO_ANSWER_POSITION)
            owners.append(index)
            if window_start + budget >= len(context_ids):
                break
            window_start += step
    return QAFeatures(
        {key: np.asarray(value, "int32").reshape(-1, sequence_length) for key, value in rows.items()},
        np.asarray(starts, "int32"),
        np.asarray(ends, "int32"),
        np.asarray(owners, "int32"),
        np.asarray(all_offsets, "int32").reshape(-1, sequence_length, 2),
    )


def _span_in_window(answer, offsets):
    """The answer's first and last piece in `offsets`, or (None, None) if not whole inside."""
    if answer is None or not offsets:
        return None, None
    begin, finish = answer
    if begin < offsets[0][0] or finish > offsets[-1][1]:
        return None, None
    first = next((i for i, (_, end) in enumerate(offsets) if end > begin), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < finish), None)
    if first is None or last is None or last < first:
        return None, None
    return first, last


def decode_answers(start_logits, end_logits, encoded, examples, max_answer_tokens=30):
    """The best answer of each example, over all its windows.

    Args:
        start_logits, end_logits: float arrays `(windows, sequence_length)`.
        encoded: the `QAFeatures` the logits are of.
        examples: the examples encoded (index-aligned with
            `encoded.example_index`).
        max_answer_tokens: longest answer considered, in word pieces.

    Returns:
        `(answers, scores)`: one string per example (a span of its context;
        "" only for an example whose windows hold no context token) and its
        `start_logit + end_logit`.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.data.qa_encoding import QAFeatures, decode_answers
    >>> from keras_adapters.data.question_answering import QAExample
    >>> offsets = np.array([[[-1, -1], [0, 3], [4, 10], [11, 16]]], "int32")
    >>> encoded = QAFeatures({}, None, None, np.array([0]), offsets)
    >>> start = np.array([[9.0, -9.0, 5.0, 1.0]])  # [CLS] is never an answer
    >>> end = np.array([[9.0, 8.0, 0.0, 2.0]])     # end 1 is before start 2
    >>> decode_answers(start, end, encoded, [QAExample("the Eiffel Tower", "?")])
    (['Eiffel Tower'], [7.0])
    """
    start_logits = np.asarray(start_logits, "float64")
    end_logits = np.asarray(end_logits, "float64")
    length = start_logits.shape[1]
    positions = np.arange(length)
    band = (positions[None, :] >= positions[:, None]) & (
        positions[None, :] - positions[:, None] < max_answer_tokens)
    best = [(-np.inf, "") for _ in examples]
    for row, owner in enumerate(encoded.example_index):
        in_context = encoded.offsets[row, :, 0] >= 0
        if not in_context.any():
            continue
        scores = start_logits[row][:, None] + end_logits[row][None, :]
        scores = np.where(band & in_context[:, None] & in_context[None, :], scores, -np.inf)
        start, end = np.unravel_index(np.argmax(scores), scores.shape)
        if scores[start, end] > best[owner][0]:
            context = examples[owner].context
            text = context[encoded.offsets[row, start, 0]: encoded.offsets[row, end, 1]]
            best[owner] = (float(scores[start, end]), text)
    return [text for _, text in best], [score if np.isfinite(score) else None for score, _ in best]
