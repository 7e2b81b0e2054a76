"""FLUX's CLIP + T5 text conditioning on a tiny FLUX-like folder built here, checked against FluxPipeline."""

import re
import warnings

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline
from flux_folder import write_tiny_flux_text_folder
from transformers import T5TokenizerFast

from mdit.conditioning import CaptionTruncatedWarning, FluxTextConditioner, TextConditioner

CAPTIONS = ["A smiling woman, with blond hair.", "", "  ", "a man with black hair"]


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
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=None,
        transformer=None,
        text_encoder=conditioner.clip,
        tokenizer=conditioner.clip_tokenizer,
        text_encoder_2=conditioner.t5,
        tokenizer_2=conditioner.t5_tokenizer,
    )
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
