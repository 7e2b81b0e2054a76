"""FLUX.1's own text conditioning: CLIP-L's pooled vector + T5's hidden states, as FluxPipeline.encode_prompt."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPTextModel, CLIPTokenizer, PreTrainedTokenizerBase, T5EncoderModel, T5TokenizerFast

from .local import FLUX_HINT, require_model_folder, require_path, resolve_dtype
from .text import TextConditioner, tokenize_padded

FLUX_MAX_T5_LENGTH = 512  # FluxPipeline refuses longer T5 sequences
SUBFOLDERS = {
    "tokenizer": "the CLIP tokenizer (CLIPTokenizer: vocab.json, merges.txt)",
    "text_encoder": "the CLIP-L text encoder (CLIPTextModel: config.json + weights)",
    "tokenizer_2": "the T5 tokenizer (T5TokenizerFast: tokenizer.json or spiece.model)",
    "text_encoder_2": "the T5 encoder (T5EncoderModel: config.json + weights)",
}


class FluxTextConditioner(TextConditioner):
    """Frozen CLIP-L + T5: `tokens` = T5 last hidden state padded to `max_length`, `pooled` = CLIP pooler output."""

    def __init__(
        self,
        clip_tokenizer: PreTrainedTokenizerBase,
        clip: CLIPTextModel,
        t5_tokenizer: PreTrainedTokenizerBase,
        t5: T5EncoderModel,
        max_length: int = FLUX_MAX_T5_LENGTH,
    ) -> None:
        super().__init__()
        if not 0 < max_length <= FLUX_MAX_T5_LENGTH:
            raise ValueError(f"max_length must be in 1..{FLUX_MAX_T5_LENGTH} (FLUX's T5 limit), got {max_length}")
        self.clip_tokenizer, self.clip = clip_tokenizer, clip
        self.t5_tokenizer, self.t5 = t5_tokenizer, t5
        self.max_length = max_length
        # FluxPipeline uses the CLIP tokenizer's model_max_length (77); the position table bounds it.
        self.clip_length = min(clip_tokenizer.model_max_length, clip.config.max_position_embeddings)
        self.joint_attention_dim = t5.config.d_model
        self.pooled_projection_dim = clip.config.hidden_size
        self.freeze()

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        torch_dtype: torch.dtype | str = torch.float32,
        max_length: int = FLUX_MAX_T5_LENGTH,
    ) -> FluxTextConditioner:
        """Load the four text sub-folders of a local FLUX.1 folder (no download)."""
        folder = require_path(folder, FLUX_HINT)
        paths = {}
        for name, what in SUBFOLDERS.items():
            check = require_model_folder if name.startswith("text_encoder") else require_path
            paths[name] = check(folder / name, f"{what}, inside {FLUX_HINT}")
        dtype = resolve_dtype(torch_dtype)
        return cls(
            CLIPTokenizer.from_pretrained(paths["tokenizer"], local_files_only=True),
            CLIPTextModel.from_pretrained(paths["text_encoder"], dtype=dtype, local_files_only=True),
            T5TokenizerFast.from_pretrained(paths["tokenizer_2"], local_files_only=True),
            T5EncoderModel.from_pretrained(paths["text_encoder_2"], dtype=dtype, local_files_only=True),
            max_length,
        )

    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        clip_ids = tokenize_padded(self.clip_tokenizer, prompts, self.clip_length, "CLIP").input_ids
        t5_ids = tokenize_padded(self.t5_tokenizer, prompts, self.max_length, "T5").input_ids
        pooled = self.clip(clip_ids.to(self.clip.device), output_hidden_states=False).pooler_output
        tokens = self.t5(t5_ids.to(self.t5.device), output_hidden_states=False)[0]
        return tokens, pooled
