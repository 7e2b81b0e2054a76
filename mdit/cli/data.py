"""`mdit cache-conditions`: derive the sketches and keypoints a real data set lacks (mdit.data.derived_conditions)."""

from __future__ import annotations

import argparse
import sys

from mdit.cli.common import add_config_args, add_verb, config_from


def run_cache_conditions(args: argparse.Namespace) -> int:
    import json

    from mdit.conditions import parse_conditions
    from mdit.data.condition_sources import FILE_KINDS
    from mdit.data.derived_conditions import cache_conditions
    from mdit.judges.facexlib_landmarks import AWING_WEIGHTS_FILE, load_facexlib_landmarks

    kinds = parse_conditions(args.kinds)
    if "mask" in kinds:
        raise ValueError(f"--kinds: masks are part of the data set; derivable: {', '.join(FILE_KINDS)}")
    cfg = config_from(args)
    landmarks = args.landmarks or cfg.judges.landmarks
    report = cache_conditions(cfg, load_facexlib_landmarks, AWING_WEIGHTS_FILE, landmarks, kinds, args.batch_size)
    print(json.dumps(report, indent=2))
    for kind in kinds:
        if isinstance(report.get(kind), dict) and "note" in report[kind]:
            print(f"mdit cache-conditions: {report[kind]['note']}", file=sys.stderr)
    if report.get("lacking"):
        print(
            f"mdit cache-conditions: model.conditions needs {', '.join(report['lacking'])}, still missing",
            file=sys.stderr,
        )
        return 1
    return 0


def add_cache_conditions(verbs) -> None:
    parser = add_verb(
        verbs,
        "cache-conditions",
        "derive the sketches (Canny edges) and keypoints (facexlib landmarks) a real data set lacks, into its data "
        "cache (resumes if interrupted)",
        run_cache_conditions,
    )
    parser.add_argument(
        "--landmarks",
        default=None,
        metavar="FILE",
        help="facexlib's alignment_WFLW_4HG.pth (or its folder) for the keypoints (default: judges.landmarks; "
        "none: keypoints are not derived)",
    )
    parser.add_argument("--kinds", default="sketch,keypoints", help="which to derive, comma-separated")
    parser.add_argument("--batch-size", type=int, default=16, help="faces per landmark-model batch")
    add_config_args(parser, "the config whose data set is completed")


def add_parsers(verbs) -> None:
    add_cache_conditions(verbs)
