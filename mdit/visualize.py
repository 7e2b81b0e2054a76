"""PIL-only renderings of samples: mask | generated | ground truth rows with captions, plain tilings, atomic PNGs.

Images are float tensors in [-1, 1] (the diffusion model's range); masks are official CelebAMask-HQ label maps
drawn in ``mdit.labels.PALETTE`` colours, so a figure can be read against the dataset's own colour key. Other
spatial conditions (a sketch, keypoints) come as the images their renderer draws (mdit.conditioning.spatial), one
titled column each beside the mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from mdit import atomic
from mdit.labels import label_map_to_color

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
GAP = 4  # pixels between cells, rows and the caption
MARGIN = 8  # pixels around the whole figure
MIN_CAPTION_WIDTH = 240  # a caption column narrower than this wraps to a few words per line
MASK_TITLE, GENERATED_TITLE, TRUTH_TITLE = "mask", "generated", "ground truth"


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Convert float [B, 3, H, W] images in [-1, 1] to uint8 [B, H, W, 3] (clamped, rounded, NaN -> black)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got shape {tuple(images.shape)}")
    values = torch.nan_to_num(images.detach().float().cpu(), nan=-1.0).clamp(-1.0, 1.0)
    return ((values + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def image_grid(images: torch.Tensor, nrow: int, padding: int = 2) -> Image.Image:
    """Tile [B, 3, H, W] images in [-1, 1] into rows of ``nrow`` on white, like torchvision's make_grid."""
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    tiles = to_uint8(images)
    count, height, width, _ = tiles.shape
    columns = min(nrow, max(count, 1))
    rows = max(-(-count // columns), 1)
    canvas = np.full(
        (padding + rows * (height + padding), padding + columns * (width + padding), 3), 255, dtype=np.uint8
    )
    for index, tile in enumerate(tiles):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        canvas[top : top + height, left : left + width] = tile
    return Image.fromarray(canvas)


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Write ``image`` as PNG atomically (temporary sibling + rename), so readers never see half a file."""
    return atomic.write_with(path, lambda tmp: image.save(tmp, format="PNG"))


def _load_font(size: int) -> Font:
    """PIL's default font at ``size`` (Aileron via FreeType), or the fixed bitmap font when FreeType is missing."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):
        return ImageFont.load_default()


def _auto_font_size(cell_height: int) -> int:
    """Font size that stays legible on 64 px cells and does not look tiny next to 1024 px ones."""
    return int(min(24, max(10, round(cell_height / 20))))


def _drawable(text: str, font: Font) -> str:
    """Return ``text`` in a form ``font`` can render: the bitmap fallback font only knows Latin-1."""
    try:
        font.getbbox(text)
    except UnicodeError:
        return text.encode("latin-1", "replace").decode("latin-1")
    return text


def _line_height(font: Font) -> int:
    """Height of one text line including accents and descenders, plus a little leading."""
    left, top, right, bottom = font.getbbox("ÁgjyQ|")
    return int(bottom) + 2


def _split_long_word(word: str, font: Font, width: int) -> list[str]:
    """Hard-split a word wider than ``width`` into pieces that fit (URLs, long unbroken strings)."""
    pieces, current = [], ""
    for char in word:
        if current and font.getlength(current + char) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    return pieces + [current] if current else pieces


def wrap_text(text: str, font: Font, width: int) -> list[str]:
    """Greedy word-wrap ``text`` to lines no wider than ``width`` pixels in ``font``; explicit newlines are kept."""
    text = _drawable(text, font)
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            for piece in _split_long_word(word, font, width):
                candidate = f"{current} {piece}" if current else piece
                if current and font.getlength(candidate) > width:
                    lines.append(current)
                    current = piece
                else:
                    current = candidate
        lines.append(current)
    return lines


def _check_batch(
    masks: torch.Tensor | np.ndarray | None,
    generated: torch.Tensor,
    ground_truth: torch.Tensor | None,
    captions: Sequence[str] | None,
    conditions: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Raise ValueError unless masks, condition images, images and captions describe the same B samples at one size."""
    if generated.ndim != 4 or generated.shape[1] != 3:
        raise ValueError(f"generated must be [B, 3, H, W], got shape {tuple(generated.shape)}")
    if masks is None and not conditions:
        raise ValueError("give the masks, or the condition images (conditions={title: [B, 3, H, W]})")
    if masks is not None:
        if masks.ndim != 3:
            raise ValueError(f"masks must be [B, H, W], got shape {tuple(masks.shape)}")
        if tuple(masks.shape) != (generated.shape[0], *generated.shape[2:]):
            raise ValueError(f"masks {tuple(masks.shape)} do not match generated images {tuple(generated.shape)}")
    for title, images in (conditions or {}).items():
        if tuple(images.shape) != tuple(generated.shape):
            raise ValueError(
                f"condition {title!r} {tuple(images.shape)} does not match generated {tuple(generated.shape)}"
            )
    if ground_truth is not None and tuple(ground_truth.shape) != tuple(generated.shape):
        raise ValueError(f"ground_truth {tuple(ground_truth.shape)} does not match generated {tuple(generated.shape)}")
    if captions is not None and len(captions) != generated.shape[0]:
        raise ValueError(f"got {len(captions)} captions for {generated.shape[0]} samples")


def _columns(
    masks: torch.Tensor | np.ndarray | None,
    generated: torch.Tensor,
    ground_truth: torch.Tensor | None,
    conditions: Mapping[str, torch.Tensor] | None,
) -> list[tuple[str, np.ndarray]]:
    """(title, uint8 [B, H, W, 3]) per column: the mask in palette colours, each condition image, generated, truth."""
    columns = [(MASK_TITLE, np.stack([label_map_to_color(mask) for mask in masks]))] if masks is not None else []
    columns += [(title, to_uint8(images)) for title, images in (conditions or {}).items()]
    columns.append((GENERATED_TITLE, to_uint8(generated)))
    if ground_truth is not None:
        columns.append((TRUTH_TITLE, to_uint8(ground_truth)))
    return columns


def _row_cells(stacks: list[np.ndarray], scale: int) -> list[list[Image.Image]]:
    """Per sample, the cells of every column, upscaled (nearest)."""
    height, width = stacks[0].shape[1:3]
    size = (width * scale, height * scale)
    return [
        [Image.fromarray(stack[index]).resize(size, Image.Resampling.NEAREST) for stack in stacks]
        for index in range(len(stacks[0]))
    ]


def _draw_centred(draw: ImageDraw.ImageDraw, text: str, left: int, top: int, width: int, font: Font) -> None:
    """Draw one line of ``text`` horizontally centred in the span [left, left + width)."""
    text = _drawable(text, font)
    offset = max(0, (width - int(font.getlength(text))) // 2)
    draw.text((left + offset, top), text, fill=TEXT_COLOUR, font=font)


def sample_grid(
    masks: torch.Tensor | np.ndarray | None,
    generated: torch.Tensor,
    ground_truth: torch.Tensor | None = None,
    captions: Sequence[str] | None = None,
    scale: int = 2,
    *,
    caption_position: Literal["right", "below"] = "right",
    font_size: int | None = None,
    conditions: Mapping[str, torch.Tensor] | None = None,
) -> Image.Image:
    """Render one row per sample (mask | conditions | generated | ground truth, nearest-upscaled) with its caption.

    ``conditions``: more columns before the generated one, {title: images [B, 3, H, W] in [-1, 1]} (a sketch's or
    keypoints' rendering); with them ``masks`` may be None (a model that reads no mask, or its mask among them).
    A header row names the columns. ``caption_position="right"`` puts captions in their own column (compact for
    small images); ``"below"`` wraps them to the row width under the images (better for large ones). Rows grow
    to fit long captions. ``font_size=None`` picks a size from the cell height.
    """
    _check_batch(masks, generated, ground_truth, captions, conditions)
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if caption_position not in ("right", "below"):
        raise ValueError(f"caption_position must be 'right' or 'below', got {caption_position!r}")
    columns = _columns(masks, generated, ground_truth, conditions)
    rows = _row_cells([stack for _, stack in columns], scale)
    cell_w, cell_h = rows[0][0].size
    font = _load_font(font_size or _auto_font_size(cell_h))
    line_h = _line_height(font)
    titles = [title for title, _ in columns]
    column_w = max(cell_w, *(int(font.getlength(title)) + 2 * GAP for title in titles))
    images_w = len(titles) * column_w + (len(titles) - 1) * GAP
    has_captions = captions is not None
    beside = has_captions and caption_position == "right"
    text_w = max(cell_w, MIN_CAPTION_WIDTH) if beside else images_w
    wrapped = [wrap_text(caption, font, text_w) for caption in captions] if has_captions else [[] for _ in rows]
    if beside:
        row_heights = [max(cell_h, len(lines) * line_h) for lines in wrapped]
    else:
        row_heights = [cell_h + (GAP + len(lines) * line_h if lines else 0) for lines in wrapped]
    width = 2 * MARGIN + images_w + (GAP + text_w if beside else 0)
    header_h = line_h + GAP
    height = 2 * MARGIN + header_h + sum(row_heights) + GAP * (len(rows) - 1)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(titles):
        _draw_centred(draw, title, MARGIN + column * (column_w + GAP), MARGIN, column_w, font)
    if beside:
        draw.text((MARGIN + images_w + GAP, MARGIN), "caption", fill=TEXT_COLOUR, font=font)
    top = MARGIN + header_h
    for cells, lines, row_h in zip(rows, wrapped, row_heights):
        for column, cell in enumerate(cells):
            canvas.paste(cell, (MARGIN + column * (column_w + GAP) + (column_w - cell_w) // 2, top))
        text_left, text_top = (MARGIN + images_w + GAP, top) if beside else (MARGIN, top + cell_h + GAP)
        for index, line in enumerate(lines):
            draw.text((text_left, text_top + index * line_h), line, fill=TEXT_COLOUR, font=font)
        top += row_h + GAP
    return canvas
