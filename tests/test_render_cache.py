"""SynthFaces' render cache: faces read back are the rendered ones, bit for bit; a damaged slot, a truncated
file or a full disk makes the dataset render again, never return something else."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from train_helpers import tiny_config

from mdit.config import ConfigError, load_config
from mdit.data.registry import build_splits
from mdit.data.synthfaces import dataset as dataset_module
from mdit.data.synthfaces import render
from mdit.data.synthfaces.dataset import SynthFacesDataset, synthfaces_splits
from mdit.data.synthfaces.render_cache import CAPTION_BYTES, RenderCache, slot_bytes


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a
    )


def _no_rendering(monkeypatch) -> None:
    def refuse(seed: int):
        raise AssertionError(f"face {seed} was rendered, not read from the cache")

    monkeypatch.setattr(dataset_module.SynthFaces, "render", lambda self, seed: refuse(seed))


def test_cached_faces_are_the_rendered_ones_and_are_not_rendered_again(tmp_path, monkeypatch):
    plain = SynthFacesDataset(0, 12, resolution=32, flip_p=0.5)
    cached = SynthFacesDataset(0, 12, resolution=32, flip_p=0.5, cache_dir=tmp_path)
    first = [cached[(i, 3)] for i in range(12)]
    assert all(_same(a, plain[(i, 3)]) for i, a in enumerate(first))
    _no_rendering(monkeypatch)
    reread = SynthFacesDataset(0, 12, resolution=32, flip_p=0.5, cache_dir=tmp_path)  # a later run, same folder
    assert all(_same(reread[(i, 3)], a) for i, a in enumerate(first))
    assert reread.captions_of(5) == list(render(5, 32).captions)
    assert 11 * slot_bytes(32) < cached.cache.path.stat().st_size <= 12 * slot_bytes(32)  # one slot per seed


def test_a_slot_read_for_another_seed_or_size_is_missing(tmp_path):
    face = render(0, 32)
    cache = RenderCache(tmp_path, 32, 0, 4)
    cache.put(1, face)
    with open(cache.path, "r+b") as f:  # face 1's slot copied into face 2's place
        f.seek(2 * cache.slot)
        f.write(os.pread(cache._descriptor(), cache.slot, cache.slot))
    assert cache.get(1) is not None and cache.get(2) is None


def test_a_torn_slot_or_a_truncated_file_is_rendered_again(tmp_path):
    dataset = SynthFacesDataset(0, 4, resolution=32, cache_dir=tmp_path)
    expected = [dataset[i] for i in range(4)]
    path, slot = dataset.cache.path, slot_bytes(32)
    with open(path, "r+b") as f:  # what a kill in the middle of a write leaves: a slot half old, half new
        f.seek(1 * slot + 100)
        f.write(b"\xff" * 50)
    assert dataset.cache.get(1) is None, "a slot whose bytes don't match its CRC must read as missing"
    os.truncate(path, 3 * slot + 10)  # a file cut short inside face 3
    assert dataset.cache.get(3) is None and dataset.cache.get(2) is not None
    fresh = SynthFacesDataset(0, 4, resolution=32, cache_dir=tmp_path)
    assert all(_same(fresh[i], e) for i, e in enumerate(expected))
    assert fresh.cache.get(1) is not None and fresh.cache.get(3) is not None, "rendered faces are written back"


def test_a_full_disk_keeps_rendering_and_reading_what_is_cached(tmp_path, monkeypatch, caplog):
    dataset = SynthFacesDataset(0, 6, resolution=32, cache_dir=tmp_path)
    first = [dataset[i] for i in range(3)]

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with caplog.at_level(logging.WARNING, logger="mdit.data.synthfaces.render_cache"):
        later = [dataset[i] for i in range(3, 6)]
    assert all(_same(s, SynthFacesDataset(0, 6, resolution=32)[i]) for i, s in enumerate(first + later))
    assert [r.getMessage() for r in caplog.records] == [
        f"SynthFaces render cache {dataset.cache.path}: not written ([Errno 28] No space left on device); faces not "
        "in it are rendered"
    ]
    assert dataset.cache.get(2) is not None and dataset.cache.get(3) is None, "what is cached is still read"


def test_a_read_only_cache_is_read_and_a_missing_one_rendered(tmp_path, monkeypatch, caplog):
    expected = [SynthFacesDataset(0, 4, resolution=32, cache_dir=tmp_path)[i] for i in range(4)]
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & (os.O_RDWR | os.O_WRONLY | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with monkeypatch.context() as no_render:
        _no_rendering(no_render)
        reader = SynthFacesDataset(0, 4, resolution=32, cache_dir=tmp_path)
        assert all(_same(reader[i], e) for i, e in enumerate(expected))
    assert not reader.cache.writable and reader.cache.readable
    elsewhere = SynthFacesDataset(0, 4, resolution=32, cache_dir=tmp_path / "nothing-here")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mdit.data.synthfaces.render_cache"):
        assert all(_same(elsewhere[i], e) for i, e in enumerate(expected))
    assert not elsewhere.cache.readable and len(caplog.records) == 1


def test_loader_workers_fill_one_cache_and_a_pickled_dataset_opens_its_own_file(tmp_path, monkeypatch):
    dataset = SynthFacesDataset(0, 16, resolution=32, cache_dir=tmp_path)
    dataset[0]  # the parent holds an open descriptor before the workers start
    clone = pickle.loads(pickle.dumps(dataset))  # what a spawned worker gets
    assert clone.cache._fd is None and _same(clone[0], dataset[0])
    loader = DataLoader(dataset, batch_size=4, num_workers=2)
    by_workers = [sample for batch in loader for sample in _unbatch(batch)]
    _no_rendering(monkeypatch)
    assert all(_same(dataset[i], s) for i, s in enumerate(by_workers))


def _unbatch(batch: dict) -> list[dict]:
    return [{key: values[i] for key, values in batch.items()} for i in range(len(batch["id"]))]


def test_faces_whose_captions_overflow_their_room_stay_uncached(tmp_path):
    face = render(0, 32)
    cache = RenderCache(tmp_path, 32, 0, 2)
    cache.put(0, dataclasses.replace(face, captions=("x" * (CAPTION_BYTES + 1),)))
    assert cache.get(0) is None
    cache.put(1, face)
    held = cache.get(1)
    assert np.array_equal(held.image, face.image) and np.array_equal(held.mask, face.mask)
    assert held.captions == face.captions
    with pytest.raises(IndexError, match=r"seed 2 is outside this cache's range \[0, 2\)"):
        cache.get(2)


def test_the_config_caches_each_split_that_fits_its_limit(tmp_path):
    limit = ["data.render_cache_gib=0.001", "data.train_size=200", "data.test_size=100"]  # 1 MiB: 110 faces
    train, val, test = build_splits(tiny_config(tmp_path, *limit))
    assert train.cache is None and val.cache is not None and test.cache is not None
    assert str(val.cache.path).startswith(str(tmp_path / "cache" / "data"))
    assert all(s.cache is None for s in build_splits(tiny_config(tmp_path, "data.render_cache_gib=0")))
    train, _, _ = synthfaces_splits(32, 4, 1, 1, cache_dir=tmp_path, cache_gib=1.0)
    assert train.cache is not None and train.cache.path.parent.parent == tmp_path
    with pytest.raises(ConfigError, match="data.render_cache_gib must be >= 0"):
        load_config(None, ["data.render_cache_gib=-1"])


def test_the_judges_train_on_the_faces_the_runs_cache(tmp_path):
    from mdit.judges.training import training_faces

    cfg = tiny_config(tmp_path)
    faces, train = training_faces(cfg, flip_p=0.5), build_splits(cfg)[0]
    assert faces.cache is not None and faces.cache.path == train.cache.path
    assert training_faces(tiny_config(tmp_path, "data.render_cache_gib=0")).cache is None
