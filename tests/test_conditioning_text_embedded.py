"""The embedded text conditioner: word-level tokenizer + tiny T5, and the shared caption semantics."""

import warnings

import pytest
import torch

from mdit.conditioning import (
    EMPTY_CAPTION,
    CaptionTruncatedWarning,
    EmbeddedTextConditioner,
    TextConditioner,
    TextEmbeddings,
)

WORDS = ["a", "woman", "man", "with", "blond", "black", "hair", "and", "smiling", "glasses", ".", ","]
SMALL = {"d_model": 16, "num_layers": 1, "num_heads": 2, "max_length": 12}


@pytest.fixture(scope="module")
def conditioner():
    return EmbeddedTextConditioner.build(WORDS, **SMALL)


def test_shapes_and_interface(conditioner):
    out = conditioner(["A woman with blond hair.", "a man"])
    assert isinstance(conditioner, TextConditioner) and isinstance(out, TextEmbeddings)
    assert out.tokens.shape == (2, 12, 16) and out.pooled.shape == (2, 16)
    assert out.ids.shape == (12, 3) and not out.ids.any()
    assert (conditioner.max_length, conditioner.joint_attention_dim, conditioner.pooled_projection_dim) == (12, 16, 16)


def test_default_sizes():
    default = EmbeddedTextConditioner.build(WORDS)
    config = default.encoder.config
    assert (config.d_model, config.d_kv, config.num_heads, config.d_ff, config.num_layers) == (64, 16, 4, 128, 2)
    assert config.vocab_size == len(default.tokenizer) and config.dropout_rate == 0
    assert default(["a man"]).tokens.shape == (1, 64, 64)  # SynthFaces captions reach ~60 tokens


def test_tokenizer_pads_lowercases_splits_punctuation_and_appends_eos(conditioner):
    tok = conditioner.tokenizer
    ids = tok(["Blond,hair."], padding="max_length", max_length=12).input_ids[0]
    assert tok.convert_ids_to_tokens(ids[:5]) == ["blond", ",", "hair", ".", "</s>"]
    assert ids[5:] == [tok.pad_token_id] * 7 and tok.pad_token_id == 0
    assert tok(["zebra"]).input_ids[0] == [tok.unk_token_id, tok.eos_token_id]


def test_same_seed_same_weights_other_seed_differs():
    first, again = (EmbeddedTextConditioner.build(WORDS, **SMALL, seed=1) for _ in range(2))
    other = EmbeddedTextConditioner.build(list(reversed(WORDS)), **SMALL, seed=2)
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert not torch.equal(first.encoder.shared.weight, other.encoder.shared.weight)
    assert first.tokenizer.get_vocab() == other.tokenizer.get_vocab()  # vocabulary order does not matter


def test_build_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    EmbeddedTextConditioner.build(WORDS, **SMALL)
    assert torch.equal(state, torch.random.get_rng_state())


def test_save_load_round_trip(conditioner, tmp_path):
    conditioner.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer" / "tokenizer.json").is_file()
    assert (tmp_path / "text_encoder" / "config.json").is_file()
    loaded = EmbeddedTextConditioner.from_pretrained(tmp_path)
    assert loaded.max_length == 12
    captions = ["a smiling woman with black hair and glasses.", "", "zebra"]
    a, b = conditioner(captions), loaded(captions)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.pooled, b.pooled)


def test_missing_subfolder_is_named(conditioner, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        EmbeddedTextConditioner.from_pretrained(tmp_path / "nowhere")
    conditioner.save_pretrained(tmp_path)
    (tmp_path / "text_encoder" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"text_encoder.config\.json"):
        EmbeddedTextConditioner.from_pretrained(tmp_path)


def test_blank_captions_are_the_empty_prompt(conditioner):
    out = conditioner([EMPTY_CAPTION, "   ", "\t\n", "a man"])
    for row in (1, 2):
        assert torch.equal(out.tokens[row], out.tokens[0]) and torch.equal(out.pooled[row], out.pooled[0])
    assert not torch.equal(out.tokens[3], out.tokens[0])


def test_batch_independence(conditioner):
    alone = conditioner(["a man with glasses"])
    batched = conditioner(["a woman", "a man with glasses"])
    torch.testing.assert_close(batched.tokens[1], alone.tokens[0])


def test_pooled_is_mean_over_non_pad_tokens(conditioner):
    out = conditioner(["a man"])  # 3 tokens: a, man, </s>
    torch.testing.assert_close(out.pooled[0], out.tokens[0, :3].mean(0))


def test_truncation_warns_with_limit_and_count(conditioner):
    long_caption = " ".join(["hair"] * 15)  # 15 words + </s> = 16 tokens, limit 12
    with pytest.warns(CaptionTruncatedWarning, match=r"limit is 12 tokens.*caption 1: 4"):
        out = conditioner(["a man", long_caption])
    assert out.tokens.shape[1] == 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conditioner([" ".join(["hair"] * 11)])  # exactly 12 tokens: no warning


def test_unknown_words_map_to_unk(conditioner):
    out = conditioner(["zebra", "giraffe"])
    assert torch.equal(out.tokens[0], out.tokens[1])


def test_bad_captions_raise(conditioner):
    with pytest.raises(TypeError, match="index 1 is NoneType"):
        conditioner(["a man", None])
    with pytest.raises(TypeError, match="index 0 is int"):
        conditioner([3])
    with pytest.raises(TypeError, match="single str"):
        conditioner("a man")


def test_frozen(conditioner):
    conditioner.train()
    assert not conditioner.training and not conditioner.encoder.training
    assert not any(p.requires_grad for p in conditioner.parameters())
    assert not conditioner(["a man"]).tokens.requires_grad


def test_synthfaces_captions_tokenize_without_unknowns():
    from mdit.data import synthfaces as data

    vocabulary = data.caption_vocabulary()
    tok = EmbeddedTextConditioner.build(vocabulary, **SMALL).tokenizer
    assert len(tok) == len(set(vocabulary)) + 3
    captions = [caption for seed in range(3) for caption in data.render(seed, 64).captions]
    for caption, ids in zip(captions, tok(captions).input_ids):
        assert tok.convert_ids_to_tokens(ids) == [*data.caption_words(caption), "</s>"]
