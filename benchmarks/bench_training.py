"""Embedded training on this CPU, per variant: samples per second, the share of a step spent waiting for data,
and the peak RSS; next to plain diffusers FLUX LoRA steps (peft, the same rank and targets) on [T; X], and on
the tokens each variant's step runs through its layers: [T; X; M] (holistic, hard_decoupled: T + 2N) and
[T; T; X; M] (improved_decoupled, whose static pass repeats the text: 2T + 2N).

Every variant is timed in one process, alternately (each round loads one batch and runs one step of each
variant on it, the order rotated), so the machine's drifts hit all alike; its peak RSS comes from a short run in
a process of its own. Each uses the committed config's model, batch and data but no condition dropout (so each
step does the variant's whole work; `--set` puts it back), a random-weight backbone of the configured shape
(timing does not depend on the weights), the config's data loader (data.num_workers), and `--steps` timed
rounds after `--warmup`. With SynthFaces' render cache on (the default), the faces the steps read are first
rendered into a temporary cache folder (unless `--set data.cache_dir=` names one), timed: that is the loader's cost
per batch without the cache; the timed rounds then read them from it.

    python benchmarks/bench_training.py -c experiments/synthfaces.yaml --steps 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mdit.backbone import new_embedded_backbone
from mdit.conditioning import encode_image, encode_mask, latent_image_ids
from mdit.config import load_config
from mdit.data.registry import build_datamodule as datamodule
from mdit.model import STRATEGIES, lora_settings
from mdit.training import MDiTModule, step_generator

BASELINE = "diffusers_lora"
# diffusers LoRA steps on more tokens: (text copies, image copies), and the variants whose tokens they match
SAME_TOKENS = {BASELINE: (1, 1), "diffusers_lora_t_2n": (1, 2), "diffusers_lora_2t_2n": (2, 2)}
SAME_TOKENS_AS = {
    "concat": BASELINE,
    "holistic": "diffusers_lora_t_2n",
    "hard_decoupled": "diffusers_lora_t_2n",
    "improved_decoupled": "diffusers_lora_2t_2n",
}


def build_step(config: str | None, overrides: list[str], variant: str) -> tuple[Callable[[dict, int], None], int]:
    """One training step of `variant` on a batch (a fresh random-weight backbone of its own) and its trainable count.
    No condition dropout: every step then does a variant's whole work (a dropped mask skips the mask tokens and
    splits the batch in two forwards), as the references' single forward always does."""
    torch.manual_seed(0)
    no_dropout = ["train.mask_dropout=0", "train.text_dropout=0"]
    attention = "none" if variant in SAME_TOKENS else variant
    cfg = load_config(config, [*no_dropout, *overrides, f"model.attention={attention}"])
    module = MDiTModule(cfg, new_embedded_backbone(cfg.backbone, seed=0)).train()
    if variant in SAME_TOKENS:
        return _diffusers_step(module, cfg, *SAME_TOKENS[variant])
    optimizer = module.configure_optimizers()

    def step(batch: dict[str, Any], i: int) -> None:
        module.flow_matching_loss(batch, step_generator(0, i)).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, sum(p.numel() for _, p in module.trainable_parameters())


def training_batches(config: str | None, overrides: list[str]) -> Iterator[dict[str, Any]]:
    data = datamodule(load_config(config, overrides))
    data.setup("fit")
    return iter(data.train_dataloader())


def peak_memory(config: str | None, overrides: list[str], variant: str, steps: int) -> dict[str, Any]:
    """One process's peak RSS over `steps` steps of one variant (run alone, so the peak is its own)."""
    step, trainable = build_step(config, overrides, variant)
    batches = training_batches(config, overrides)
    for i in range(steps):
        step(next(batches), i)
    return {"peak_rss_mib": round(peak_rss_kib() / 1024, 1), "trainable_parameters": trainable}


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: exec carries the spawning process's
    peak into it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: peak RSS is measured on Linux only")


def time_alternately(
    config: str | None, overrides: list[str], variants: list[str], steps: int, warmup: int
) -> dict[str, Any]:
    """Step times of every variant in one process, alternating: each round loads one batch (its wait is the data
    wait) and runs one step of each variant on it, the order rotated per round; medians of the rounds after
    `warmup`. The machine's drifts then hit every variant alike."""
    steps_of = {variant: build_step(config, overrides, variant)[0] for variant in variants}
    batches = training_batches(config, overrides)
    waits: list[float] = []
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    for i in range(warmup + steps):
        start = time.perf_counter()
        batch = next(batches)
        waits.append(time.perf_counter() - start)
        for variant in variants[i % len(variants) :] + variants[: i % len(variants)]:
            start = time.perf_counter()
            steps_of[variant](batch, i)
            times[variant].append(time.perf_counter() - start)
    waits = waits[warmup:]
    batch_size = load_config(config, overrides).data.batch_size
    results = {}
    for variant, measured in times.items():
        step_s = statistics.median(measured[warmup:])
        results[variant] = {
            "samples_per_s": round(batch_size / step_s, 2),
            "step_ms": round(step_s * 1e3, 2),
            "data_wait_ms": round(statistics.median(waits) * 1e3, 3),
            "data_wait_share": round(sum(waits) / (sum(waits) + sum(measured[warmup:])), 4),
            "batch": batch_size,
        }
    return results


