"""Reading a question-answering run directory back: `LoadedQuestionAnswerer`.

`keras_adapters.training.load_run` returns one for a run whose `run.json`
says `"task": "question-answering"`; the checks are those of a
classification run (complete directory, digest-checked adapter files, the
same base backbone by fingerprint).
"""

import dataclasses
import os

import keras

from keras_adapters.config import AdapterConfig
from keras_adapters.data.question_answering import QAExample
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import (
    backbone_fingerprint,
    load_backbone,
    load_preprocessor,
)
from keras_adapters.saving import load_adapters, read_adapter_file, read_adapter_weights
from keras_adapters.training.output_dir import RunError
from keras_adapters.training.question_answering import (
    answer_questions,
    build_question_answerer,
    score_examples,
)
from keras_adapters.training.run_directory import ADAPTER_DIR

__all__ = ["LoadedQuestionAnswerer", "load_question_answerer"]


@dataclasses.dataclass
class LoadedQuestionAnswerer:
    """A trained `SpanQuestionAnswerer` rebuilt from a run directory.

    Attributes:
        model: the `SpanQuestionAnswerer` with the run's best adapter.
        tokenizer: the preset's WordPiece tokenizer.
        sequence_length: tokens per window, as trained.
        info: the parsed `run.json`.
    """

    model: keras.Model
    tokenizer: object
    sequence_length: int
    info: dict

    def answer(self, questions, contexts):
        """`(answers, scores)`: the best span of each context for its question.

        Args:
            questions: list of question strings.
            contexts: list of context strings, one per question (any
                length: long contexts are read in overlapping windows).

        Returns:
            A list of answer strings (spans of the contexts) and a list of
            their scores (`start_logit + end_logit`).

        Raises:
            KerasAdaptersError: if the two lists differ in length.
        """
        if len(questions) != len(contexts):
            raise KerasAdaptersError(f"Give one context per question; got {len(questions)} "
                                     f"questions and {len(contexts)} contexts.")
        examples = [QAExample(context, question) for question, context in zip(questions, contexts)]
        return answer_questions(self.model, self.tokenizer, examples, self.sequence_length)

    def evaluate(self, examples):
        """SQuAD `exact_match` and `f1` (percent) on a list of `QAExample`."""
        return score_examples(self.model, self.tokenizer, examples, self.sequence_length)


def load_question_answerer(run_dir, info):
    """Rebuilds the question answerer of a run directory (`load_run` calls it).

    Args:
        run_dir: a directory written by `train_question_answerer`.
        info: its parsed `run.json`.

    Returns:
        A `LoadedQuestionAnswerer`.

    Raises:
        RunError: if the directory has no checkpoint, `run.json` lacks a
            field, disagrees with the adapter file, or the base backbone
            differs from the one trained on.
        KerasAdaptersError: if the adapter files fail verification.
    """
    config = info.get("config")
    if not isinstance(config, dict) or not all(
            isinstance(config.get(field), kind) for field, kind in
            (("preset", str), ("sequence_length", int), ("head_dropout", (int, float)))):
        raise RunError(f"The run file of {run_dir!r} is damaged: its config lacks preset, "
                       "sequence_length or head_dropout. Train again.")
    adapter_dir = os.path.join(run_dir, ADAPTER_DIR)
    if not os.path.isdir(adapter_dir):
        raise RunError(f"{run_dir!r} has no {ADAPTER_DIR}/ checkpoint: its training stopped "
                       "before the first epoch finished. Train again.")
    document = read_adapter_file(adapter_dir)
    try:
        in_run = AdapterConfig.from_dict(info.get("adapter_config")).to_dict()
    except KerasAdaptersError as e:
        raise RunError(f"The run file of {run_dir!r} has an invalid adapter_config: {e}") from None
    if in_run != document["adapter_config"].to_dict():
        raise RunError(f"run.json and {adapter_dir!r} record different adapter configs: one was "
                       "edited or comes from another run, so nothing was loaded.")
    read_adapter_weights(adapter_dir, document)
    backbone = load_backbone(config["preset"])
    if backbone_fingerprint(backbone) != info.get("backbone_fingerprint"):
        raise RunError(f"The backbone loaded from preset {config['preset']!r} is not the one this "
                       "run was trained on (its config or weights differ). Restore that preset's files.")
    model = build_question_answerer(backbone, document["adapter_config"], config["head_dropout"],
                                    name=document["adapter_name"])
    load_adapters(model, adapter_dir)
    tokenizer = load_preprocessor(config["preset"], config["sequence_length"]).tokenizer
    return LoadedQuestionAnswerer(model, tokenizer, config["sequence_length"], info)
