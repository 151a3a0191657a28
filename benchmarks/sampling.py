"""Sampling speed: the reference procedure against ours, same model and mask batch, in one run.

Reference (WINS 2024 code): DDPM, 1000 steps, guidance from TWO separate forward passes per
step (conditional, then unconditional). Ours: DPM-Solver++ (diffusers), 20 steps, guidance
from ONE batched forward per step. Both use the same randomly initialised U-Net of the chosen
profile (speed does not depend on the weights) and the same masks. Each procedure runs in
its own child process so that peak memory is its own: GPU peak allocated memory on CUDA,
peak resident set size of the process on the CPU. Target: >= 50x faster. Then a distilled
student of the same network (``semsegdiff distill``: the U-Net plus its guidance input; LCM,
one forward per step) in 1, 2 and 4 steps. Target: >= 250x the reference.

    python benchmarks/sampling.py [--profile quick|gpu|paper] [--batch 8] [--ref-steps 1000] [--device cuda]
                                  [--batches 64,128,256]

Every row runs in ``--precision`` (default auto: bf16 on CUDA and on CPUs with native bf16); where
bf16 is native, ours is also timed in fp32 and in bf16 side by side (the ratio).

``--ref-steps`` below 1000 times that many DDPM steps and scales the time to 1000 (the
per-step cost is constant); the printout says so. ``--batches`` also times ours at larger
batches (throughput: images/s and MFU from the U-Net's counted forward FLOPs, two per step
with guidance, over the GPU's dense bf16 peak; see ``mfu.py``).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import torch

from mfu import device_name, forward_flops, mfu_line
from semsegdiff.config import PROFILES


def _model(profile: str, device: str, student: bool = False, precision: str = "auto"):
    from semsegdiff.config import get_profile
    from semsegdiff.models import DiffusionModule

    torch.manual_seed(0)
    extra = dict(teacher="benchmark", sampler="lcm", steps=4) if student else {}  # a student's network and sampler
    return DiffusionModule(**{**get_profile(profile, precision=precision), **extra}).to(device).eval()


@torch.no_grad()
def reference(model, masks: torch.Tensor, steps: int) -> torch.Tensor:
    """DDPM with two forwards per step (the reference's loop, on a diffusers scheduler)."""
    from semsegdiff.models import condition, make_scheduler
    from semsegdiff.precision import autocast

    sched = make_scheduler("ddpm", **{k: model.cfg[k] for k in ("noise_schedule", "prediction_type")})
    sched.set_timesteps(1000, device=masks.device)
    cond = condition(model.model, masks)
    x = torch.randn(masks.shape[0], 3, *masks.shape[1:], device=masks.device)
    for t in sched.timesteps[:steps]:
        with autocast(masks.device, model.cfg["precision"]):  # the same precision as ours
            c = model.model(x, t, cond).float()
            u = model.model(x, t, torch.zeros_like(cond)).float()
        x = sched.step(u + model.cfg["guidance"] * (c - u), t, x).prev_sample
    return x


def _run(kind: str, profile: str, batch: int, ref_steps: int, device: str, precision: str, queue) -> None:
    from semsegdiff.quiet import quiet

    quiet()
    model = _model(profile, device, student=kind.startswith("student"), precision=precision)
    size = model.size
    masks = torch.randint(0, 19, (batch, size, size), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    masks = masks.to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # warm-up, then time
    if kind == "reference":
        reference(model, masks, 2)
        sync()
        start = time.perf_counter()
        reference(model, masks, ref_steps)
        sync()
        seconds = (time.perf_counter() - start) * 1000 / ref_steps
    elif kind.startswith("student"):
        model.generate(masks, steps=1, seed=0)
        sync()
        start = time.perf_counter()
        model.generate(masks, steps=int(kind[len("student"):]), seed=0)
        sync()
        seconds = time.perf_counter() - start
    else:
        model.generate(masks, sampler="dpmsolver++", steps=2, seed=0)
        sync()
        start = time.perf_counter()
        model.generate(masks, sampler="dpmsolver++", steps=20, seed=0)
        sync()
        seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    queue.put((seconds, peak))


def measure(kind: str, *args) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(kind, *args, queue))
    proc.start()
    while proc.is_alive() or not queue.empty():
        try:
            result = queue.get(timeout=5)
            proc.join()
            return result
        except Exception:  # noqa: BLE001 - queue.Empty: keep waiting while the child lives
            continue
    raise SystemExit(f"the {kind} measurement failed (exit code {proc.exitcode}); its traceback is above")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="quick", choices=list(PROFILES))
    p.add_argument("--batch", type=int, default=8, help="masks per batch")
    p.add_argument("--ref-steps", type=int, default=1000, help="DDPM steps actually timed (scaled to 1000)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batches", default="", help="comma-separated larger batches to time ours at (throughput)")
    p.add_argument("--precision", default="auto", choices=["auto", "32", "bf16-mixed"],
                   help="of every row (auto: bf16 on CUDA and CPUs with native bf16); fp32 vs bf16 is timed apart")
    a = p.parse_args()
    args = (a.profile, a.batch, a.ref_steps, a.device, a.precision)
    model = _model(a.profile, a.device, precision=a.precision)
    guided = model.cfg["guidance"] != 1.0
    flops = forward_flops(model.model, model.size, 19, a.device) * (2 if guided else 1)  # per image and step
    del model
    from semsegdiff.precision import lightning_precision

    print(f"profile {a.profile}, batch {a.batch}, device {device_name(a.device)}, precision "
          f"{lightning_precision(a.precision, a.device)} ({a.precision}); counted FLOPs per image and step: "
          f"{flops / 1e9:.1f} GFLOP ({'two forwards: guided' if guided else 'one forward'})")
    ref_s, ref_mem = measure("reference", *args)
    ours_s, ours_mem = measure("ours", *args)
    mem = "peak GPU memory allocated" if a.device == "cuda" else "peak process RSS"
    scaled = f" (timed {a.ref_steps} steps, scaled to 1000)" if a.ref_steps != 1000 else ""
    print(f"reference  DDPM 1000 steps, 2 forwards/step: {ref_s:8.2f} s/batch  {ref_s / a.batch:7.3f} s/image  "
          f"{mem} {ref_mem / 2**20:8.1f} MiB{scaled}")
    print(f"ours       DPM-Solver++ 20 steps, batched CFG: {ours_s:8.2f} s/batch  {ours_s / a.batch:7.3f} s/image  "
          f"{mem} {ours_mem / 2**20:8.1f} MiB")
    print(f"speed-up: {ref_s / ours_s:.1f}x (target >= 50x); ours {a.batch / ours_s:.1f} images/s, "
          f"{mfu_line(a.batch / ours_s * 20 * flops, a.device)}")
    # throughput at large batches before the students: each row is its own process (~15 s of start-up on a GPU)
    for batch in [int(b) for b in a.batches.split(",") if b]:
        seconds, mem = measure("ours", a.profile, batch, a.ref_steps, a.device, a.precision)
        print(f"ours at batch {batch:4d}: {batch / seconds:8.1f} images/s, {mem / 2**20:8.1f} MiB; "
              f"{mfu_line(batch / seconds * 20 * flops, a.device)}", flush=True)
    if lightning_precision("bf16-mixed", a.device) == "bf16-mixed":  # bf16 is native here: what it buys
        fp32, bf16 = (measure("ours", a.profile, a.batch, a.ref_steps, a.device, p)[0] for p in ("32", "bf16-mixed"))
        print(f"precision: ours in bf16-mixed {a.batch / bf16:.1f} vs fp32 {a.batch / fp32:.1f} images/s: "
              f"{fp32 / bf16:.2f}x", flush=True)
    for n in (4, 2, 1):
        st_s, st_mem = measure(f"student{n}", *args)
        print(f"student    LCM {n} step{'s' if n > 1 else ' '}, 1 forward/step:     {st_s:8.2f} s/batch  "
              f"{st_s / a.batch:7.3f} s/image  {mem} {st_mem / 2**20:8.1f} MiB; {ref_s / st_s:.0f}x the reference "
              f"(target >= 250x), {ours_s / st_s:.1f}x ours", flush=True)


if __name__ == "__main__":
    main()
