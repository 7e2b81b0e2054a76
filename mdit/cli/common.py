"""What the verbs share: how a verb's parser is made, and the config arguments (`-c`, `--profile`, overrides).

Nothing heavy is imported here: `mdit variants` and `mdit config` answer without torch, diffusers or peft.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in every `--help`, except where there is nothing to show (None, off switches) or the
    help text already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == [] or default == ():
            return text
        return super()._get_help_string(action)


def add_verb(verbs: Any, name: str, summary: str, run: Handler | None = None) -> argparse.ArgumentParser:
    """A verb's parser: `summary` is its line in `mdit --help` and the description of `mdit <name> --help`."""
    parser = verbs.add_parser(name, help=summary, description=summary, formatter_class=HelpFormatter)
    if run is not None:
        parser.set_defaults(run=run)
    return parser


def add_overrides(parser: argparse.ArgumentParser, text: str) -> None:
    """The positional `key=value` dotlist; `parse_args` also takes those given after the options."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=text)


def add_config_args(
    parser: argparse.ArgumentParser,
    what: str = "the config",
    *,
    base: str = "the schema's defaults",
    profile: str | None = "on top of the -c files",
    overrides: str = "dotlist overrides applied last, e.g. model.attention=holistic seed=1",
) -> None:
    """`-c FILE` (repeatable: layers in order), `--profile NAME` (a layer on top; None: not an option of this verb)
    and the `key=value` overrides, for a verb that reads a config. `config_from(args)` loads what they name."""
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        default=None,
        metavar="FILE",
        help=f"YAML layer of {what}, e.g. experiments/synthfaces.yaml; repeat -c to layer files in order, later "
        f"over earlier (default: {base})",
    )
    if profile is not None:
        parser.add_argument(
            "--profile",
            default="default",
            metavar="NAME",
            help=f"config layer experiments/profiles/NAME.yaml {profile} (e.g. smoke; 'default' adds none)",
        )
    add_overrides(parser, overrides)


def config_files(args: argparse.Namespace, base: list[str] | None = None) -> list[str]:
    """The config layers `args` name: the -c files (else `base`), then the profile's file, if any."""
    from mdit.sweep.profiles import profile_files

    return [*(args.config or base or []), *profile_files(getattr(args, "profile", "default"))]


def config_from(args: argparse.Namespace, base: list[str] | None = None):
    """The config `args` name: schema defaults <- config_files(args, base) <- the key=value overrides."""
    from mdit.config import load_config

    return load_config(config_files(args, base), args.overrides)
