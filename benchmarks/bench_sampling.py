"""The cost of the mask at sampling time, per variant, with random weights (nothing downloaded).

--model dev: the FLUX.1-dev-size transformer in bf16 on a GPU, 512 px, 512 text tokens; --model embedded:
the embedded backbone's shape in fp32 on the CPU, 32 px, 64 text tokens; --model tiny: checks the script.
Batch 1, 28 steps. Per variant and sampling mode: seconds per generation (variants timed alternately,
medians), the extra time over `none`, host syncs per generation, the attention kernels' share of one
step; the composition overhead (holistic without adapters against diffusers' own forward on the same
number of tokens) and the adapters' own cost (holistic with its adapters against without); the peak memory
and time of one LoRA training step (bf16 base, fp32 adapters, bf16 autocast, AdamW), with and without
gradient checkpointing.

    python benchmarks/bench_sampling.py --model dev --out docs/performance/h100_run2.json  # a GPU
    python benchmarks/bench_sampling.py --model embedded --rounds 5                     # this CPU
    python benchmarks/bench_sampling.py --model dev --stride 2 --readers image --out docs/performance/h100_s2.json

The three mask-token variants have the same modules (visual embedder, "image" and "mask" adapters);
only the strategy differs, so one model serves all three and the weights stay identical.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import diffusers
import torch
import torch.nn.functional as F
from diffusers import FluxTransformer2DModel

from mdit.backbone import embedded_transformer_kwargs
from mdit.conditioning import latent_image_ids
from mdit.config import load_config
from mdit.cost.flops import GenerationShape, generation_inputs
from mdit.cost.measure import seconds_per_image
from mdit.model import LoraSettings, MDiTTransformer, get_strategy
from mdit.sampling import Conditions, euler_sample, flux_sigmas, mdit_velocity
from mdit.variants import MASK_READERS

TOKEN_VARIANTS = ("holistic", "hard_decoupled", "improved_decoupled")
DEV_SHAPE = GenerationShape(
    image_tokens=1024, text_tokens=512, latent_features=64, text_dim=4096, pooled_dim=768, steps=28, guidance=3.5
)
TINY_CONFIG = dict(
    num_layers=1,
    num_single_layers=2,
    attention_head_dim=16,
    num_attention_heads=2,
    joint_attention_dim=32,
    pooled_projection_dim=16,
    axes_dims_rope=(4, 6, 6),
)
TINY_SHAPE = GenerationShape(16, 8, 64, 32, 16, steps=4, guidance=3.5)
MODELS = ("dev", "embedded", "tiny")
SECTIONS = ("sampling", "composition", "training")
MODES = ("eager", "merged", "merged+graphs")
ATTENTION_KERNELS = ("flash", "fmha", "attention", "sdpa", "cudnn_mha")


def embedded() -> tuple[dict[str, Any], GenerationShape]:
    """The embedded backbone's transformer config and generation shape, from the default config."""
    cfg = load_config()
    kwargs = embedded_transformer_kwargs(cfg.backbone)
    side = cfg.data.resolution // cfg.backbone.autoencoder_factor // 2
    shape = GenerationShape(
        image_tokens=side * side,
        text_tokens=cfg.backbone.text_max_length,
        latent_features=kwargs["in_channels"],
        text_dim=cfg.backbone.text_dim,
        pooled_dim=cfg.backbone.text_dim,
        steps=cfg.eval.steps,
    )
    return kwargs, shape


