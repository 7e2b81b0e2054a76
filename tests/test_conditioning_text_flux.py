"""FLUX's CLIP + T5 text conditioning on a tiny FLUX-like folder built here, checked against FluxPipeline."""

import json
import re
import warnings

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, T5TokenizerFast

from mdit.conditioning import CaptionTruncatedWarning, FluxTextConditioner, TextConditioner

WORDS = ["a", "woman", "man", "with", "blond", "black", "hair", "smiling"]
CAPTIONS = ["A smiling woman, with blond hair.", "", "  ", "a man with black hair"]


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
        vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=77, projection_dim=32, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )  # fmt: skip
    CLIPTextModel(clip_config).save_pretrained(folder / "text_encoder")
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + word, -1.0) for word in WORDS] + [(ch, -5.0) for ch in "abcdefghijklmnopqrstuvwxyz.,"]
    T5TokenizerFast(vocab=pieces, extra_ids=0).save_pretrained(folder / "tokenizer_2")
    t5_config = T5Config(
        vocab_size=len(pieces), d_model=24, d_kv=8, d_ff=48, num_layers=2, num_heads=3, dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
    )  # fmt: skip
    T5EncoderModel(t5_config).save_pretrained(folder / "text_encoder_2")


@pytest.fixture(scope="module")
def flux_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flux")
    write_tiny_flux_text_folder(folder)
    return folder


@pytest.fixture(scope="module")
def conditioner(flux_folder):
    return FluxTextConditioner.from_pretrained(flux_folder, max_length=16)


def test_matches_flux_pipeline_encode_prompt(conditioner):
    assert isinstance(conditioner, TextConditioner)
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=None, transformer=None,
        text_encoder=conditioner.clip, tokenizer=conditioner.clip_tokenizer,
        text_encoder_2=conditioner.t5, tokenizer_2=conditioner.t5_tokenizer,
    )  # fmt: skip
    prompts = ["A smiling woman, with blond hair.", "", "a man with black hair"]
    tokens, pooled, ids = pipe.encode_prompt(prompts, prompt_2=None, device=torch.device("cpu"), max_sequence_length=16)
    out = conditioner(prompts)
    assert out.tokens.shape == (3, 16, 24) and out.pooled.shape == (3, 32)
    assert torch.equal(out.tokens, tokens) and torch.equal(out.pooled, pooled) and torch.equal(out.ids, ids)
    assert (conditioner.joint_attention_dim, conditioner.pooled_projection_dim, conditioner.clip_length) == (24, 32, 77)


def test_real_t5_tokenizer_class_and_eos(conditioner):
    assert isinstance(conditioner.t5_tokenizer, T5TokenizerFast)
    ids = conditioner.t5_tokenizer(["a man"]).input_ids[0]
    assert ids[-1] == conditioner.t5_tokenizer.eos_token_id and conditioner.t5_tokenizer.unk_token_id not in ids


def test_blank_caption_is_the_empty_prompt(conditioner):
    out = conditioner(CAPTIONS)
    assert torch.equal(out.tokens[2], out.tokens[1]) and torch.equal(out.pooled[2], out.pooled[1])


def test_truncation_warns_for_each_tokenizer(conditioner):
    with pytest.warns(CaptionTruncatedWarning, match=r"T5 tokenizer limit is 16 tokens.*caption 0: 5"):
        conditioner([" ".join(["hair"] * 20)])  # 21 T5 tokens
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conditioner([" ".join(["hair"] * 78)])  # 80 CLIP tokens, 79 T5 tokens
    messages = [str(w.message) for w in caught if w.category is CaptionTruncatedWarning]
    assert any(re.search(r"CLIP tokenizer limit is 77 tokens.*caption 0: 3$", m) for m in messages)
    assert any(re.search(r"T5 tokenizer limit is 16 tokens.*caption 0: 63$", m) for m in messages)


def test_frozen(conditioner):
    conditioner.train()
    assert not any(m.training for m in conditioner.modules())
    assert not any(p.requires_grad for p in conditioner.parameters())


@pytest.mark.parametrize("name", ["tokenizer", "text_encoder", "tokenizer_2", "text_encoder_2"])
def test_missing_subfolder_is_named(flux_folder, tmp_path, name):
    for sub in ["tokenizer", "text_encoder", "tokenizer_2", "text_encoder_2"]:
        if sub != name:
            (tmp_path / sub).symlink_to(flux_folder / sub)
    with pytest.raises(FileNotFoundError, match=name) as missing:
        FluxTextConditioner.from_pretrained(tmp_path)
    assert str(tmp_path / name) in str(missing.value) and "FLUX.1" in str(missing.value)


def test_max_length_limit(flux_folder):
    with pytest.raises(ValueError, match="512"):
        FluxTextConditioner.from_pretrained(flux_folder, max_length=513)
