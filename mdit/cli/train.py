"""`mdit train`, `mdit pretrain-base`, `mdit cache-embeddings`: weights and caches built from a config."""

from __future__ import annotations

import argparse

from mdit.cli.common import add_config_args, add_verb, config_from


def run_train(args: argparse.Namespace) -> int:
    from mdit.run import train

    folder = train(config_from(args))
    print(f"run folder: {folder}")
    return 0


def add_train(verbs) -> None:
    parser = add_verb(verbs, "train", "train one variant (resumes if its run folder has a checkpoint)", run_train)
    add_config_args(parser, "the run's config")


def run_pretrain_base(args: argparse.Namespace) -> int:
    from mdit.pretraining import pretrain_backbone

    print(f"embedded backbone: {pretrain_backbone(config_from(args))}")
    return 0


def add_pretrain_base(verbs) -> None:
    parser = add_verb(verbs, "pretrain-base", "pretrain the embedded backbone (once; cached)", run_pretrain_base)
    add_config_args(
        parser, "the config whose backbone.* keys are built", overrides="dotlist overrides, e.g. backbone.max_steps=100"
    )


def run_cache_embeddings(args: argparse.Namespace) -> int:
    import json

    from mdit.embeddings.build import cache_embeddings

    print(json.dumps(cache_embeddings(config_from(args)), indent=2))
    return 0


def add_cache_embeddings(verbs) -> None:
    parser = add_verb(
        verbs,
        "cache-embeddings",
        "precompute text embeddings and VAE latents for data.embeddings=true (resumes if interrupted)",
        run_cache_embeddings,
    )
    add_config_args(parser, "the config whose data is cached")


def add_parsers(verbs) -> None:
    add_train(verbs)
    add_pretrain_base(verbs)
    add_cache_embeddings(verbs)