class Bench:
    """Device, dtype and shapes of one benchmark run."""

    def __init__(self, model: str, rounds: int, stride: int = 1, readers: str = "image_text") -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() and model == "dev" else "cpu")
        self.dtype = torch.float32 if model == "embedded" else torch.bfloat16
        self.config, self.shape = {
            "dev": ({"guidance_embeds": True}, DEV_SHAPE),
            "embedded": embedded(),
            "tiny": ({**TINY_CONFIG, "guidance_embeds": True}, TINY_SHAPE),
        }[model]
        self.rounds = rounds
        self.tokens = {"mask_token_stride": stride, "mask_readers": readers}  # the mask-token variants' options

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def build(self, attention: str, lora: LoraSettings | None) -> MDiTTransformer:
        """A transformer of this benchmark's config with random weights in its dtype, on its device."""
        torch.manual_seed(0)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            with torch.device(self.device):
                base = FluxTransformer2DModel(**self.config)
                options = self.tokens if get_strategy(attention).mask_tokens else {}
                model = MDiTTransformer(base, attention, lora, **options)
                model.set_empty_caption(torch.randn(self.shape.pooled_dim))
        finally:
            torch.set_default_dtype(previous)
        return model.to(self.dtype).eval().requires_grad_(False)

    def inputs(self, model: MDiTTransformer) -> tuple[Conditions, torch.Tensor]:
        cond, noise = generation_inputs(model, self.shape)
        cast = {
            k: getattr(cond, k).to(self.dtype)
            for k in ("text_tokens", "pooled", "guidance")
            if getattr(cond, k) is not None
        }
        if cond.mask is not None:
            cast["mask"] = cond.mask.to(self.dtype)
        return replace(cond, **cast), noise.to(self.dtype)

    def sigmas(self) -> torch.Tensor:
        return flux_sigmas(self.shape.steps, self.shape.image_tokens).to(self.device)


def generation(
    model: MDiTTransformer, cond: Conditions, noise: torch.Tensor, sigmas: torch.Tensor, graphs: bool = False
) -> Callable:
    """One whole generation: the static pass (decoupled variants) and every Euler step (`graphs`: the step
    captured once as a CUDA graph after the first, eager step, and replayed)."""

    @torch.no_grad()
    def run() -> torch.Tensor:
        velocity = mdit_velocity(model, cond)
        return euler_sample(cuda_graphed(velocity) if graphs else velocity, noise, sigmas)

    return run


