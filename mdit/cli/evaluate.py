"""`mdit eval` and `mdit judges train`: scoring a run's test samples, and the embedded judges that score them."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdit.cli.common import add_config_args, add_overrides, add_verb, config_from


def run_eval(args: argparse.Namespace) -> int:
    from functools import partial

    from mdit.evaluation import evaluate, evaluate_checkpoints
    from mdit.runs import METRICS_FILE

    overrides = list(args.overrides)
    for option, key in ((args.mode, "eval.mode"), (args.set, "eval.set")):
        if option is not None:
            if any(item.split("=", 1)[0].strip() == key for item in overrides):
                raise ValueError(f"--{key.split('.')[1]} and {key}=... both given; pass one")
            overrides.append(f"{key}={option}")
    log = partial(print, flush=True)
    if args.checkpoints == "all":
        curve = evaluate_checkpoints(args.run_dir, overrides, log=log)
        print(f"wrote {Path(args.run_dir) / METRICS_FILE} (eval_checkpoints: {len(curve)} steps)")
        return 0
    results = evaluate(args.run_dir, overrides, log=log)
    print(f"wrote {Path(args.run_dir) / METRICS_FILE} and {results['grid']}")
    return 0


def add_eval(verbs) -> None:
    parser = add_verb(verbs, "eval", "generate the test samples of a run and score them (metrics.json, W&B)", run_eval)
    parser.add_argument("run_dir", metavar="RUN", help="run folder written by `mdit train` (runs/<group>/<name>)")
    parser.add_argument(
        "--mode",
        choices=["both", "text", "mask"],
        default=None,
        help="conditions given to the model (default: eval.mode, both)",
    )
    parser.add_argument(
        "--set",
        choices=["test", "conflict", "agree"],
        default=None,
        help="the samples: the test split, or SynthFaces pairs whose mask and caption disagree / agree on one shape "
        "attribute (default: eval.set, test)",
    )
    parser.add_argument(
        "--checkpoints",
        choices=["last", "all"],
        default="last",
        help="all: score every checkpoint the run kept (train.keep_checkpoints) for its learning curve, into "
        "metrics.json's eval_checkpoints (a smaller eval.count is fine); default: the last one",
    )
    add_overrides(
        parser,
        "eval.* and judges.* overrides on the run's config, e.g. eval.count=64 judges.topiq_home=~/torch; a run "
        "keeps the config (and profile) it was trained with",
    )


def run_judges_train(args: argparse.Namespace) -> int:
    import time

    from mdit.judges.landmark_training import LANDMARKS_CARD, ensure_landmark_judge, load_landmark_judge
    from mdit.judges.training import ensure_judges, load_embedded_clip, load_parser
    from mdit.paths import landmarks_dir

    cfg = config_from(args)
    folder = ensure_judges(cfg)
    cached = (landmarks_dir(cfg) / LANDMARKS_CARD).is_file()
    started = time.perf_counter()
    landmarks = ensure_landmark_judge(cfg)
    built = "cached" if cached else f"trained in {time.perf_counter() - started:.0f} s"
    _, parser_card = load_parser(folder)
    _, clip_card = load_embedded_clip(folder)
    _, landmark_card = load_landmark_judge(landmarks)
    print(f"embedded judges: {folder}")
    accuracy = parser_card["heldout_pixel_accuracy"]
    print(f"parser: held-out pixel accuracy {accuracy:.2f} % (the ceiling of mask accuracy)")
    print(
        f"clip: held-out image->caption retrieval top-1 {clip_card['heldout_retrieval_top1']:.2f} % "
        f"among {clip_card['heldout_size']} (chance {100 / clip_card['heldout_size']:.2f} %)"
    )
    print(f"landmark judge: {landmarks} ({built})")
    print(
        f"landmarks: held-out NME {landmark_card['heldout_nme']:.2f} % of the inter-ocular distance on "
        f"{landmark_card['heldout_size']} renders (the floor of the keypoint error)"
    )
    return 0


def add_judges(verbs) -> None:
    judges = add_verb(verbs, "judges", "the embedded judges of the metrics")
    judge_verbs = judges.add_subparsers(dest="judges_verb", required=True, metavar="VERB")
    train = add_verb(
        judge_verbs,
        "train",
        "train and cache the embedded judges, the landmark judge included (once; their seed is judges.seed, not seed)",
        run_judges_train,
    )
    add_config_args(
        train, "the config whose judges.* keys are trained", overrides="dotlist overrides, e.g. judges.parser_steps=500"
    )


def add_parsers(verbs) -> None:
    add_eval(verbs)
    add_judges(verbs)
