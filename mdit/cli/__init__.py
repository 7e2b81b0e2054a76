"""The `mdit` command: `mdit --help` lists the verbs, `mdit VERB --help` describes one.

Each verb module holds, for every verb, its handler and a small `add_<verb>(verbs)` parser function beside it;
the config arguments they share (`-c`, `--profile`, `key=value`) are defined once, in `mdit.cli.common`. A
handler imports what it runs when it runs, so `mdit variants` and `mdit config` answer without torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from mdit.cli import data, evaluate, flops, generate, info, sweeps, train
from mdit.cli.common import HelpFormatter

try:
    __version__ = version("mditface")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"

VERB_MODULES = (info, train, data, generate, evaluate, flops, sweeps)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mdit", description="MDiTFace: mask + text face generation on FLUX.", formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for module in VERB_MODULES:
        module.add_parsers(verbs)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """argparse, plus `key=value` overrides after an option (`mdit eval RUN --mode text eval.count=64`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    overrides = all("=" in item and not item.startswith("-") for item in extra)
    if extra and overrides and isinstance(getattr(args, "overrides", None), list):
        args.overrides += extra
    elif extra:
        hint = _profile_hint(args, extra)
        parser.error(
            f"`mdit {args.verb}` takes no --profile: {hint}" if hint else f"unrecognized arguments: {' '.join(extra)}"
        )
    return args


def _profile_hint(args: argparse.Namespace, extra: list[str]) -> str | None:
    """Where a profile goes for a verb without --profile, when one was given."""
    if not any(item == "--profile" or item.startswith("--profile=") for item in extra):
        return None
    if hasattr(args, "config"):
        return "a profile is one more config layer here, -c experiments/profiles/NAME.yaml"
    if hasattr(args, "run_dir"):
        return "a run keeps the config it was trained with, profile included (key=value overrides change it)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"mdit {args.verb}: error: {err}", file=sys.stderr)
        return 2
