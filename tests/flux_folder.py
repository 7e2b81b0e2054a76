"""A tiny FLUX.1 folder in diffusers layout, written by the tests: transformer/, vae/ (FLUX's latent layout:
16 channels, shift and scale, no quant convs), CLIP + T5 text encoders with locally built tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, T5TokenizerFast

SHIFT, SCALE = 0.1159, 0.3611
CLIP_DIM, T5_DIM = 32, 24
WORDS = ["a", "woman", "man", "with", "blond", "black", "hair", "smiling"]


def clip_vocab_and_merges(words: list[str]) -> tuple[dict[str, int], list[str]]:
    """Byte-level BPE files in CLIP's format: single characters plus left-to-right merges of each word."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    merges: list[str] = []
    for ch in "abcdefghijklmnopqrstuvwxyz.,":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    for word in words:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            if f"{parts[0]} {parts[1]}" not in merges:
                merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1], *parts[2:]]
            vocab.setdefault(parts[0], len(vocab))
    return vocab, merges


def write_tiny_flux_text_folder(folder) -> None:
    """tokenizer/ (vocab.json, merges.txt, like FLUX.1's), text_encoder/, tokenizer_2/, text_encoder_2/."""
    vocab, merges = clip_vocab_and_merges(WORDS)
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
    (folder / "tokenizer" / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer" / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77})
    )
    torch.manual_seed(0)
    clip_config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        projection_dim=32,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    CLIPTextModel(clip_config).save_pretrained(folder / "text_encoder")
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + word, -1.0) for word in WORDS] + [(ch, -5.0) for ch in "abcdefghijklmnopqrstuvwxyz.,"]
    T5TokenizerFast(vocab=pieces, extra_ids=0).save_pretrained(folder / "tokenizer_2")
    t5_config = T5Config(
        vocab_size=len(pieces),
        d_model=24,
        d_kv=8,
        d_ff=48,
        num_layers=2,
        num_heads=3,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
    )
    T5EncoderModel(t5_config).save_pretrained(folder / "text_encoder_2")


def tiny_vae() -> AutoencoderKL:
    """FLUX-like AutoencoderKL (16 latent channels, no quant convs, shift/scale set), tiny widths, x2."""
    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=4,
        sample_size=32,
        scaling_factor=SCALE,
        shift_factor=SHIFT,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )


def tiny_flux_transformer() -> FluxTransformer2DModel:
    """FLUX.1-dev's structure (guidance embedding on) at test size; reads the tiny VAE's 16-channel latents."""
    torch.manual_seed(0)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=T5_DIM,
        pooled_projection_dim=CLIP_DIM,
        guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),
    )


def write_tiny_flux_folder(folder: Path) -> Path:
    """Every sub-folder `load_backbone` reads from a FLUX.1 checkout, plus model_index.json."""
    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_flux_text_folder(folder)
    tiny_vae().save_pretrained(folder / "vae")
    tiny_flux_transformer().save_pretrained(folder / "transformer")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    return folder
