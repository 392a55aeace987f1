"""Parameter budgets of a search, and the per-trial entries `fit` records."""

#: Extra per-epoch entries `AdapterHyperModel.fit` adds to the history, so
#: keras-tuner records them with each trial's metrics (`trial.metrics`).
TRAINABLE_PARAMETERS = "trainable_parameters"
FIT_SECONDS = "fit_seconds"

#: The budgets a trial can exceed: this hypermodel's own and keras-tuner's
#: (`max_model_size`, also a count of trainable parameters).
OWN_BUDGET = "max_trainable_parameters"
KERAS_TUNER_BUDGET = "max_model_size"


class ParameterBudget:
    """Mixin of `AdapterHyperModel`: which budget a trial's model exceeded.

    Reads `parameter_counts` and `over_budget`, which the hypermodel fills
    in `build` and `fit`.
    """

    def budget_exceeded(self, values, max_model_size=None):
        """The parameter budget a trial's model exceeded, or None.

        Args:
            values: the trial's hyperparameter values.
            max_model_size: the tuner's `max_model_size`, if any: keras-tuner
                rejects a model with more trainable parameters than that
                right after `build`, before `fit`.

        Returns:
            `OWN_BUDGET`, `KERAS_TUNER_BUDGET` or None (within budget, or
            never built).
        """
        key = self.values_key(values)
        if key in self.over_budget:
            return self.over_budget[key]
        trainable, _ = self.parameter_counts.get(key, (None, None))
        if max_model_size and trainable is not None and trainable > max_model_size:
            return KERAS_TUNER_BUDGET
        return None
