"""Every layer and every supported backbone family keeps the Keras layer contract.

`helpers.run_layer_test`: config and `.keras` round trips with equal
outputs, mixed precision (compute dtype of the policy, float32 variables),
and masks passing through (Keras masks for layers, padding masks for
backbones).
"""

import numpy as np
import pytest

from keras_adapters import Fuse, add_adapters, supported_backbones
from keras_adapters.layers import AdapterFusion, AdapterLayer, AdapterSlot

from helpers import HIDDEN, TINY_BACKBONES, assert_padding_is_ignored, inputs_for, run_layer_test

_rng = np.random.default_rng(0)
X = _rng.normal(size=(2, 5, HIDDEN)).astype("float32")
# A Keras mask with padding at the end of the first sequence.
MASK = np.array([[True, True, True, False, False], [True] * 5])


def adapter_layer(dtype=None):
    # Large initial weights: the adapter branch changes the output visibly,
    # so a round trip that lost weights or settings would show.
    return AdapterLayer(4, activation="gelu_approximate", init_scale=0.3, scaling=0.5, dtype=dtype)


def test_adapter_layer(tmp_path):
    run_layer_test(adapter_layer, (X,), tmp_path, mask=MASK)


def test_adapter_fusion(tmp_path):
    adapter_outputs = [X + 1.0, 2.0 * X]
    run_layer_test(lambda dtype=None: AdapterFusion(temperature=0.5, dtype=dtype),
                   (X, adapter_outputs), tmp_path, mask=MASK)


def adapter_slot(dtype=None):
    """A slot with two adapters and their fusion, the fusion active."""
    slot = AdapterSlot(dropout_rate=0.1, dtype=dtype)
    slot.build((None, 5, HIDDEN))
    slot.add_adapter("a", adapter_layer(dtype))
    slot.add_adapter("b", adapter_layer(dtype))
    slot.add_fusion(("a", "b"), AdapterFusion(dtype=dtype))
    slot.active_setup = Fuse("a", "b")
    return slot


def test_adapter_slot_with_adapters_and_fusion(tmp_path):
    slot = run_layer_test(adapter_slot, (X,), tmp_path, mask=MASK)
    # The fusion is what runs: without it the output differs.
    fused = slot(X, training=False)
    slot.active_setup = "a"
    assert np.abs(np.asarray(slot(X, training=False)) - np.asarray(fused)).max() > 1e-3


def test_every_supported_family_is_covered():
    assert sorted(TINY_BACKBONES) == sorted(supported_backbones())


# Each family is checked under one mixed-precision policy (both policies
# on the layers above): a backbone takes seconds to build on the CPU.
FAMILY_POLICIES = {
    family: ("mixed_float16", "mixed_bfloat16")[index % 2]
    for index, family in enumerate(sorted(TINY_BACKBONES))
}


@pytest.mark.parametrize("family", sorted(TINY_BACKBONES))
def test_adapted_backbone(family, tmp_path):
    base = TINY_BACKBONES[family]()

    def adapted(dtype=None):
        plain = base if dtype is None else TINY_BACKBONES[family](dtype=dtype)
        return add_adapters(plain, "houlsby", bottleneck_size=4, init_scale=0.3)

    backbone = run_layer_test(adapted, inputs_for(base), tmp_path, policies=(FAMILY_POLICIES[family],))
    assert_padding_is_ignored(backbone, inputs_for(base))
