"""The command line's grammar: every command, its flags and their help (:func:`parser`); what each command does is
in :mod:`semsegdiff.cli`. Every flag that is a setting takes its choices and help from :mod:`semsegdiff.config`."""
from __future__ import annotations

import argparse
from pathlib import Path

from .config import CHOICES, GROUPS, PROFILES, QUICK

TRAIN_KEYS = [k for g in ("data", "model", "schedule", "training", "run", "sampling") for k in GROUPS[g]]
DISTILL_KEYS = [k for k in GROUPS["distillation"] if k != "distill_steps"] + ["batch_size", *GROUPS["run"]]
DESCRIPTION = """The ``semsegdiff`` command line: synth, prepare, info, train, distill, generate, edit, evaluate, ablate,
enrich, notebooks.

Every value that is a setting (``--size``, ``--steps``, ``--lr`` ...) is converted and
range-checked by the same rules as the profiles (:func:`semsegdiff.config.check_setting`).
A user error prints one line, ``semsegdiff <command>: error: <message naming the file or
flag>``, and exits 1 (2 for a malformed command line); a bug keeps its traceback.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``semsegdiff <command>: error: ...`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _setting_flag(parser: argparse.ArgumentParser, key: str, help: str, *aliases: str) -> None:
    """A flag ``--<key>`` whose value is checked by the rules of setting ``key`` (choices from config.CHOICES)."""
    choices = f" ({', '.join(CHOICES[key])})" if key in CHOICES else ""
    parser.add_argument(*aliases, "--" + key.replace("_", "-"), dest=key, metavar=key.upper(), help=help + choices)


def _sampling_flags(parser: argparse.ArgumentParser) -> None:
    """--sampler, --steps, --guidance: the checkpoint's own values unless given."""
    for key, what in (("sampler", "sampler"), ("steps", "sampling steps"), ("guidance", "classifier-free guidance")):
        _setting_flag(parser, key, f"{what} (default: the checkpoint's)")


def _condition_flags(parser: argparse.ArgumentParser) -> None:
    """--time, --weather, --scene, --attribute-guidance and --condition-guidance (models trained with attributes)."""
    from .attributes import ATTRIBUTES

    for name, values in ATTRIBUTES.items():
        parser.add_argument(f"--{name}", metavar=name.upper(),
                            help=f"{name} of every image: {', '.join(values)} (default: unconditional)")
    _setting_flag(parser, "attribute_guidance", "guidance of the attributes (default: the checkpoint's)")
    _setting_flag(parser, "condition_guidance", "a guidance scale per value instead, e.g. '{night: 1, fog: 4}'; "
                  "'{}': attribute guidance for every value (default: the checkpoint's)")


def _run_flags(parser: argparse.ArgumentParser, resume: str, max_steps: str) -> None:
    """--resume, --accelerator, --max-steps, --no-progress: the flags of a training run (train, distill)."""
    parser.add_argument("--resume", action="store_true", help=resume)
    parser.add_argument("--accelerator", choices=["cpu", "cuda", "gpu"], help="default: cuda when present")
    _setting_flag(parser, "max_steps", f"stop after this many optimizer steps ({max_steps})")
    parser.add_argument("--no-progress", action="store_true")