def fill_render_cache(config: str | None, overrides: list[str], batches: int) -> dict[str, Any] | None:
    """Load the first `batches` training batches once, filling the render cache: their time per batch is the loader's
    cost when every face is rendered. None when the config caches no rendered faces."""
    data = datamodule(load_config(config, overrides))
    data.setup("fit")
    if getattr(data.train_set, "cache", None) is None:
        return None
    loader = iter(data.train_dataloader())
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return {"rendered_ms_per_batch": round((time.perf_counter() - start) / batches * 1e3, 3)}


def _diffusers_step(
    module: MDiTModule, cfg, text_copies: int = 1, image_copies: int = 1
) -> tuple[Callable[[dict, int], None], int]:
    """diffusers' FluxTransformer2DModel.forward + backward with one peft LoRA (same rank and targets) on the text
    tokens `text_copies` times and the image tokens `image_copies` times (the copies after the first are the
    mask's latents, as the mask tokens of a variant); the loss on the first N outputs."""
    from peft import inject_adapter_in_model

    base = module.model.base
    settings = lora_settings(cfg.model.lora)
    inject_adapter_in_model(settings.peft_config(), base, adapter_name="default")
    params = [p for n, p in base.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    side = module.pipeline.latent_side

    def step(batch: dict[str, Any], i: int) -> None:
        gen = step_generator(0, i)
        x0 = encode_image(batch["image"], module.autoencoder)
        t = torch.rand(x0.shape[0], generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
        cond = module.pipeline.prepare(batch["caption"])
        masks = [encode_mask(batch["mask"], module.autoencoder)] * (image_copies - 1)
        v = base(
            hidden_states=torch.cat([x_t, *masks], dim=1),
            encoder_hidden_states=torch.cat([cond.text_tokens] * text_copies, dim=1),
            pooled_projections=cond.pooled,
            timestep=t,
            img_ids=latent_image_ids(side * image_copies, side, device=x0.device, dtype=x0.dtype),
            txt_ids=torch.cat([cond.txt_ids] * text_copies),
            guidance=cond.guidance,
            return_dict=False,
        )[0]
        F.mse_loss(v[:, : x0.shape[1]], eps - x0).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in params)


def measure_every_variant(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    """The render cache filled and timed, every variant's steps timed alternately, and each one's peak RSS."""
    results: dict[str, Any] = {"render_cache": fill_render_cache(args.config, overrides, args.warmup + args.steps)}
    print("render cache", results["render_cache"], flush=True)
    timed = time_alternately(args.config, overrides, args.variants, args.steps, args.warmup)
    for variant in args.variants:
        command = [
            sys.executable,
            __file__,
            "--worker",
            variant,
            "--memory-steps",
            str(args.memory_steps),
            *(["-c", args.config] if args.config else []),
            *(f"--set={o}" for o in overrides),
        ]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[variant] = {**timed[variant], **json.loads(out.strip().splitlines()[-1])}
        print(variant, results[variant], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[*SAME_TOKENS, *(v for v in STRATEGIES if v != "none")],
        help="`none` has nothing to train under LoRA",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override, e.g. --set data.num_workers=1 (repeatable)",
    )
    parser.add_argument("--memory-steps", type=int, default=3, help="steps of each variant's own memory process")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(peak_memory(args.config, args.overrides, args.worker, args.memory_steps)))
        return
    results: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "overrides": args.overrides,
    }
    with tempfile.TemporaryDirectory(prefix="bench-training-") as scratch:
        overrides = list(args.overrides)
        synthfaces = load_config(args.config, overrides).data.name == "synthfaces"
        if synthfaces and not any(o.startswith("data.cache_dir=") for o in overrides):
            overrides.append(f"data.cache_dir={scratch}")
        results.update(measure_every_variant(args, overrides))
    for variant in args.variants:
        if BASELINE in results:
            results[variant]["step_ratio_vs_diffusers_lora"] = round(
                results[variant]["step_ms"] / results[BASELINE]["step_ms"], 3
            )
        same = SAME_TOKENS_AS.get(variant)
        if same in results:
            results[variant]["same_tokens_baseline"] = same
            results[variant]["step_ratio_vs_same_tokens"] = round(
                results[variant]["step_ms"] / results[same]["step_ms"], 3
            )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
