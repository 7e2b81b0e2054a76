"""Mask encoding: label ids -> official palette colours -> autoencoder -> 2x2 packed tokens."""

import pytest
import torch

from mdit.conditioning import PixelSpaceAutoencoder, encode_mask, mask_to_image, pack_latents

# REFERENCE.md's official palette, written out independently of mdit.labels.
OFFICIAL_PALETTE = [
    (0, 0, 0),
    (204, 0, 0),
    (76, 153, 0),
    (204, 204, 0),
    (51, 51, 255),
    (204, 0, 204),
    (0, 255, 255),
    (255, 204, 204),
    (102, 51, 0),
    (255, 0, 0),
    (102, 204, 0),
    (255, 255, 0),
    (0, 0, 153),
    (0, 0, 204),
    (255, 51, 153),
    (0, 204, 204),
    (0, 51, 0),
    (255, 153, 51),
    (0, 204, 0),
]


def test_mask_colours_are_the_official_palette_in_unit_range():
    mask = torch.arange(19).reshape(1, 1, 19)
    image = mask_to_image(mask)
    assert image.shape == (1, 3, 1, 19) and image.dtype == torch.float32
    expected = torch.tensor(OFFICIAL_PALETTE, dtype=torch.float32).T / 127.5 - 1
    torch.testing.assert_close(image[0, :, 0], expected)


def test_encode_mask_is_palette_then_autoencoder_then_pack():
    ae = PixelSpaceAutoencoder(2)
    mask = torch.randint(0, 19, (2, 8, 12))
    tokens = encode_mask(mask, ae)
    assert tokens.shape == (2, (8 // 4) * (12 // 4), 4 * 12)
    assert torch.equal(tokens, pack_latents(ae.encode(mask_to_image(mask))))


def test_out_of_range_ids_report_count_and_ids():
    mask = torch.zeros(2, 4, 4, dtype=torch.long)
    mask[0, 0, :3] = 255
    mask[1, 1, 1] = -1
    with pytest.raises(ValueError, match=r"4 pixels .*\[-1, 255\]"):
        encode_mask(mask, PixelSpaceAutoencoder(2))


def test_mask_shape_and_dtype_are_checked():
    with pytest.raises(ValueError, match="integer"):
        mask_to_image(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"\[B, H, W\]"):
        mask_to_image(torch.zeros(4, 4, dtype=torch.long))
