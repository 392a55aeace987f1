"""Built-in adapter presets: each method with the settings of the paper it comes from.

`AdapterConfig.from_preset(name)` builds one (so does a preset name passed
as `config=` anywhere a config is taken); fields given alongside override
the preset's.

Example:

>>> from keras_adapters.adapter_presets import PRESETS
>>> sorted(PRESETS)
['houlsby', 'ia3', 'lora', 'parallel', 'pfeiffer']
>>> PRESETS["pfeiffer"]["placements"]
('feedforward',)
"""

__all__ = ["PRESETS"]

PRESETS = {
    # Houlsby et al. 2019: two adapters per block, layer norms trained.
    "houlsby": dict(
        bottleneck_size=64,
        activation="gelu",
        placements=("attention", "feedforward"),
        initialization="houlsby",
        train_layer_norms=True,
    ),
    # Pfeiffer et al. 2021 (AdapterFusion): one adapter after the feed-forward
    # block, base layer norms frozen, bottleneck = hidden size / 16.
    "pfeiffer": dict(
        reduction_factor=16,
        activation="relu",
        placements=("feedforward",),
        initialization="houlsby",
        train_layer_norms=False,
    ),
    # He et al. 2022's scaled parallel adapter: on the feed-forward sublayer,
    # reading its input, s=4, bottleneck = hidden size / 2 (their 512 for
    # d=1024), LoRA-style init (zero up-projection: exact identity at start).
    "parallel": dict(
        kind="parallel",
        reduction_factor=2,
        activation="relu",
        placements=("feedforward",),
        initialization="zero_up",
        scaling=4.0,
        train_layer_norms=False,
    ),
    # LoRA on the query and value projections, rank 8, alpha = rank (scale
    # 1): the setting of KerasHub's `enable_lora(8)`.
    "lora": dict(kind="lora", rank=8, targets=("query", "value"), train_layer_norms=False),
    # (IA)^3: rescaling of keys, values and the feed-forward activation.
    "ia3": dict(kind="ia3", targets=("key", "value", "ffn_intermediate"), train_layer_norms=False),
}
