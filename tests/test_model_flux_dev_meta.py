"""FLUX.1-dev-shaped weights (on the meta device, no memory) accept every strategy at 512x512, 512 text tokens."""

import pytest
import torch
from diffusers import FluxTransformer2DModel

from mdit.model import STRATEGIES, MDiTTransformer

TOKENS = (512 // 16) ** 2  # 512 px / (VAE x8 * 2x2 packing) = 32 x 32 tokens
TEXT = 512


@pytest.mark.parametrize("attention", list(STRATEGIES))
@torch.no_grad()
def test_flux_dev_config_runs_every_strategy(attention):
    with torch.device("meta"):
        base = FluxTransformer2DModel(guidance_embeds=True)  # diffusers defaults = FLUX.1-dev
        model = MDiTTransformer(base, attention)
        model.set_empty_caption(torch.randn(768))
        rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
        img_ids = torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).reshape(TOKENS, 3).float()
        x = torch.randn(1, TOKENS, 64)
        args = (
            torch.randn(1, TEXT, 4096),
            torch.randn(1, 768),
            torch.full((1,), 0.5),
            img_ids,
            torch.zeros(TEXT, 3),
            torch.full((1,), 3.5),
        )
        out = model(x, *args, mask_hidden_states=torch.randn(1, TOKENS, 64))
    assert out.shape == (1, TOKENS, 64)
    assert model.num_blocks == 19 + 38
    targets = 19 * 7 + 38 * 6  # every target resolved
    lora_a = [n for n, _ in model.named_parameters() if "lora_A" in n]
    if STRATEGIES[attention].mask_tokens:
        # image adapter + mask adapter (less the last block's unread query/MLP/out, plus the visual embedder)
        assert len(lora_a) == targets + targets - 3 + 1
    if attention == "concat":
        assert len(lora_a) == targets  # the image adapter only
    if attention == "concat":
        assert model.base.x_embedder.in_features == 128
    with torch.device("meta"):
        reference = FluxTransformer2DModel(guidance_embeds=True).state_dict()
    base = {k.replace(".base_layer.", "."): v.shape for k, v in model.base.state_dict().items() if "lora_" not in k}
    assert base.keys() == reference.keys()  # the base is diffusers' FLUX.1-dev layout, key for key
    widened = {"x_embedder.weight"} if attention == "concat" else set()
    assert {k for k, shape in base.items() if shape != reference[k].shape} == widened
