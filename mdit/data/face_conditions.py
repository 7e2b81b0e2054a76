"""The sketch and keypoint files of a file-backed face data set: which source each kind is read from, every face's
file (found when the dataset is built), and one face's conditions read and fitted to its square like its image.

A kind that model.conditions needs must have a source (else MissingConditionsError) and a file for every face kept
(the faces without one follow data.on_missing). A kind it does not need is served when its source covers every
face kept, so a batch never mixes samples with and without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .checks import Problems, condition_files, missing_conditions_error
from .condition_files import fit_keypoints, fit_sketch, load_keypoint_file, load_sketch, read_keypoints, read_sketch
from .condition_sources import FILE_KINDS, ConditionSource, file_conditions

logger = logging.getLogger(__name__)


class ConditionAspectError(ValueError):
    """A published sketch or keypoint file whose frame does not have its image's aspect ratio."""


def _same_aspect(path: Path, frame: tuple[int, int], image_size: tuple[int, int]) -> None:
    (width, height), (image_w, image_h) = frame, image_size
    if width * image_h != height * image_w:
        raise ConditionAspectError(
            f"{path} is {width}x{height} (width x height) but its image is {image_w}x{image_h}: their aspect ratios "
            "differ, so it cannot be cropped as the image is"
        )


def read_published(kind: str, path: Path, image_size: tuple[int, int], resolution: int) -> np.ndarray:
    """A published file in its image's pixels (``image_size``: width, height) fitted as the image is: the centred
    square, scaled to ``resolution``."""
    if kind == "sketch":
        ink = load_sketch(path)
        _same_aspect(path, (ink.shape[1], ink.shape[0]), image_size)
        return fit_sketch(ink, resolution)
    points, frame = load_keypoint_file(path)
    _same_aspect(path, frame, image_size)
    in_image = fit_keypoints(points, frame, (image_size[1], image_size[0]))
    return fit_keypoints(in_image, image_size, resolution)


def read_derived(kind: str, path: Path, resolution: int) -> np.ndarray:
    """A `mdit cache-conditions` file: already the fitted square."""
    return read_sketch(path, resolution) if kind == "sketch" else read_keypoints(path, resolution)


class FaceConditions:
    """The condition files of a data set named ``source_name``: per kind the first of its ``places`` whose folder
    exists; ``required`` (model.conditions, mask ignored) must each have one."""

    def __init__(
        self, source_name: str, places: Mapping[str, Sequence[ConditionSource]], required: Sequence[str] = ()
    ) -> None:
        self.source_name = source_name
        self.required = file_conditions(required)
        self.sources: dict[str, ConditionSource] = {}
        for kind in FILE_KINDS:
            found = next((place for place in places.get(kind, ()) if place.folder.is_dir()), None)
            if found is not None:
                self.sources[kind] = found
            elif kind in self.required:
                raise missing_conditions_error(source_name, kind, places.get(kind, ()))
        self.files: dict[str, dict[int, Path]] = {}

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds served, in FILE_KINDS order."""
        return tuple(kind for kind in FILE_KINDS if kind in self.sources)

    def problems(self, keys: Mapping[int, str]) -> Problems:
        """{face id: what it lacks} for the required kinds; every kind's files are recorded on the way."""
        problems: Problems = {}
        for kind, source in self.sources.items():
            self.files[kind], missing = condition_files(source, keys)
            if kind in self.required:
                for id_, found in missing.items():
                    problems.setdefault(id_, []).extend(found)
        return problems

    def keep_covering(self, ids: Sequence[int]) -> None:
        """Stop serving each kind not required whose source lacks a file of any of ``ids`` (one log line each)."""
        for kind in [kind for kind in self.sources if kind not in self.required]:
            lacking = [id_ for id_ in ids if id_ not in self.files.get(kind, {})]
            if lacking:
                logger.info(
                    "not serving %s: %d of %d %s faces have no file in %s (model.conditions does not need it)",
                    kind,
                    len(lacking),
                    len(ids),
                    self.source_name,
                    self.sources[kind].folder,
                )
                del self.sources[kind]

    def read(self, id_: int, image_size: tuple[int, int] | None, resolution: int) -> dict[str, np.ndarray]:
        """Face ``id_``'s conditions at ``resolution``; ``image_size`` (width, height of its image file) is needed
        for published files only."""
        raw = {}
        for kind in self.kinds:
            path, source = self.files[kind][id_], self.sources[kind]
            if source.derived:
                raw[kind] = read_derived(kind, path, resolution)
            else:
                if image_size is None:
                    raise ValueError(f"reading the published {kind} file {path} needs its image's size")
                raw[kind] = read_published(kind, path, image_size, resolution)
        return raw
