"""Conditioning inputs of MDiT: autoencoders, FLUX latent packing and ids, text encoders, mask encoding."""

from .autoencoders import AUTOENCODERS, Autoencoder, FluxAutoencoder, PixelSpaceAutoencoder, build_autoencoder
from .mask import encode_image, encode_mask, mask_to_image, validate_label_maps
from .packing import latent_image_ids, pack_latents, text_ids, unpack_latents
from .text import EMPTY_CAPTION, CaptionTruncatedWarning, TextConditioner, TextEmbeddings, normalise_captions
from .text_embedded import EmbeddedTextConditioner, build_word_tokenizer
from .text_flux import FluxTextConditioner

__all__ = [
    "AUTOENCODERS",
    "EMPTY_CAPTION",
    "Autoencoder",
    "CaptionTruncatedWarning",
    "EmbeddedTextConditioner",
    "FluxAutoencoder",
    "FluxTextConditioner",
    "PixelSpaceAutoencoder",
    "TextConditioner",
    "TextEmbeddings",
    "build_autoencoder",
    "build_word_tokenizer",
    "encode_image",
    "encode_mask",
    "latent_image_ids",
    "mask_to_image",
    "normalise_captions",
    "pack_latents",
    "text_ids",
    "unpack_latents",
    "validate_label_maps",
]
