"""The GPU check: one command that a person with one GPU runs, and a Markdown report with every number.

Stages, each a child process with its own time limit, inside one overall budget (default 9 min,
so that it fits one 10-minute call on a lent H200):

1. the GPU-marked tests (``pytest -m gpu``: they run on CUDA where it is present);
2. the three benchmarks at the paper profile: training (bare, ``--try`` speed settings, and
   the ``semsegdiff train`` path), sampling (the reference procedure against ours, images/s and
   MFU at large batches), evaluation throughput;
3. ``semsegdiff notebooks run --profile gpu`` (what ``make run PROFILE=gpu`` runs), for the time
   that is left; notebooks that do not fit are named as not run.

    python benchmarks/gpu_check.py [--budget 540] [--report benchmarks/reports/gpu_check.md] [--skip notebooks]

A machine without diffusers, segmentation-models-pytorch, torch-fidelity or papermill (the lent
H200's image) needs them as wheels first: see README, "GPU".
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("diffusers", "segmentation_models_pytorch", "torch_fidelity", "papermill", "pytorch_lightning", "torchmetrics")


def run(name: str, cmd: list[str], limit: float, log: Path) -> tuple[int | None, float, str]:
    """Run ``cmd`` in the repo root for at most ``limit`` seconds; (exit code or None if killed, seconds, output)."""
    print(f"== {name}: {' '.join(cmd)} (limit {limit:.0f} s)", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            code = proc.wait(timeout=max(1.0, limit))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            code = None
    out = log.read_text(errors="replace")
    print(out[-3000:], flush=True)
    return code, time.perf_counter() - start, out


def ensure_kernel(py: str, logs: Path) -> None:
    """The notebooks run on the Jupyter kernel "semsegdiff": registered under a temporary prefix when missing."""
    try:
        from jupyter_client.kernelspec import find_kernel_specs
    except ImportError:
        return  # no Jupyter: the notebooks stage will say so
    if "semsegdiff" in find_kernel_specs():
        return
    prefix = logs / "kernel"
    subprocess.run([py, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "semsegdiff"], check=False,
                   capture_output=True)
    os.environ["JUPYTER_PATH"] = f"{prefix / 'share' / 'jupyter'}:{os.environ.get('JUPYTER_PATH', '')}"


def lines(out: str, *patterns: str) -> list[str]:
    """The output lines matching any pattern (the numbers a report keeps)."""
    return [ln.strip() for ln in out.splitlines() if any(re.search(p, ln) for p in patterns)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=540, help="seconds for all stages together")
    p.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "reports" / "gpu_check.md")
    p.add_argument("--skip", action="append", default=[], choices=["tests", "benchmarks", "notebooks"])
    p.add_argument("--logs", type=Path, default=Path("/tmp/semsegdiff-gpu-check"))
    a = p.parse_args()
    deadline = time.perf_counter() + a.budget
    later = {"tests": 0.0, "benchmarks": 300.0, "notebooks": 120.0}  # least time the stages after each want
    left = lambda reserve=0.0: max(30.0, deadline - time.perf_counter() - reserve)  # noqa: E731
    a.logs.mkdir(parents=True, exist_ok=True)
    missing = [m for m in NEEDED if __import__("importlib").util.find_spec(m) is None]
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA GPU"
    report = [f"# GPU check, {time.strftime('%Y-%m-%d %H:%M %Z')}", "",
              f"- GPU: **{gpu}** (x{torch.cuda.device_count()}); torch {torch.__version__}, CUDA "
              f"{torch.version.cuda}; python {sys.version.split()[0]}",
              f"- command: `python benchmarks/gpu_check.py --budget {a.budget:g}`"]
    if missing:
        report.append(f"- **missing packages: {', '.join(missing)}** (see README, GPU): stages that need them fail")
    py = sys.executable
    if "tests" not in a.skip:
        xdist = (["-n", str(max(1, min(8, (os.cpu_count() or 2) // 2)))]  # workers share the GPU
                 if __import__("importlib").util.find_spec("xdist") else [])
        code, secs, out = run("GPU-marked tests", [py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                                                   "-o", "addopts=-ra", *xdist], min(180, left(sum(v for k, v in later.items() if k not in a.skip and k != "tests"))), a.logs / "tests.log")
        summary = lines(out, r"\d+ (passed|failed)", r"^FAILED", r"^ERROR")
        report += ["", "## GPU-marked tests", f"exit {code} in {secs:.0f} s" + (" (stopped at its limit)" if code is None
                                                                                 else ""), "```", *summary[-25:], "```"]
    if "benchmarks" not in a.skip:
        report += ["", "## Benchmarks (paper profile)"]
        for name, cmd, limit, keep in [
            ("training", [py, "benchmarks/training.py", "--profile", "paper", "--steps", "40", "--warmup", "15",
                          "--try", "channels_last=true", "--try", "compile=true", "--train-path"], 240,
             (r"^profile", r"FLOPs", r"images/s")),
            ("sampling", [py, "benchmarks/sampling.py", "--profile", "paper", "--batch", "16", "--ref-steps", "50",
                          "--batches", "64,128,256"], 150, (r"^profile", r"s/image", r"speed-up", r"images/s")),
            ("evaluation", [py, "benchmarks/evaluation.py", "--profile", "gpu", "--n", "500"], 60,
             (r"images/s", r"ratio", r"^profile")),
        ]:
            code, secs, out = run(name, cmd, min(limit, left(0 if "notebooks" in a.skip else later["notebooks"])),
                                  a.logs / f"{name}.log")
            report += ["", f"### {name}: `{' '.join(cmd[1:])}`",
                       f"exit {code} in {secs:.0f} s" + (" (stopped at its limit)" if code is None else ""),
                       "```", *(lines(out, *keep) or out.strip().splitlines()[-8:]), "```"]
    if "notebooks" not in a.skip:
        ensure_kernel(py, a.logs)
        code, secs, out = run("notebooks, profile gpu", [py, "-m", "semsegdiff.cli", "notebooks", "run", "--profile",
                                                          "gpu"], left(10), a.logs / "notebooks.log")
        done = lines(out, r"^\[\d+/\d+\] .* done in")
        report += ["", "## `make run PROFILE=gpu` (semsegdiff notebooks run --profile gpu)",
                   f"exit {code} in {secs:.0f} s" + (" (stopped at the budget: the notebooks after the last one "
                                                     "listed were not run)" if code is None else ""),
                   "```", *done, *lines(out, r"error", r"consistency mIoU", r"FID"), "```"]
        targets = ROOT / "figures" / "gpu" / "04_generation_quality_targets.md"
        if targets.is_file() and targets.stat().st_mtime > deadline - a.budget:
            report += ["", "Targets (figures/gpu/04_generation_quality_targets.md):", "", targets.read_text()]
    report += ["", f"Logs: {a.logs}/*.log"]
    a.report.parent.mkdir(parents=True, exist_ok=True)
    a.report.write_text("\n".join(report) + "\n")
    print(f"report: {a.report}")


if __name__ == "__main__":
    main()