def _device_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    _precision_flag(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if semsegdiff wrote it")


def _precision_flag(parser: argparse.ArgumentParser) -> None:
    _setting_flag(parser, "precision", "of sampling and scoring (default: the checkpoint's, auto: bf16 on CUDA and "
                                       "on CPUs with native bf16)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="semsegdiff", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    profiles = list(PROFILES)

    s = sub.add_parser("synth", help="render the embedded procedural driving-scene dataset (BDD100K layout)")
    s.add_argument("out", type=Path)
    _setting_flag(s, "n_synthetic", "number of scenes (default 2000)", "--n")
    _setting_flag(s, "size", "image side, or HxW for a wider view such as 64x112 (default 64)")
    _setting_flag(s, "seed", "seed of the scenes (default 0)")
    _setting_flag(s, "val_fraction", f"share of scenes in the val split (default {QUICK['val_fraction']})")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if semsegdiff wrote it")

    s = sub.add_parser("prepare", help="crop to the frame's aspect, resize and cache a dataset for training")
    s.add_argument("src", type=Path, help="dataset folder: reference, bdd100k or cityscapes layout")
    s.add_argument("out", type=Path)
    _setting_flag(s, "size", f"image side (a centred square), or HxW for whole frames such as 128x224 "
                             f"(default {PROFILES['paper']['size']})")
    _setting_flag(s, "crop", "where the crop sits along the side it cuts: 0 top/left, 0.5 centre (default), "
                             "1 bottom/right")
    _setting_flag(s, "val_fraction", f"val share for layouts without splits (default {QUICK['val_fraction']})")
    _setting_flag(s, "seed", "seed of that split (default 0)")
    _setting_flag(s, "workers", "decoding threads (default 4)")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if semsegdiff wrote it")

    s = sub.add_parser("info", help="describe a dataset folder or a prepared cache")
    s.add_argument("path", type=Path)

    s = sub.add_parser("train", help="train the mask-conditioned diffusion model (Lightning)",
                       description="Every profile setting is a flag; values are YAML (e.g. --channel-mult '[1,2,2]').")
    s.add_argument("--profile", default="quick", choices=profiles)
    s.add_argument("--out", type=Path, help="run folder (default runs/<profile>); an earlier run there is moved "
                                            "to <out>/previous/ unless --resume")
    _run_flags(s, "continue from the run folder's last.ckpt", "default -1: all epochs")
    for key in TRAIN_KEYS:
        _setting_flag(s, key, f"(quick: {QUICK[key]!r})")

    s = sub.add_parser("distill", help="distil a few-step consistency student (LCM) from a trained checkpoint")
    s.add_argument("--checkpoint", type=Path, required=True, help="the teacher: a trained diffusion checkpoint")
    s.add_argument("--out", type=Path, help="student run folder (default: student/ next to the teacher)")
    _setting_flag(s, "steps", f"the student's default sampling steps (default {QUICK['distill_steps']})")
    _run_flags(s, "continue from the folder's last.ckpt (the same teacher)", "default: distill_iters")
    for key in DISTILL_KEYS:
        _setting_flag(s, key, f"(default: the teacher's or the profile's; quick: {QUICK[key]!r})")

    s = sub.add_parser("generate", help="generate images for a folder of masks with a trained checkpoint")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--masks", type=Path, required=True, help="folder of PNG masks: train ids or palette colours")
    s.add_argument("--instances", type=Path, help="folder of the masks' instance maps, named like them (BDD100K "
                   "bitmasks or Cityscapes instanceIds); written with the images in the same encoding")
    s.add_argument("--out", type=Path, required=True)
    _sampling_flags(s)
    _setting_flag(s, "per_mask", "images per mask (default 1)")
    _setting_flag(s, "seed", "seed of the first image (default 0)")
    _setting_flag(s, "batch_size", "masks per batch (default 64)")
    _condition_flags(s)
    s.add_argument("--upscale", type=Path, help="an upscaler of --checkpoint (train --profile quick-upscaler): masks "
                   "at its frame, images upscaled to it (the cascade)")
    _setting_flag(s, "aug_level", "noise level of the base's images the upscaler takes (default: the upscaler's)")
    s.add_argument("--resize", action="store_true", help="centre-crop and resize masks to the model's size")
    _device_flags(s)
    s.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("edit", help="regenerate only the edited region of a real photo (the rest kept exactly)")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--image", type=Path, required=True, help="the photo (JPEG/PNG)")
    s.add_argument("--mask", type=Path, required=True, help="its mask (ids, palette or colour PNG)")
    s.add_argument("--edited-mask", type=Path, required=True, help="the edited mask (same size)")
    s.add_argument("--out", type=Path, required=True, help="folder: image.png, mask.png (its label), region.png")
    _setting_flag(s, "dilate", "grow the changed region by this many pixels (default 2)")
    _sampling_flags(s)
    _setting_flag(s, "seed", "seed (default 0)")
    _setting_flag(s, "resample", "RePaint resampling jumps (default 0: none)")
    _condition_flags(s)
    s.add_argument("--resize", action="store_true", help="centre-crop and resize image and masks to the model's size")
    _device_flags(s)

    s = sub.add_parser("evaluate", help="score a checkpoint: judge consistency, SSIM, FID/KID with ceilings and floors")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--judge", type=Path, help="judge checkpoint (default: <run>/judge.ckpt, trained when missing)")
    s.add_argument("--split", default="val", help="split of the checkpoint's dataset whose masks are scored")
    _setting_flag(s, "eval_masks", "masks scored (the first N; default: the profile's)", "--masks")
    _sampling_flags(s)
    _setting_flag(s, "eval_per_mask", "images per mask = generation seeds (default: the profile's)", "--per-mask")
    _setting_flag(s, "eval_seed", "seed of the first image (default: the profile's)", "--seed")
    _setting_flag(s, "inception", "FID Inception weights file (default: judge features, named so)")
    for key in GROUPS["judge"]:
        _setting_flag(s, key, f"of the judge trained when --judge is not given (default: the profile's; quick: "
                              f"{QUICK[key]!r})")
    s.add_argument("--out", type=Path, help="tables go to OUT/<set>/ (default: <run>/eval/)")
    _setting_flag(s, "allow_slow", "start even when estimated at over an hour on a CPU (true)")
    s.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    _precision_flag(s)
    s.add_argument("--overwrite", action="store_true", help="replace the tables of an earlier evaluation of the same "
                                                            "set (only files semsegdiff wrote)")
    s.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("ablate", help="enrichment ablation: segmenters trained on real + generated data, with statistics")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--profile", default="quick", choices=profiles, help="ablation settings of this profile")
    for key in GROUPS["ablation"]:
        _setting_flag(s, key, f"(quick: {QUICK[key]!r})")
    _setting_flag(s, "steps", "sampler steps of the generated sets (default: the profile's)")
    _setting_flag(s, "devices", "devices of the generation stage (DDP); the segmenters train on one device")
    _setting_flag(s, "strategy", "Lightning strategy of the generation stage")
    _setting_flag(s, "allow_slow", "start even when estimated at over an hour on a CPU (true)")
    _precision_flag(s)
    s.add_argument("--generate-only", action="store_true", help="only make the generated sets (the multi-GPU stage)")
    s.add_argument("--out", type=Path, help="study folder, resumed when run again (default: <run>/ablation)")
    s.add_argument("--overwrite", action="store_true", help="start the study over: remove what semsegdiff wrote in OUT")
    s.add_argument("--device", help="device of the segmenters and the generator (default: cuda when present)")
    s.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("enrich", help="a new dataset in the source's layout: the real pairs and generated ones")
    s.add_argument("--checkpoint", type=Path, required=True, help="the diffusion model that generates")
    s.add_argument("--data", type=Path, required=True, help="the source dataset (bdd100k, cityscapes or reference "
                                                             "layout); nothing in it is written")
    s.add_argument("--out", type=Path, required=True, help="the new dataset folder (made when complete)")
    for key, what in (("enrich_n", "generated pairs: a multiple of the real train pairs (10x) or a count"),
                      ("enrich_recipe", "shares of the steps, e.g. '{hard: 0.7, rare: 0.15, cond: 0.15}' (all, hard, "
                                        "rare, rare local, cond, copypaste)"),
                      ("enrich_conditions", "shares of the conditions the cond step asks, e.g. '{night: 2, fog: 1}'"),
                      ("enrich_filter", "FreeMask's filter threshold (0: off)"),
                      ("enrich_real", "the real train pairs: link (hard links), copy, none")):
        _setting_flag(s, key, f"{what} (default: the checkpoint's profile's; quick: {QUICK[key]!r})",
                      "--" + {"enrich_n": "n", "enrich_recipe": "recipe", "enrich_conditions": "conditions",
                              "enrich_filter": "filter", "enrich_real": "real"}[key])
    s.add_argument("--resolution", default="model", choices=["model", "source"], help="write the generated pairs at "
                   "the model's frame, or upsampled to the source's (same aspect only; no new detail)")
    s.add_argument("--student", type=Path, help="generate with this distilled student of the checkpoint (lcm)")
    s.add_argument("--upscale", type=Path, help="the cascade's upscaler of --checkpoint: every generated pair at its "
                   "frame, on the source's masks prepared there")
    _setting_flag(s, "ablate_steps", "steps of the segmenter trained on the real pairs for FreeMask's hardness and "
                                     "filter (default: the profile's study's)")
    _sampling_flags(s)
    _setting_flag(s, "seed", "seed of the recipe and the images (default 0)")
    _setting_flag(s, "batch_size", "masks per generation batch (default 64)")
    for key, what in (("devices", "devices of the generation (DDP)"), ("num_nodes", "nodes of the generation"),
                      ("strategy", "Lightning strategy of the generation")):
        _setting_flag(s, key, what)
    _setting_flag(s, "allow_slow", "start even when estimated at over an hour on a CPU (true)")
    s.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    _precision_flag(s)
    s.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("notebooks", help="run the notebooks headless through papermill")
    nsub = s.add_subparsers(dest="action", required=True, parser_class=_Parser)
    r = nsub.add_parser("run", help="execute notebooks/*.ipynb in order")
    r.add_argument("--profile", default="quick", choices=profiles)
    r.add_argument("--only", action="append", metavar="NAME", help="run only notebooks whose name contains NAME")
    r.add_argument("-p", action="append", metavar="KEY=VALUE", help="override a notebook parameter (YAML value)")
    r.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of the notebooks")
    r.add_argument("--out", type=Path, default=Path("runs"), help="executed copies go to OUT/<profile>/")
    r.add_argument("--jobs", type=int, default=1, help="notebooks after 02 run this many side by side, the CPU cores "
                   "split between them (make run: 2)")
    r.add_argument("--no-progress", action="store_true")
    return p
