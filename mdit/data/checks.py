"""Build-time checks of a face data set's files: every face checked once, when its dataset is built.

Every face needs its image, its mask (CelebAMask-HQ: at least one part PNG) and, with captions, a caption file that
holds at least one caption after cleanup; a file with fewer than ``FULL_CAPTIONS`` captions is a warning. One policy
for every loader (``data.on_missing``): "skip" leaves the faces that fail out with one logged warning naming the
first few, "error" raises one error naming all of them. A sketch or keypoints kind that model.conditions needs is
checked the same way, per face, and a data set with no files of it at all is an error naming where it looked and
the command that derives them (``missing_conditions_error``). Folders are listed once each (os.scandir) rather than one
stat per file; the caption files are read once, their verdicts cached by file name, size and mtime like the image
scan's (``cached_verdicts``), so a changed file is read again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mdit import atomic

from .condition_sources import ConditionSource, how_to_get
from .mm_celeba import Captions, caption_count

logger = logging.getLogger(__name__)

ON_MISSING = ("skip", "error")  # data.on_missing
FULL_CAPTIONS = 10  # MM-CelebA-HQ's captions per face: fewer is a warning
CAPTION_SCAN_NAME = "caption_scan.json"
SHOWN = 5  # faces or files named in a warning

Problems = dict[int, list[str]]  # face id -> what is missing, each naming the file and where it should be


class MissingFilesError(FileNotFoundError):
    """Faces whose image, mask or caption file is missing or empty, under data.on_missing=error."""


class MissingConditionsError(FileNotFoundError):
    """model.conditions names a kind (sketch, keypoints) that the data set has no files of."""


def listing(folder: Path) -> set[str]:
    """The names in ``folder`` from one os.scandir; empty when the folder does not exist."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _shown(items: Sequence[str]) -> str:
    return ", ".join(items[:SHOWN]) + (", ..." if len(items) > SHOWN else "")


# ---------------------------------------------------------------------------------------------------- verdict cache


def _cache_key(path: Path) -> str:
    """Name of ``path`` in a scan cache: folder name and file name, so a moved data set keeps its cache."""
    return f"{path.parent.name}/{path.name}"


def _read_scan_cache(cache_file: Path) -> dict[str, list]:
    """``{key: [size, mtime_ns, verdict]}`` from a scan cache; an unreadable cache counts as empty."""
    try:
        entries = json.loads(cache_file.read_text()).get("files", {})
        return entries if isinstance(entries, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def cached_verdicts(paths: Sequence[Path], cache_file: Path | None, verdict: Callable[[Path], Any]) -> dict[Path, Any]:
    """``verdict(path)`` (JSON-able) of every path, computed only for files whose (size, mtime_ns) differ from the
    record in ``cache_file`` (None: no cache); new verdicts are added to it. A missing file is FileNotFoundError."""
    stats = {}
    for path in paths:
        stat = path.stat()
        stats[path] = [stat.st_size, stat.st_mtime_ns]
    known = _read_scan_cache(cache_file) if cache_file is not None else {}
    verdicts = {}
    for path in paths:
        entry = known.get(_cache_key(path))
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stats[path]:
            verdicts[path] = entry[2]
    todo = [path for path in paths if path not in verdicts]
    verdicts.update({path: verdict(path) for path in todo})
    if cache_file is not None and todo:
        fresh = {_cache_key(path): [*stats[path], verdicts[path]] for path in todo}
        if cache_file.exists() and not _read_scan_cache(cache_file):
            cache_file.unlink(missing_ok=True)  # unreadable JSON: start over rather than fail the update
        atomic.update_json(cache_file, lambda current: {"version": 1, "files": {**current.get("files", {}), **fresh}})
    return verdicts


# ---------------------------------------------------------------------------------------------------- captions


def caption_problems(captions: Captions, keys: Mapping[int, str], cache_dir: Path | None) -> Problems:
    """What is wrong with the caption file of each face id (``keys``: id -> file name without extension): absent,
    or no caption after cleanup. Files with fewer than FULL_CAPTIONS captions are one logged warning."""
    names = listing(captions.root)
    problems: Problems = {}
    present = {}
    for id_, key in keys.items():
        path = captions.path(key)
        if path.name in names:
            present[id_] = path
        else:
            problems[id_] = [f"no caption file {path}"]
    cache_file = cache_dir / CAPTION_SCAN_NAME if cache_dir is not None else None
    counts = cached_verdicts(list(present.values()), cache_file, caption_count)
    short = []
    for id_, path in present.items():
        if counts[path] == 0:
            problems[id_] = [f"caption file {path} holds no caption (only blank lines)"]
        elif counts[path] < FULL_CAPTIONS:
            short.append(f"{path} ({counts[path]})")
    if short:
        logger.warning("%d caption file(s) hold fewer than %d captions: %s", len(short), FULL_CAPTIONS, _shown(short))
    return problems


# ---------------------------------------------------------------------------------------------------- conditions


def missing_conditions_error(source: str, kind: str, places: Sequence[ConditionSource]) -> MissingConditionsError:
    """The error for a ``kind`` that model.conditions needs and none of ``places`` holds: every place looked at
    and the command that derives it."""
    looked = "; ".join(f"{place.what} {place.pattern()}" for place in places) or "nowhere (no data cache given)"
    return MissingConditionsError(
        f"model.conditions needs {kind}, but the {source} data set has no {kind} files: looked for {looked}. "
        f"{how_to_get(kind)[0].upper()}{how_to_get(kind)[1:]}, or drop {kind} from model.conditions"
    )


def condition_files(source: ConditionSource, keys: Mapping[int, str]) -> tuple[dict[int, Path], Problems]:
    """({face id: its file}, {face id: what is missing}) of one condition source, from one listing of its folder."""
    names = listing(source.folder)
    found: dict[int, Path] = {}
    problems: Problems = {}
    for id_, key in keys.items():
        name = source.file_name(key, names)
        if name is not None:
            found[id_] = source.folder / name
        else:
            fix = f"; {how_to_get(source.kind)}" if source.derived else ""
            problems[id_] = [f"no {source.kind} file {source.pattern().replace('<key>', key)}{fix}"]
    return found, problems


# ---------------------------------------------------------------------------------------------------- the policy


def keep_complete(ids: Sequence[int], problems: Problems, on_missing: str, source: str) -> list[int]:
    """``ids`` less the faces in ``problems``: "skip" logs how many and names the first few, "error" raises
    MissingFilesError naming every one of them."""
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
    bad = [id_ for id_ in dict.fromkeys(ids) if id_ in problems]
    if not bad:
        return list(ids)
    lines = [f"{id_}: {'; '.join(problems[id_])}" for id_ in bad]
    if on_missing == "error":
        raise MissingFilesError(
            f"{len(bad)} of {len(set(ids))} {source} faces have missing or empty files (data.on_missing=error; "
            "data.on_missing=skip leaves them out):\n  " + "\n  ".join(lines)
        )
    message = "skipping %d of %d %s faces with missing or empty files (data.on_missing=skip): %s"
    logger.warning(message, len(bad), len(set(ids)), source, _shown(lines))
    return [id_ for id_ in ids if id_ not in problems]
