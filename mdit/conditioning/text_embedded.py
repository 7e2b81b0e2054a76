"""The embedded text encoder: a word-level tokenizer and a tiny T5 encoder, built offline from a seed.

It stands in for FLUX's T5 + CLIP pair on the CPU default: `tokens` are the T5 hidden states and
`pooled` (standing in for CLIP's pooled vector) is their mean over the non-pad tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

from .local import require_model_folder, require_path, resolve_dtype
from .text import TextConditioner, tokenize_padded

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, UNK)  # ids 0, 1, 2: T5's order


def build_word_tokenizer(vocabulary: Sequence[str], max_length: int) -> PreTrainedTokenizerFast:
    """Lowercasing word-level tokenizer splitting on whitespace and punctuation, appending `</s>` like T5.

    Words are lowercased, deduplicated and sorted, so any ordering of the same vocabulary gives the same ids.
    """
    words = sorted({word.lower() for word in vocabulary} - set(SPECIAL_TOKENS))
    bad = [word for word in words if not word or any(ch.isspace() for ch in word)]
    if bad:
        raise ValueError(f"vocabulary entries must be non-empty and free of whitespace, got {bad[:10]}")
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    backend.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=PAD, eos_token=EOS, unk_token=UNK, model_max_length=max_length
    )


class EmbeddedTextConditioner(TextConditioner):
    """Word-level tokenizer + tiny frozen T5 encoder; pads every caption to `max_length` tokens.

    Like FLUX's T5, the encoder sees the pad tokens (no attention mask); only the pooled mean skips them.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerFast, encoder: T5EncoderModel, max_length: int | None = None
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.max_length = max_length or tokenizer.model_max_length
        tokenizer.model_max_length = self.max_length  # saved with the tokenizer
        self.joint_attention_dim = encoder.config.d_model
        self.pooled_projection_dim = encoder.config.d_model
        self.freeze()

    @classmethod
    def build(
        cls,
        vocabulary: Sequence[str],
        d_model: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        max_length: int = 64,
        seed: int = 0,
        d_kv: int | None = None,
        d_ff: int | None = None,
    ) -> EmbeddedTextConditioner:
        """Fit the tokenizer on `vocabulary` and initialise the T5 encoder from `seed` (d_kv, d_ff default to
        d_model / num_heads and 2 d_model)."""
        tokenizer = build_word_tokenizer(vocabulary, max_length)
        config = T5Config(
            vocab_size=len(tokenizer),
            d_model=d_model,
            d_kv=d_kv or d_model // num_heads,
            d_ff=d_ff or 2 * d_model,
            num_layers=num_layers,
            num_heads=num_heads,
            dropout_rate=0.0,
            feed_forward_proj="gated-gelu",
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = T5EncoderModel(config)
        return cls(tokenizer, encoder, max_length)

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, torch_dtype: torch.dtype | str = torch.float32, max_length: int | None = None
    ) -> EmbeddedTextConditioner:
        """Load `folder/tokenizer` and `folder/text_encoder` (written by `save_pretrained`), local files only."""
        folder = require_path(folder, "a folder written by EmbeddedTextConditioner.save_pretrained")
        tokenizer_dir = require_path(folder / "tokenizer", "the word-level tokenizer (tokenizer.json)")
        encoder_dir = require_model_folder(folder / "text_encoder", "the tiny T5EncoderModel (config.json + weights)")
        tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir, local_files_only=True)
        encoder = T5EncoderModel.from_pretrained(encoder_dir, dtype=resolve_dtype(torch_dtype), local_files_only=True)
        return cls(tokenizer, encoder, max_length)

    def save_pretrained(self, folder: str | Path) -> None:
        """Write `tokenizer/` and `text_encoder/` (FLUX's folder names), loadable by `from_pretrained`."""
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder / "tokenizer")
        self.encoder.save_pretrained(folder / "text_encoder")

    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = tokenize_padded(self.tokenizer, prompts, self.max_length, "embedded word-level").to(self.encoder.device)
        hidden = self.encoder(input_ids=batch.input_ids).last_hidden_state
        keep = batch.attention_mask.unsqueeze(-1).to(hidden.dtype)
        return hidden, (hidden * keep).sum(1) / keep.sum(1)