def cuda_graphed(velocity: Callable) -> Callable:
    """v(x, t) whose first call runs eagerly (the warm-up) and captures a CUDA graph; later calls replay it.
    The returned tensor is the graph's output buffer: valid until the next call."""
    state: dict[str, Any] = {}

    def run(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not state:
            out = velocity(x, t)
            state["x"], state["t"] = x.clone(), t.clone()
            state["graph"] = torch.cuda.CUDAGraph()
            torch.cuda.synchronize()
            with torch.cuda.graph(state["graph"]):
                state["out"] = velocity(state["x"], state["t"])
            return out
        state["x"].copy_(x)
        state["t"].copy_(t)
        state["graph"].replay()
        return state["out"]

    return run


def time_alternately(bench: Bench, runs: dict[str, Callable]) -> dict[str, list[float]]:
    """Seconds of each run, the runs interleaved round by round after one warm-up each."""
    for run in runs.values():
        run()
    bench.sync()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(bench.rounds):
        for name, run in runs.items():
            bench.sync()
            start = time.perf_counter()
            run()
            bench.sync()
            times[name].append(time.perf_counter() - start)
    return times


def host_syncs(bench: Bench, run: Callable) -> int | None:
    """Synchronising CUDA calls during one run (torch's sync debug mode); None on CPU."""
    if bench.device.type != "cuda":
        return None
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
            bench.sync()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def attention_share(bench: Bench, step: Callable) -> dict[str, Any]:
    """Share of one step's kernel time spent in attention kernels (profiler, self time), and their names."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if bench.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    step()
    bench.sync()
    with torch.profiler.profile(activities=activities) as prof:
        step()
        bench.sync()
    key = "self_device_time_total" if bench.device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, key, 0) > 0]
    if bench.device.type == "cuda":
        events = [e for e in events if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA]
    else:
        events = [e for e in events if e.key.startswith("aten::")]
    total = sum(getattr(e, key) for e in events)
    attn = [e for e in events if any(k in e.key.lower() for k in ATTENTION_KERNELS)]
    top = sorted(events, key=lambda e: -getattr(e, key))[:12]
    return {
        "share": sum(getattr(e, key) for e in attn) / max(total, 1),
        "step_kernel_ms": total / 1e3,
        "kernels": sorted({e.key[:80] for e in attn}),
        "top": [(e.key[:80], round(getattr(e, key) / 1e3, 3), e.count) for e in top],
    }


def summarise(times: dict[str, list[float]], baseline: str = "none") -> dict[str, dict[str, float]]:
    base = statistics.median(times[baseline])
    rows = {}
    for name, values in times.items():
        median = statistics.median(values)
        rows[name] = {
            "seconds": round(median, 4),
            "min": round(min(values), 4),
            "max": round(max(values), 4),
            "ratio_vs_none": round(median / base, 4),
            "extra_seconds": round(median - base, 4),
        }
    return rows


def sampling_concat(bench: Bench, none: MDiTTransformer, concat: MDiTTransformer, graphs: bool) -> dict[str, Any]:
    runs = {
        name: generation(m, *bench.inputs(m), bench.sigmas(), graphs)
        for name, m in (("none", none), ("concat", concat))
    }
    return {"timing": summarise(time_alternately(bench, runs)), "host_syncs": host_syncs(bench, runs["concat"])}


def sampling_tokens(
    bench: Bench, none: MDiTTransformer, tokens: MDiTTransformer, graphs: bool, profile: bool
) -> dict[str, Any]:
    cond_none, noise = bench.inputs(none)
    cond_mask, _ = bench.inputs(tokens)
    runs = {"none": generation(none, cond_none, noise, bench.sigmas(), graphs)}
    for name in TOKEN_VARIANTS:
        runs[name] = _with_strategy(tokens, name, generation(tokens, cond_mask, noise, bench.sigmas(), graphs))
    result: dict[str, Any] = {"timing": summarise(time_alternately(bench, runs))}
    result["host_syncs"] = {name: host_syncs(bench, run) for name, run in runs.items()}
    if not profile:
        return result
    t = torch.full((1,), 0.5, device=bench.device, dtype=bench.dtype)
    shares = {"none": attention_share(bench, lambda: mdit_velocity(none, cond_none)(noise, t))}
    for name in TOKEN_VARIANTS:
        tokens.strategy = get_strategy(name)
        with torch.no_grad():
            velocity = mdit_velocity(tokens, cond_mask)  # the static pass runs here, outside the profiled step
            shares[name] = attention_share(bench, lambda v=velocity: v(noise, t))
    result["attention"] = shares
    with torch.no_grad():
        for name in ("hard_decoupled", "improved_decoupled"):
            tokens.strategy = get_strategy(name)
            cache = tokens.prepare_static_cache(
                cond_mask.mask,
                cond_mask.text_tokens,
                cond_mask.pooled,
                cond_mask.img_ids,
                cond_mask.txt_ids,
                cond_mask.guidance,
            )
            result.setdefault("static_cache_bytes", {})[name] = cache.nbytes
        ids = torch.cat([cond_none.txt_ids, cond_none.img_ids])
        result["rope_ms_per_computation"] = seconds_per_image(lambda: none.base.pos_embed(ids), 1, 20) * 1e3
    return result


def _with_strategy(model: MDiTTransformer, name: str, run: Callable) -> Callable:
    def switched() -> torch.Tensor:
        model.strategy = get_strategy(name)
        return run()

    return switched


@torch.no_grad()
def composition(bench: Bench, none: MDiTTransformer, lora: LoraSettings) -> dict[str, Any]:
    """Holistic without adapters ([T;X;M]) against diffusers' forward on [T; 2N image tokens], the same tokens: the
    cost of composition; and holistic with its two adapters (as trained: the X and M streams then run apart, each
    with its adapter): the adapters' own cost."""
    holistic = MDiTTransformer(none.base, "holistic", None).to(bench.dtype)  # shares the base; no adapters
    adapted = bench.build("holistic", lora)  # its own base (adapters are injected into it), same weights
    cond, noise = bench.inputs(holistic)
    t = torch.full((1,), 0.5, device=bench.device, dtype=bench.dtype)
    side = round(bench.shape.image_tokens**0.5)
    wide_ids = latent_image_ids(2 * side, 4 * side, device=bench.device)  # 2N positions
    wide = torch.cat([noise, cond.mask], dim=1)

    def diffusers_forward() -> torch.Tensor:
        return none.base(
            hidden_states=wide,
            encoder_hidden_states=cond.text_tokens,
            pooled_projections=cond.pooled,
            timestep=t,
            img_ids=wide_ids,
            txt_ids=cond.txt_ids,
            guidance=cond.guidance,
            return_dict=False,
        )[0]

    def forward_of(model: MDiTTransformer) -> Callable[[], torch.Tensor]:
        return lambda: model(
            noise, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask
        )

    result = {}
    for key, wrap in (("forward", lambda f: f), ("forward_backward", _with_backward)):
        if key == "forward_backward" and bench.device.type == "cuda":
            continue  # every weight trainable: FLUX.1-dev's gradients alone would take 24 GB
        for model in (none, adapted):  # the same base weights trainable in all three; the adapters too in theirs
            model.requires_grad_(key == "forward_backward")
        runs = {
            "diffusers": wrap(diffusers_forward),
            "holistic_no_adapters": wrap(forward_of(holistic)),
            "holistic_adapters": wrap(forward_of(adapted)),
        }
        ms = {k: round(statistics.median(v) * 1e3, 3) for k, v in time_alternately(bench, runs).items()}
        result[key] = {
            "ms": ms,
            "ratio": round(ms["holistic_no_adapters"] / ms["diffusers"], 4),
            "adapters_ratio": round(ms["holistic_adapters"] / ms["holistic_no_adapters"], 4),
        }
    none.requires_grad_(False)
    return result


def _with_backward(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.enable_grad():
            forward().float().square().mean().backward()

    return run


def training_step_memory(bench: Bench, model: MDiTTransformer, variants: tuple[str, ...]) -> dict[str, Any]:
    """Peak memory and seconds of one LoRA step per variant and gradient-checkpointing setting (after a warm-up)."""
    trainable = [
        p for n, p in model.named_parameters() if "lora_" in n or (model.strategy.mask_channels and "x_embedder" in n)
    ]
    for p in trainable:
        p.data = p.data.float()
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    cond, x0 = bench.inputs(model)
    t = torch.full((1,), 0.7, device=bench.device)
    x_t = (1 - t) * x0 + t * torch.randn_like(x0)
    target = torch.randn_like(x0).float()

    def step() -> None:
        with torch.autocast(bench.device.type, dtype=bench.dtype):
            v = model(x_t, cond.text_tokens, cond.pooled, t, cond.img_ids, cond.txt_ids, cond.guidance, cond.mask)
        F.mse_loss(v.float(), target).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    results: dict[str, Any] = {"trainable_parameters": sum(p.numel() for p in trainable)}
    for name in variants:
        model.strategy = get_strategy(name)
        for checkpointing in (False, True):
            model.gradient_checkpointing = checkpointing
            key = f"{name}{'+checkpointing' if checkpointing else ''}"
            try:
                step()
                bench.sync()
                if bench.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                step()
                bench.sync()
                seconds = time.perf_counter() - start
                peak = torch.cuda.max_memory_allocated() / 2**30 if bench.device.type == "cuda" else None
                results[key] = {"peak_gib": None if peak is None else round(peak, 2), "seconds": round(seconds, 4)}
            except torch.cuda.OutOfMemoryError as error:
                optimizer.zero_grad(set_to_none=True)
                results[key] = {"error": f"out of memory: {str(error).splitlines()[0]}"}
            print(key, results[key], flush=True)
    model.gradient_checkpointing = False
    return results


def attempt(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One mode's measurements, or the error that stopped them (the other modes still run)."""
    try:
        return measure()
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"[:2000]}


def release() -> None:
    """Give the memory of dropped models back (the caller drops its references first)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def environment(bench: Bench) -> dict[str, Any]:
    env = {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
        "device": str(bench.device),
        "dtype": str(bench.dtype),
        "shape": bench.shape.__dict__,
        "config": bench.config if len(bench.config) > 1 else "FLUX.1-dev (diffusers defaults, guidance_embeds=True)",
        "rounds": bench.rounds,
    }
    if bench.device.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        env |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1), "cuda": torch.version.cuda}
    else:
        env["cpu"] = platform.processor() or platform.machine()
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="dev",
        help="dev: FLUX.1-dev size (GPU if present); "
        "embedded: the embedded backbone's size on CPU; tiny: checks the script",
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed generations per variant (alternating)")
    parser.add_argument("--stride", type=int, default=1, help="the mask-token variants' model.mask_token_stride")
    parser.add_argument(
        "--readers", default="image_text", choices=MASK_READERS, help="the mask-token variants' model.mask_readers"
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        choices=MODES,
        help="sampling modes, measured in this order (merging is one-way): eager = adapters as "
        "trained; merged = image adapter merged (merge_image_adapter); merged+graphs = and "
        "the denoising step replayed as a CUDA graph (GPU only)",
    )
    args = parser.parse_args()
    bench = Bench(args.model, args.rounds, args.stride, args.readers)
    # Merging is one-way: the modes run in MODES order, whatever order they were given in; graphs need a GPU.
    args.modes = [m for m in MODES if m in args.modes and (bench.device.type == "cuda" or not m.endswith("graphs"))]
    results: dict[str, Any] = {"environment": environment(bench), "mask_tokens": bench.tokens}

    def save() -> None:
        print(json.dumps(results, indent=1), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)

    lora = LoraSettings()
    section, none = "build", None
    try:
        if "sampling" in args.sections or "composition" in args.sections:
            start = time.perf_counter()
            none = bench.build("none", None)
            results["build_seconds"] = round(time.perf_counter() - start, 1)
        if "sampling" in args.sections:
            section = "sampling_concat"
            concat = bench.build("concat", lora)
            for mode in args.modes:
                if mode != "eager":
                    concat.merge_image_adapter()
                graphs = mode.endswith("graphs")
                results[f"{section}/{mode}"] = attempt(lambda g=graphs: sampling_concat(bench, none, concat, g))
                save()
            concat = None
            release()
            section = "sampling_tokens"
            tokens = bench.build("holistic", lora)
            for mode in args.modes:
                if mode != "eager":
                    tokens.merge_image_adapter()
                graphs, profile = mode.endswith("graphs"), mode == "merged"
                results[f"{section}/{mode}"] = attempt(
                    lambda g=graphs, p=profile: sampling_tokens(bench, none, tokens, g, profile=p)
                )
                save()
            tokens = None
            release()
        if "composition" in args.sections:
            section = "composition"
            results[section] = composition(bench, none, lora)
            save()
        none = None
        release()
        if "training" in args.sections:
            section = "training_concat"
            concat = bench.build("concat", lora)
            results[section] = training_step_memory(bench, concat, ("concat",))
            save()
            concat = None
            release()
            section = "training_tokens"
            tokens = bench.build("holistic", lora)
            results[section] = training_step_memory(bench, tokens, TOKEN_VARIANTS)
    except Exception as error:  # keep what was measured; say where it stopped
        results["failed"] = {"section": section, "error": f"{type(error).__name__}: {error}"[:2000]}
        raise
    finally:
        save()


if __name__ == "__main__":
    main()
