"""FLOP counting: attention counted on CPU, the count equals an analytic formula, the paper's figures."""

import pytest
import torch
from diffusers import FluxTransformer2DModel
from diffusers.models.attention_dispatch import dispatch_attention_fn
from model_helpers import GRID, LATENT, TEXT_LEN, tiny_flux

from mdit.cost.flops import GenerationShape, count_flops, generation_flops, paper_convention_macs, sampler_flops
from mdit.cost.report import flops_report, preset
from mdit.model import MDiTTransformer
from mdit.paper import PAPER_TABLE4

SHAPE = GenerationShape(
    image_tokens=GRID * GRID, text_tokens=TEXT_LEN, latent_features=LATENT, text_dim=32, pooled_dim=32, steps=3
)


def test_attention_is_counted_on_cpu():
    q, k = torch.randn(2, 10, 3, 8), torch.randn(2, 7, 3, 8)
    # QK^T and PV: 2 matmuls of B*H*Sq*Sk*D multiply-adds, 2 FLOPs each
    assert count_flops(lambda: dispatch_attention_fn(q, k, k)) == 2 * 2 * (2 * 3 * 10 * 7 * 8)


def analytic_none_flops(base: FluxTransformer2DModel, n_img: int, n_txt: int) -> int:
    """One `none` forward, batch 1, from the config alone: every linear layer and both attention matmuls."""
    c = base.config
    d = c.num_attention_heads * c.attention_head_dim
    n = n_img + n_txt
    macs = n_img * c.in_channels * d + n_txt * c.joint_attention_dim * d  # x_embedder, context_embedder
    macs += 256 * d + d * d + c.pooled_projection_dim * d + d * d  # timestep and pooled-text embedders
    per_block_attention = 2 * n * n * d  # QK^T and PV over all heads
    macs += c.num_layers * (2 * 6 * d * d + n * 12 * d * d + per_block_attention)  # 2 adaLN + qkv/out/MLP 4x
    macs += c.num_single_layers * (3 * d * d + n * 12 * d * d + per_block_attention)  # adaLN, qkv, mlp, out
    macs += 2 * d * d + n_img * d * c.in_channels  # norm_out's adaLN, proj_out
    return 2 * macs


def test_counted_flops_equal_the_analytic_formula():
    model = MDiTTransformer(tiny_flux(False), "none")
    assert generation_flops(model, SHAPE) == SHAPE.steps * analytic_none_flops(model.base, GRID * GRID, TEXT_LEN)


@pytest.mark.parametrize("attention", ["none", "concat", "holistic", "improved_decoupled"])
def test_one_counted_step_times_steps_equals_the_whole_sampler(attention):
    model = MDiTTransformer(tiny_flux(False), attention)
    model.set_empty_caption(torch.zeros(32))
    assert generation_flops(model, SHAPE) == sampler_flops(model, SHAPE)


def test_decoupled_cost_grows_slower_with_steps_than_holistic():
    longer = GenerationShape(**{**SHAPE.__dict__, "steps": 6})
    deltas = {}
    for attention in ("none", "holistic", "improved_decoupled"):
        model = MDiTTransformer(tiny_flux(False), attention)
        model.set_empty_caption(torch.zeros(32))
        deltas[attention] = generation_flops(model, longer) - generation_flops(model, SHAPE)
    # the static pass runs once: extra steps cost only attention to the cached K/V (plus LoRA-free X/T work)
    assert deltas["none"] < deltas["improved_decoupled"] < deltas["holistic"]


def test_paper_convention_reproduces_table_4():
    make_base, shape = preset("flux-dev", 512, 512, 28)
    for attention, paper in PAPER_TABLE4.items():
        with torch.device("meta"):
            model = MDiTTransformer(make_base(), attention)
        assert paper_convention_macs(model, shape) / 1e12 == pytest.approx(paper, rel=0.01)


def test_report_on_the_embedded_preset():
    from mdit.config import load_config

    cfg = load_config(
        None,
        [
            "backbone.hidden=48",
            "backbone.heads=3",
            "backbone.double_blocks=1",
            "backbone.single_blocks=1",
            "data.resolution=32",
        ],
    )
    report = flops_report("embedded", 32, 8, 4, cfg)
    rows = report["variants"]
    assert set(rows) == {"concat", "holistic", "hard_decoupled", "improved_decoupled"}
    assert rows["holistic"]["reduction_vs_holistic"] == 0.0
    assert 0 < rows["improved_decoupled"]["delta_tflops"] < rows["holistic"]["delta_tflops"]
    assert rows["hard_decoupled"]["delta_paper"] < rows["improved_decoupled"]["delta_paper"]
