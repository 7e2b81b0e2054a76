"""The mask adapter trains through the multi-stream forward, with and without gradient checkpointing."""

import pytest
import torch
from model_helpers import inputs, randomize_lora, run, wrap


def _lora_grads(attention: str, checkpointing: bool) -> dict[str, torch.Tensor]:
    model, _ = wrap(attention)
    randomize_lora(model)
    model.requires_grad_(False)
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    model.gradient_checkpointing = checkpointing
    x, cond = inputs(False)
    run(model, x, cond, 0.4).square().mean().backward()
    return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("attention", ["holistic", "hard_decoupled", "improved_decoupled"])
def test_mask_adapter_gets_gradients_and_checkpointing_matches(attention):
    plain = _lora_grads(attention, checkpointing=False)
    # Every adapter matrix is in the graph: none sits where mask-token outputs are never read.
    assert plain and all(g is not None and g.abs().sum() > 0 for g in plain.values())
    checkpointed = _lora_grads(attention, checkpointing=True)
    for name, g in plain.items():
        torch.testing.assert_close(checkpointed[name], g, rtol=1e-5, atol=1e-7)
