"""Are the conditions beyond the mask obeyed? An attribute classifier trained on real images scores generated ones.

The classifier is the judge's encoder (segmentation-models-pytorch ResNet-18, as deep as the
image allows) with one linear head per attribute (:mod:`semsegdiff.attributes`), trained with
Lightning on the REAL train images whose attributes are known (unknown labels are ignored).
Its recall on real val images of a value is the **ceiling** a generated image asked for that
value is held to: ``accuracy(generated asked for v) / recall(real images of v)``. Beside it,
per condition: the judge's consistency mIoU (does the mask still hold?) and FID on the judge's
features against the real val images of that condition, where there are at least two.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassAccuracy

from ..attributes import ATTRIBUTES, NAMES, UNKNOWN, code, value
from ..config import check_setting
from ..errors import CheckpointError, DataError, SettingError
from ..frame import label
from ..precision import autocast
from ..tensors import as_tensor
from ..trainer import make_trainer, save_final
from .judge import MEAN, STD, build_network, judge_key, read_module_checkpoint, same_key
from .metrics import consistency, fid

NONE, BASELINE = "(none)", "(baseline)"  # check_conditions' rows: no attribute asked; a model trained without them


class AttributeClassifier(pl.LightningModule):
    """The judge's encoder with one head per attribute; logits of value ``i`` = code ``i + 1`` (unknown: no class)."""

    def __init__(self, *, size: int = 32, lr: float = 3e-3, weight_decay: float = 1e-4, total_steps: int = 100,
                 weights: str = "", data: dict[str, Any] | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = build_network("unet_resnet18", weights=weights, size=size).encoder
        width = self.encoder.out_channels[-1]
        self.heads = nn.ModuleList(nn.Linear(width, len(v)) for v in ATTRIBUTES.values())
        self.accuracy = nn.ModuleList(MulticlassAccuracy(len(v), ignore_index=-1, average="micro")
                                      for v in ATTRIBUTES.values())

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """uint8 images (B, 3, H, W) -> one logits tensor (B, values) per attribute."""
        x = (images.float() / 255 - MEAN.to(images.device)) / STD.to(images.device)
        f = self.encoder(x)[-1].mean(dim=(2, 3))  # (B, D)
        return [head(f) for head in self.heads]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, codes = batch
        loss = sum(F.cross_entropy(logits, codes[:, i].long() - 1, ignore_index=-1)
                   for i, logits in enumerate(self(images)) if (codes[:, i] > 0).any())
        loss = loss if isinstance(loss, torch.Tensor) else torch.zeros((), device=images.device, requires_grad=True)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(images))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, codes = batch
        for i, logits in enumerate(self(images)):
            self.accuracy[i].update(logits.argmax(1), codes[:, i].long() - 1)

    def on_validation_epoch_end(self) -> None:
        for name, acc in zip(NAMES, self.accuracy):
            self.log(f"val_acc_{name}", acc.compute(), sync_dist=True)
            acc.reset()

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.hparams.lr, total_steps=int(self.hparams.total_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    precision = "auto"  # of predict_codes (semsegdiff.precision); training takes the run's setting

    @torch.no_grad()
    def predict_codes(self, images: torch.Tensor | np.ndarray, batch_size: int = 128) -> np.ndarray:
        """uint8 images (N, 3, H, W) or (N, H, W, 3) -> predicted codes (N, 3) uint8 (never 0: a guess always)."""
        images = torch.from_numpy(np.array(images)) if not isinstance(images, torch.Tensor) else images
        if images.shape[-1] == 3 and images.shape[1] != 3:
            images = images.permute(0, 3, 1, 2)
        was, out = self.training, []
        self.eval()
        for s in range(0, len(images), batch_size):
            with autocast(self.device, self.precision):
                logits = self(images[s:s + batch_size].to(self.device))
            out.append(torch.stack([lg.argmax(1) + 1 for lg in logits], dim=1).to(torch.uint8).cpu())
        self.train(was)
        return torch.cat(out).cpu().numpy()


def _loader(images: np.ndarray, codes: np.ndarray, batch_size: int, train: bool) -> DataLoader:
    data = TensorDataset(as_tensor(images).permute(0, 3, 1, 2),  # a copy: images may be a read-only memory map
                         torch.from_numpy(np.asarray(codes, dtype=np.int64)))
    return DataLoader(data, batch_size=batch_size, shuffle=train, drop_last=train and len(data) > batch_size)


def ensure_classifier(cfg: dict[str, Any], *, root: str | Path = ".", out: str | Path | None = None,
                      progress: bool = True, device: str | None = None) -> tuple[AttributeClassifier, Path]:
    """The attribute classifier of a run configuration: ``runs/<profile>/attributes.ckpt``, trained if needed.

    Trained with the judge's settings (half its epochs, its batch size and learning rate) on the
    real train images with known attributes; reused while those settings and the data match.
    """
    from ..config import check_device
    from ..data import dataset_for

    device = check_device(device, "--device")
    out = Path(root) / (out or Path("runs") / cfg["profile"])
    path = out / "attributes.ckpt"
    prepared = dataset_for(cfg, root=root, progress=progress)
    key = {**judge_key(cfg, prepared.meta.get("fingerprint", str(prepared.root))), "model": "attributes"}
    if path.is_file():
        try:
            found = load_classifier(path, device, cfg.get("precision", "auto"))
            if same_key(found.hparams.data, key):
                return found, path
        except CheckpointError:
            pass
    codes = prepared.attributes("train")
    if not codes.any():
        raise DataError(f"{prepared.root}: no train image has known attributes (time, weather, scene); the attribute "
                        "classifier has nothing to learn from")
    images, batch = prepared.images("train"), cfg["judge_batch_size"]
    epochs = max(1, cfg["judge_epochs"] // 2)  # three small heads on images: half the judge's schedule
    total = epochs * max(1, len(images) // batch)
    pl.seed_everything(cfg["seed"], workers=True, verbose=False)
    module = AttributeClassifier(size=prepared.size, lr=cfg["judge_lr"], total_steps=total, weights=cfg["judge_weights"],
                                 data=key)
    run = {**cfg, "epochs": epochs, "ckpt_every": epochs, "logger": "csv"}
    trainer = make_trainer(run, out, name="attributes", val_every=max(1, epochs // 4), progress=progress,
                           checkpoints=False, accelerator=device)
    val = (prepared.images("val"), prepared.attributes("val")) if "val" in prepared.splits else None
    trainer.fit(module, _loader(images, codes, batch, True), _loader(*val, 2 * batch, False) if val else None)
    save_final(trainer, path)
    return load_classifier(path, device, cfg.get("precision", "auto")), path


def require_attributes(cfg: dict[str, Any], what: str) -> None:
    """Before any work: a SettingError saying what to do when ``what`` (a profile, a checkpoint) has no attributes."""
    if not cfg.get("attributes"):
        raise SettingError(f"{what} is trained without attributes (attributes: false; the paper and reference profiles "
                           "follow the reference, which has none): the conditions notebook needs a model that has "
                           "them; pass overrides={'attributes': True} (a model trained for it), the quick or gpu "
                           "profile, or checkpoint= a model trained with --attributes true")


def load_classifier(path: str | Path, device: str = "cpu", precision: str = "auto") -> AttributeClassifier:
    """An attribute classifier from its checkpoint (``weights_only=True``), predicting in ``precision``."""
    ckpt = read_module_checkpoint(path, "attribute classifier")
    try:
        module = AttributeClassifier(**{**ckpt["hyper_parameters"], "weights": ""})
        module.load_state_dict(ckpt["state_dict"])
    except Exception as e:  # noqa: BLE001 - any unreadable or foreign file
        raise CheckpointError(f"{path}: not an attribute classifier checkpoint ({type(e).__name__})") from None
    module.precision = check_setting("precision", precision)
    return module.to(device).eval()


def recall(classifier: AttributeClassifier, images: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
    """Per attribute value: how many real images hold it and the share the classifier recovers (the ceiling)."""
    pred = classifier.predict_codes(images)
    rows = []
    for j, a in enumerate(NAMES):
        for c in range(1, len(ATTRIBUTES[a]) + 1):
            held = codes[:, j] == c
            rows.append({"attribute": a, "value": value(a, c), "real_images": int(held.sum()),
                         "real_recall": float((pred[held, j] == c).mean()) if held.any() else float("nan")})
    return pd.DataFrame(rows)


def check_conditions(model, classifier: AttributeClassifier, judge, masks: np.ndarray, real: np.ndarray,
                     real_codes: np.ndarray, *, attributes: tuple[str, ...] = ("time", "weather"), seed: int = 0,
                     attribute_guidance: float | None = None, condition_guidance: dict[str, float] | None = None,
                     real_masks: np.ndarray | None = None, baseline: nn.Module | str | Path | None = None,
                     common: bool = True, progress: bool = False) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Generate images asked for each value of each attribute (the others left unconditional) and with no
    attribute; score each set: the attribute recovered (vs the real ceiling), consistency, FID per condition.

    With ``real_masks`` (the masks of ``real``) a value with real images is generated on THE MASKS OF ITS REAL
    IMAGES (the first ``len(masks)`` of them, each as often, at least ``len(masks)`` images) and held to those
    photos: ``real_consistency`` is the judge's mIoU on them, ``consistency_vs_real`` the ratio (a night image is
    held to night photos of the same layouts, not to a day image); the recovered share and FID come from the same
    images. A value without real images (snow), and every value without ``real_masks``, is generated on ``masks``.
    ``common``: also every asked value on ``masks`` with the same seeds (``common_consistency``, and
    ``consistency_vs_none`` against the ``(none)`` row: the target this check replaced); without it (and with
    ``real_masks``) only the values with real images are checked, the rows the targets read.

    ``attribute_guidance``, ``condition_guidance``: the attributes' scales (None: the model's defaults; see
    ``generate``). ``baseline``: a model trained WITHOUT attributes (or its checkpoint file), generated on the
    same masks and seeds: the ``(baseline)`` row. Returns one row per (attribute, value) plus the ``(none)``
    row [and the ``(baseline)`` row], and the generated images by condition.
    """
    masks = np.ascontiguousarray(masks)
    if baseline is not None:
        baseline = _baseline(baseline, model)
    ceiling = recall(classifier, real, real_codes).set_index(["attribute", "value"])
    real_f = judge.features(real).double()
    mu, sd = real_f.mean(0), real_f.std(0).clamp(min=1e-6)
    seeds = [seed + i for i in range(len(masks))]  # the same noise for every condition: only the condition differs
    conditions = [(NONE, UNKNOWN)] + [(BASELINE, "without attributes")] * (baseline is not None) + \
        [(a, v) for a in attributes for v in ATTRIBUTES[a]]
    if not common and real_masks is not None:  # the paired rows alone: what the targets, sweep and curve read
        conditions = [(a, v) for a, v in conditions if a in NAMES and (real_codes[:, NAMES.index(a)] == code(a, v)).any()]
    real_pred = judge.predict_ids(real) if real_masks is not None else None
    scales = {"attribute_guidance": attribute_guidance, "condition_guidance": condition_guidance}
    rows, images = [], {}
    for a, v in conditions:
        asked = {a: v, **scales} if a in NAMES else {}
        row = {"attribute": a, "value": v}
        held = real_codes[:, NAMES.index(a)] == code(a, v) if a in NAMES else np.full(len(real), a == NONE)
        if a in NAMES and real_pred is not None and held.any():  # paired with the photos of the condition
            own = np.flatnonzero(held)[:len(masks)]
            pick = np.tile(own, -(-len(masks) // len(own)))
            own_masks = np.ascontiguousarray(real_masks[pick])
            generated = model.generate(own_masks, seed=[seed + i for i in range(len(pick))], **asked)
            row["consistency_miou"] = consistency(judge.predict_ids(generated), torch.from_numpy(own_masks))["miou"]
            row["real_consistency"] = consistency(real_pred[torch.from_numpy(own).to(real_pred.device)],
                                                  torch.from_numpy(real_masks[own]))["miou"]
            row["masks"] = len(own)
            if common:
                common_images = model.generate(masks, seed=seeds, **asked)
                row["common_consistency"] = consistency(judge.predict_ids(common_images), as_tensor(masks))["miou"]
        else:
            generated = (baseline if a == BASELINE else model).generate(masks, seed=seeds, **asked)
            row["consistency_miou"] = consistency(judge.predict_ids(generated), as_tensor(masks))["miou"]
            row["masks"] = len(masks)
            if a in NAMES and common:
                row["common_consistency"] = row["consistency_miou"]
            if a == NONE and real_pred is not None:  # the judge on every real image
                row["real_consistency"] = consistency(real_pred, as_tensor(real_masks))["miou"]
        row["images"] = len(generated)
        images[f"{a}={v}"] = generated
        if a in NAMES:
            pred = classifier.predict_codes(generated)
            row["recovered"] = float((pred[:, NAMES.index(a)] == code(a, v)).mean())
            row["real_recall"] = float(ceiling.loc[(a, v), "real_recall"])
            row["real_images"] = int(ceiling.loc[(a, v), "real_images"])
            if held.sum() >= 2:
                gen_f = (judge.features(generated).double() - mu) / sd
                row["fid_vs_real_of_condition"] = fid((real_f[held] - mu) / sd, gen_f)
        rows.append(row)
        if progress:
            print(f"{a} = {v}: consistency {row['consistency_miou']:.3f}" + (
                f", recovered {row['recovered']:.2f} (real {row['real_recall']:.2f})" if "recovered" in row else ""),
                flush=True)
    table = pd.DataFrame(rows)
    table["ratio"] = table["recovered"] / table["real_recall"]
    if "real_consistency" in table:
        table["consistency_vs_real"] = table["consistency_miou"] / table["real_consistency"]
    if "common_consistency" in table:
        table["consistency_vs_none"] = table["common_consistency"] / _consistency(table, NONE)
    return table, images


def _baseline(baseline: nn.Module | str | Path, model: nn.Module) -> nn.Module:
    """The model trained without attributes to hold ``model`` to: loaded from its checkpoint when a path."""
    from ..models import load_checkpoint

    name = baseline if isinstance(baseline, (str, Path)) else "the baseline model"
    if isinstance(baseline, (str, Path)):
        baseline = load_checkpoint(baseline, device=next(model.parameters()).device,
                                   precision=model.cfg.get("precision"))
    if baseline.cfg["attributes"]:
        raise SettingError(f"baseline: {name} was trained with attributes; the consistency target's reference is a "
                           "model trained without them (--attributes false)")
    if (baseline.size, baseline.cfg["num_classes"]) != (model.size, model.cfg["num_classes"]):
        raise CheckpointError(f"baseline: {name} generates {label(baseline.size)} px images of "
                              f"{baseline.cfg['num_classes']} classes, the model checked {label(model.size)} px of "
                              f"{model.cfg['num_classes']}")
    return baseline


def _consistency(table: pd.DataFrame, row: str) -> float:
    """The consistency mIoU of a :func:`check_conditions` row that asks no attribute (``NONE`` or ``BASELINE``)."""
    return float(table.loc[table["attribute"] == row, "consistency_miou"].iloc[0])


def worst_values(table: pd.DataFrame) -> pd.DataFrame:
    """Per attribute of a :func:`check_conditions` table, its worst value with real images: ``recovered_vs_ceiling``
    (recovered / real recall) and ``consistency_vs_real`` (NaN where not measured); the targets hold for every value."""
    t = table[table["attribute"].isin(NAMES) & (table["real_images"] > 0)]
    rows = []
    for a, g in t.groupby("attribute", sort=False):
        rows.append({"attribute": a, "recovered_vs_ceiling": float(g["ratio"].min()),
                     "consistency_vs_real": float(g["consistency_vs_real"].min()) if "consistency_vs_real" in g
                     else float("nan")})
    return pd.DataFrame(rows)


RECALL, CONSISTENCY = 0.9, 0.95  # per value: recovered / its real recall; consistency / the judge's on its photos


def condition_targets(table: pd.DataFrame, baseline_consistency: float | None = None) -> pd.DataFrame:
    """The targets of conditioning, one row per value with real images: the asked-for value recovered >= 0.9x its
    real recall, and (with ``real_consistency``) consistency >= 0.95x the judge's on the real images of that value,
    on the same masks. The row it replaced (kept one release, where ``common_consistency`` was measured): the mean
    consistency of the asked values within 2% of a model trained without attributes (``baseline_consistency``, else
    the table's ``(baseline)`` row) or, lacking one, of the same model with no attribute asked."""
    t = table[table["attribute"].isin(NAMES) & (table["real_images"] > 0)]
    rows = [(f"{r.attribute}: {r.value} recovered >= {RECALL}x its real recall", r.ratio, r.ratio >= RECALL)
            for r in t.itertuples()]
    if "consistency_vs_real" in t:
        rows += [(f"{r.attribute}: {r.value} consistency >= {CONSISTENCY}x the judge's on its real images",
                  r.consistency_vs_real, r.consistency_vs_real >= CONSISTENCY) for r in t.itertuples()]
    if "common_consistency" in table:
        conditioned = float(table.loc[table["attribute"].isin(NAMES), "common_consistency"].mean())
        if baseline_consistency is None and (table["attribute"] == BASELINE).any():
            baseline_consistency = _consistency(table, BASELINE)
        base, what = (baseline_consistency, "a model trained without attributes") if baseline_consistency else \
            (_consistency(table, NONE), "the same model without attributes asked")
        rel = conditioned / base - 1
        rows.append((f"replaced (kept one release): consistency with conditions within 2% of {what}", rel,
                     abs(rel) <= 0.02 or rel > 0))
    return pd.DataFrame(rows, columns=["target", "value", "met"]).set_index("target")


def attribute_guidance_sweep(tables: dict[float, pd.DataFrame], used: pd.DataFrame | None = None,
                             table: dict[str, float] | None = None, default: float | None = None) -> pd.DataFrame:
    """{attribute guidance scale: :func:`check_conditions` table at that one scale for every value} -> one row per
    (scale, attribute, value) with real images: recovered / its real recall and consistency / the judge's on its
    real images (the price of a stronger condition, value by value). ``used``: the check at each value's scale in
    use (``table``'s, else ``default``), its rows added at those scales (the same images a sweep there makes)."""
    checks = [(scale, t, None) for scale, t in tables.items()] + ([] if used is None else [(None, used, table or {})])
    rows = []
    for scale, check, per_value in checks:
        t = check[check["attribute"].isin(NAMES) & (check["real_images"] > 0)]
        for r in t.itertuples():
            g = scale if per_value is None else per_value.get(r.value, default)
            rows.append({"attribute_guidance": g, "attribute": r.attribute, "value": r.value,
                         "recovered_vs_ceiling": r.ratio, "consistency_vs_real": getattr(r, "consistency_vs_real",
                                                                                        float("nan"))})
    out = pd.DataFrame(rows).drop_duplicates(["attribute_guidance", "attribute", "value"])
    return out.sort_values(["attribute_guidance"], kind="stable").reset_index(drop=True)


def condition_summary(table: pd.DataFrame) -> dict[str, float]:
    """The check in a few numbers: per attribute its worst value's recovered / real recall, the worst value's
    consistency / the judge's on its real images, and (where measured) the replaced consistency vs none asked."""
    worst = worst_values(table).set_index("attribute")
    out = {f"{a}_recovered": float(v) for a, v in worst["recovered_vs_ceiling"].items()}
    out["consistency_vs_real"] = float(worst["consistency_vs_real"].min())
    if "common_consistency" in table:
        out["consistency_vs_none"] = float(condition_targets(table)["value"].iloc[-1])
    return out
