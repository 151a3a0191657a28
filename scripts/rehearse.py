"""The paper route rehearsed on the CPU: every CLI verb and notebook with the ``paper`` (and ``gpu``) profile at 128 px.

A user with BDD100K and a GPU runs ``train``, ``generate``, ``edit``, ``evaluate``, ``ablate``,
``distill``, ``enrich`` and notebooks 01-07 with ``--profile paper`` (07: ``gpu``, x4 to 512 px) on the official
layout. This runs the same
commands on a BDD100K-layout folder made here (the 4 real pairs of ``tests/fixtures/bdd_sample``,
with ignore pixels, and synthetic scenes rendered at 128 px), with one set of tiny counts
(``TINY``: steps, masks, epochs) and every other setting the profile's own, so that what breaks
only at 128 px, with the paper U-Net's four levels, DeepLabv3 segmenters, ignore pixels or the paper
profile's settings breaks here first. Notebook 06 needs a model with attributes: it runs with the
``gpu`` profile, and on ``paper`` it must refuse at once, saying what it needs.

    python scripts/rehearse.py [--work runs/rehearsal] [--keep]   # what `make rehearse` and .ci/run run

Each step prints its time and the disk its work folder holds; the first failure stops with the command and its
output's tail. Paper-size models write 1.15 GB per resumable checkpoint, so each stage's runs are removed once no
later step reads them (``--keep`` keeps them to look at): the rehearsal's peak is printed at its end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TINY = {  # the counts that make 128 px fit a CPU; every other setting is the profile's
    "epochs": 1, "batch_size": 2, "n_preview": 2, "steps": 2, "judge_epochs": 1, "eval_masks": 4, "eval_per_mask": 1,
    "ablate_steps": 2, "ablate_seeds": 1, "ablate_n": [1.0], "ablate_regimes": ["low"], "ablate_low_fraction": 0.1,
    "ablate_gen_seeds": 1, "distill_iters": 2, "num_workers": 0,
}


def make_dataset(out: Path, n_synthetic: int = 36) -> Path:
    """A BDD100K-layout folder at 128 px: synthetic scenes (train and val) and the 4 real pairs, with ignore pixels."""
    from semsegdiff.data import open_dataset, read_attributes, write_bdd100k
    from semsegdiff.data.synthetic import write_dataset
    from semsegdiff.labels import IGNORE

    if (out / "images").is_dir():
        return out
    synth = write_dataset(out.with_name(out.name + "-synthetic"), n=n_synthetic, size=128, seed=5, val_fraction=0.25,
                          overwrite=True, progress=False)
    ds, real = open_dataset(synth), open_dataset(ROOT / "tests" / "fixtures" / "bdd_sample")
    table = read_attributes(ds)
    splits, codes = {}, {}
    for split, samples in ds.splits.items():
        pairs = [ds.read(s) for s in samples]
        splits[split] = [np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), [s.name for s in samples]]
        codes[split] = table.codes(samples)
    for i, sample in enumerate(real.splits["all"]):  # real photos: attributes unknown
        image, mask = real.read(sample)
        mask = mask.copy()
        mask[-10:] = IGNORE  # the ego vehicle's bonnet, unlabelled as in BDD100K
        split = "val" if i == 0 else "train"
        images, masks, names = splits[split]
        splits[split] = [np.concatenate([images, image[None]]), np.concatenate([masks, mask[None]]),
                         [*names, sample.name]]
        codes[split] = np.concatenate([codes[split], np.zeros((1, 3), np.uint8)])
    write_bdd100k(out, {k: tuple(v) for k, v in splits.items()}, attributes=codes, overwrite=False)
    shutil.rmtree(synth)
    return out


def size_gb(folder: Path) -> float:
    """GB the files under ``folder`` hold (a hard-linked or symlinked file counted once)."""
    stats = [f.stat() for f in folder.rglob("*") if f.is_file() and not f.is_symlink()]
    return sum({(st.st_dev, st.st_ino): st.st_size for st in stats}.values()) / 1e9


WORK: list[Path] = []  # the rehearsal's work folder (main sets it)
PEAK = [0.0]  # the most GB the work folder held after a step


def free(folders: list[Path], keep: bool) -> None:
    """Remove the rehearsal's own runs in ``folders`` once no later step reads them (not with ``--keep``)."""
    if keep:
        return
    gb = sum(size_gb(f) for f in folders if f.is_dir())
    for f in folders:
        shutil.rmtree(f, ignore_errors=True)
    print(f"{'freed':<40} {gb:6.2f} GB  ({', '.join(f.name for f in folders)}: no later step reads them)", flush=True)


def run(name: str, args: list[str], log: list[str], expect_error: str | None = None, expect: str | None = None) -> None:
    """Run ``semsegdiff ARGS``; stop the rehearsal at a failure (or at a success where ``expect_error`` was due, or
    without the line ``expect`` says it must print)."""
    cmd = [sys.executable, "-m", "semsegdiff.cli", *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.perf_counter() - start
    out = (done.stdout + done.stderr).strip()
    ok = done.returncode == 0 if expect_error is None else (done.returncode == 1 and expect_error in out)
    ok = ok and (expect is None or expect in out)
    held = size_gb(WORK[0])
    PEAK[0] = max(PEAK[0], held)
    log.append(f"{name:<40} {seconds:6.0f} s  {'ok' if ok else 'FAILED'}  (work folder {held:.2f} GB)")
    print(log[-1], flush=True)
    if not ok:
        print(f"command: {' '.join(cmd)}\n{out[-4000:]}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "rehearsal")
    p.add_argument("--keep", action="store_true", help="keep every stage's runs (otherwise removed once unused)")
    a = p.parse_args()
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    WORK[:] = [work]
    shutil.rmtree(work / "cli", ignore_errors=True)  # the rehearsal's own scratch: its CLI runs start anew each time
    print(f"disk: {shutil.disk_usage(work).free / 1e9:.1f} GB free at {work}", flush=True)
    start = time.perf_counter()
    data = make_dataset(work / "bdd100k")
    print(f"dataset: {data} (BDD100K layout, 128 px) in {time.perf_counter() - start:.0f} s", flush=True)
    log: list[str] = []
    flags = [f"--{k.replace('_', '-')}={json.dumps(v) if isinstance(v, list) else v}" for k, v in TINY.items()]
    train_flags = [f for f in flags if f.split("=")[0].removeprefix("--").replace("-", "_") in
                   ("epochs", "batch_size", "n_preview", "steps", "num_workers")]
    run_dir = work / "cli" / "run"
    ckpt = run_dir / "diffusion.ckpt"
    masks = work / "masks"
    if not masks.is_dir():
        masks.mkdir()
        for f in sorted((data / "labels/sem_seg/masks/val").glob("*.png"))[:2]:
            shutil.copy(f, masks / f.name)
    photo = sorted((data / "images/10k/val").glob("*.jpg"))[0]
    mask = data / "labels/sem_seg/masks/val" / f"{photo.stem}.png"
    run("train --profile paper", ["train", "--profile", "paper", "--data", str(data), "--out", str(run_dir),
                                  "--max-steps", "2", "--preview-every", "1", "--no-progress", *train_flags], log)
    run("train --profile paper --resume", ["train", "--profile", "paper", "--data", str(data), "--out", str(run_dir),
                                           "--max-steps", "3", "--resume", "--no-progress", "--preview-every", "1",
                                           *train_flags], log, expect="at step 2")  # resumed, not started over
    run("generate", ["generate", "--checkpoint", str(ckpt), "--masks", str(masks), "--out", str(work / "cli/generated"),
                     "--steps", "2", "--overwrite", "--no-progress"], log)
    run("edit", ["edit", "--checkpoint", str(ckpt), "--image", str(photo), "--mask", str(mask), "--edited-mask",
                 str(masks / sorted(os.listdir(masks))[1]), "--out", str(work / "cli/edited"), "--steps", "2",
                 "--overwrite"], log)
    run("evaluate", ["evaluate", "--checkpoint", str(ckpt), "--masks", "4", "--per-mask", "1", "--steps", "2",
                     "--judge-epochs", "1", "--overwrite", "--no-progress"], log)
    run("ablate --profile paper", ["ablate", "--checkpoint", str(ckpt), "--profile", "paper", "--ablate-steps", "2",
                                   "--ablate-seeds", "1", "--ablate-n", "[1.0]", "--ablate-regimes", "[low]",
                                   "--steps", "2", "--no-progress"], log)
    run("distill", ["distill", "--checkpoint", str(ckpt), "--max-steps", "2", "--no-progress"], log)
    run("train --profile paper-upscaler", ["train", "--profile", "paper-upscaler", "--data", str(data), "--out",
                                           str(work / "cli/upscaler"), "--max-steps", "1", "--no-progress",
                                           *train_flags], log)  # 512x896 from the 128 px frames: the path, not the data
    enriched = work / "cli" / "enriched"
    run("enrich", ["enrich", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(enriched), "--n", "4",
                   "--steps", "2", "--ablate-steps", "2", "--no-progress"], log)
    free([work / "cli"], a.keep)
    nb = ["notebooks", "run", "--out", str(work / "notebooks"), "-p", f"root={work}"]
    tiny = ["-p", f"overrides={json.dumps(TINY)}"]
    with_data = [*tiny[:1], f"overrides={json.dumps({**TINY, 'data': str(data)})}"]  # notebooks without a data parameter
    run("notebook 01 --profile paper", [*nb, "--only", "01", "--profile", "paper", "-p", f"data={data}"], log)
    run("notebook 02 --profile paper", [*nb, "--only", "02", "--profile", "paper", "-p", f"data={data}", *tiny,
                                        "-p", "max_steps=2", "-p", "n_show=2"], log)
    run("notebook 03 --profile paper", [*nb, "--only", "03", "--profile", "paper", *with_data,
                                        "-p", f"real_data={data}", "-p", "synthetic_masks=[0]"], log)
    run("notebook 04 --profile paper", [*nb, "--only", "04", "--profile", "paper", *with_data, "-p", "sweep_masks=4",
                                        "-p", "reference_masks=1", "-p", "reference=[ddpm, 2]",
                                        "-p", "samplers=[[ddpm, 2], [dpmsolver++, 20]]",
                                        "-p", "guidances=[2.0]", "-p", "student_schedule=[1, 2]",
                                        "-p", "student_steps=[1]", "-p", "n_show=2"], log)
    run("notebook 05 --profile paper", [*nb, "--only", "05", "--profile", "paper", *with_data, "-p", "n_show=1",
                                        "-p", "export_n=2"], log)
    run("notebook 06 --profile paper (refused)", [*nb, "--only", "06", "--profile", "paper", *with_data], log,
        expect_error="trained without attributes")
    free(sorted((work / "runs").glob("paper*")), a.keep)  # the gpu notebooks train and read their own
    run("notebook 02 --profile gpu", [*nb, "--only", "02", "--profile", "gpu", "-p", f"data={data}", *tiny,
                                      "-p", "max_steps=2", "-p", "n_show=2"], log)
    run("notebook 06 --profile gpu", [*nb, "--only", "06", "--profile", "gpu", *with_data, "-p", "n_check=2",
                                      "-p", "attribute_scales=[]"], log)  # 128 px: ~0.75 s per image and step here
    run("notebook 07 --profile gpu", [*nb, "--only", "07", "--profile", "gpu", *with_data, "-p", "aug_levels=[0.1]",
                                      "-p", "n_show=2", "-p", "upscaler_overrides={judge_batch_size: 4}"], log)
    free(sorted((work / "runs").glob("gpu*")), a.keep)
    print(f"rehearsal: {len(log)} steps passed in {(time.perf_counter() - start) / 60:.1f} min ({work}); the work "
          f"folder held at most {PEAK[0]:.1f} GB")


if __name__ == "__main__":
    main()
