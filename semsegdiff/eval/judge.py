"""The judge: a segmenter trained on real images that scores how well generated images follow their masks.

Architectures by name (``judge_arch``), built from scratch or from a LOCAL weights file (never
downloaded): ``unet_resnet18`` (segmentation-models-pytorch U-Net with a ResNet-18 encoder; at
low resolution it learns fastest, see DESIGN.md) and ``deeplabv3_resnet50`` (torchvision, the
paper's ADAS segmenter). The same code trains the enrichment study's segmenters on other data
(:func:`train_segmenter`). Its val mIoU on REAL images is the ceiling every generated-image
score is reported against; its encoder's pooled features are the fallback feature space of
FID/KID, named "judge features" wherever they are used.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassConfusionMatrix

from ..config import GROUPS, LEGACY, check_setting
from ..data.datamodule import paired_flip
from ..errors import CheckpointError, SettingError
from ..frame import Size, canonical, frame, parse_size
from .. import safe_load
from ..labels import IGNORE, NUM_CLASSES
from ..precision import autocast
from ..trainer import make_trainer, save_final
from .metrics import scores_from_confusion

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # ImageNet statistics, as pretrained encoders expect
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
JUDGE_KEYS = ("judge_arch", "judge_epochs", "judge_batch_size", "judge_lr", "judge_weights")


def build_network(arch: str, num_classes: int = NUM_CLASSES, weights: str = "", size: Size = 128) -> nn.Module:
    """A segmentation network by name for ``size`` images (a side or [h, w]); ``weights``: a local file for its
    encoder (or whole net)."""
    if arch == "unet_resnet18":
        import segmentation_models_pytorch as smp

        # as deep as the image allows while the bottleneck keeps 4x4 pixels (3 stages at 32 px, all 5 from 128 px)
        # and each side halves evenly at every stage (32x56: 3 stages)
        h, w = frame(size)
        halvings = min((side & -side).bit_length() - 1 for side in (h, w))
        depth = max(1, min(5, int(math.log2(min(h, w))) - 2, halvings))
        net = smp.Unet(encoder_name="resnet18", encoder_weights=None, classes=num_classes, encoder_depth=depth,
                       decoder_channels=(256, 128, 64, 32, 16)[-depth:])
        target = net.encoder
    elif arch == "deeplabv3_resnet50":
        from torchvision.models.segmentation import deeplabv3_resnet50

        net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
        target = net.backbone
    else:
        raise SettingError(f"judge_arch (--judge-arch): unknown architecture {arch!r}")
    if weights:
        _load_weights(net, target, Path(weights))
    return net


def _load_weights(net: nn.Module, encoder: nn.Module, path: Path) -> None:
    """Load a state dict into the encoder (ImageNet classifier weights) or the whole network; name the file."""
    state = safe_load.load(path, "weights file", "--judge-weights")
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    for module in (net, encoder):
        own = module.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if len(usable) >= 0.9 * len(own) or (module is encoder and len(usable) >= 0.5 * len(own)):
            module.load_state_dict(usable, strict=False)
            return
    raise CheckpointError(f"{path}: its weights fit neither the {type(net).__name__} nor its encoder "
                          f"({len(state)} tensors)")


class Segmenter(pl.LightningModule):
    """A segmentation network trained with cross-entropy (ignore 255); val mIoU logged as ``val_miou``."""

    def __init__(self, *, arch: str = "unet_resnet18", num_classes: int = NUM_CLASSES, size: Size = 32,
                 lr: float = 1e-3, weight_decay: float = 1e-4, epochs: int = 30, weights: str = "",
                 total_steps: int | None = None, data: dict[str, Any] | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.net = build_network(arch, num_classes, weights, size)
        self.confusion = MulticlassConfusionMatrix(num_classes, ignore_index=IGNORE)

    @property
    def size(self) -> Size:
        """The frame it segments: a side, or [height, width]."""
        return parse_size(self.hparams.size)

    precision = "auto"  # of predict_ids and features (semsegdiff.precision); training takes the run's setting

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (B, 3, H, W) -> logits (B, C, H, W)."""
        x = (images.float() / 255 - MEAN.to(images.device)) / STD.to(images.device)
        out = self.net(x)
        return out["out"] if isinstance(out, dict) else out

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self(batch["image"]), batch["mask"].long(), ignore_index=IGNORE)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(batch["image"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.confusion.update(self(batch["image"]).argmax(1), batch["mask"].long())

    def on_validation_epoch_end(self) -> None:
        self.log("val_miou", scores_from_confusion(self.confusion.compute())["miou"], sync_dist=True)
        self.confusion.reset()

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = self.hparams.total_steps or self.trainer.estimated_stepping_batches  # fixed: the same for every dataset
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.hparams.lr, total_steps=int(total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @torch.no_grad()
    def predict_ids(self, images: torch.Tensor | np.ndarray, batch_size: int = 64) -> torch.Tensor:
        """uint8 images (N, 3, H, W) (or (N, H, W, 3) arrays) -> predicted train ids (N, H, W) uint8."""
        with autocast(self.device, self.precision):
            return torch.cat([self(b).argmax(1).to(torch.uint8).cpu() for b in self._batches(images, batch_size)])

    @torch.no_grad()
    def features(self, images: torch.Tensor | np.ndarray, batch_size: int = 64) -> torch.Tensor:
        """Pooled features of the encoder's last stage (N, D): the judge's feature space for FID/KID."""
        out = []
        for b in self._batches(images, batch_size):
            x = (b.float() / 255 - MEAN.to(b.device)) / STD.to(b.device)
            with autocast(self.device, self.precision):
                f = self.net.encoder(x)[-1] if hasattr(self.net, "encoder") else self.net.backbone(x)["out"]
            out.append(f.float().mean(dim=(2, 3)).cpu())  # (B, D), averaged in fp32
        return torch.cat(out)

    def _batches(self, images: torch.Tensor | np.ndarray, batch_size: int):
        images = torch.from_numpy(np.array(images)) if not isinstance(images, torch.Tensor) else images  # a copy: memmaps
        if images.ndim == 4 and images.shape[-1] == 3 and images.shape[1] != 3:
            images = images.permute(0, 3, 1, 2)
        was = self.training
        self.eval()
        try:
            for s in range(0, len(images), batch_size):
                yield images[s:s + batch_size].to(self.device)
        finally:
            self.train(was)


def _loader(images: np.ndarray, masks: np.ndarray, batch_size: int, train: bool) -> DataLoader:
    """(N, H, W, 3) uint8 images and (N, H, W) masks -> batches of {"image", "mask"} (paired flips in training)."""
    data = TensorDataset(torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).contiguous(),  # a copy: memmaps
                         torch.from_numpy(np.array(masks)))

    def collate(items):
        image, mask = torch.stack([i for i, _ in items]), torch.stack([m for _, m in items])
        if train:
            image, mask = paired_flip(image, mask)
        return {"image": image, "mask": mask}

    return DataLoader(data, batch_size=batch_size, shuffle=train, drop_last=train and len(data) > batch_size,
                      collate_fn=collate)


def train_segmenter(cfg: dict[str, Any], train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                    out: str | Path, *, name: str = "judge", seed: int | None = None, progress: bool = True,
                    arch: str | None = None, steps: int | None = None, data: dict[str, Any] | None = None,
                    accelerator: str | None = None, num_classes: int = NUM_CLASSES) -> Path:
    """Train a segmenter with the judge settings of ``cfg`` on ``train`` = (images, masks); return its checkpoint.

    ``arch`` overrides ``judge_arch``; ``steps`` trains exactly that many optimizer steps with a
    one-cycle schedule over them, whatever the dataset's size (instead of ``judge_epochs``
    epochs), so segmenters trained on different data share one schedule. ``out/name.ckpt``
    holds the weights and settings (weights_only loadable); logs and checkpoints go under
    ``out/name/`` through the shared :func:`make_trainer`, on ``accelerator`` (default: cuda when present).
    ``num_classes``: of the labels (the boundary judge's are 2: edge or not).
    """
    images, masks = train
    batch = cfg["judge_batch_size"]
    epochs = math.ceil(steps / max(1, len(images) // batch)) if steps else cfg["judge_epochs"]
    pl.seed_everything(cfg["seed"] if seed is None else seed, workers=True, verbose=False)
    module = Segmenter(arch=arch or cfg["judge_arch"], size=canonical(*images.shape[1:3]), lr=cfg["judge_lr"],
                       epochs=epochs, weights=cfg["judge_weights"], total_steps=steps, data=data,
                       num_classes=num_classes)
    run = {**cfg, "epochs": epochs, "logger": "csv"}
    trainer = make_trainer(run, out, name=name, val_every=max(1, epochs // 5) if val is not None else 10**6,
                           progress=progress, max_steps=steps or -1, checkpoints=not steps, accelerator=accelerator,
                           numbered=False)
    trainer.fit(module, _loader(images, masks, batch, True),
                _loader(*val, 2 * batch, False) if val is not None else None)
    return save_final(trainer, Path(out) / f"{name}.ckpt")


def read_module_checkpoint(path: str | Path, what: str) -> dict[str, Any]:
    """A Lightning checkpoint read with ``weights_only=True``; CheckpointError naming the file and ``what`` it is for."""
    ckpt = safe_load.load(path, f"{what} checkpoint")
    return ckpt if isinstance(ckpt, dict) else {}


def load_segmenter(path: str | Path, device: str = "cpu", precision: str = "auto") -> Segmenter:
    """A trained segmenter from its checkpoint (``weights_only=True``), ready for :meth:`Segmenter.predict_ids` (in
    ``precision``)."""
    ckpt = read_module_checkpoint(path, "judge")
    hp = ckpt.get("hyper_parameters", {})
    if "arch" not in hp or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a semsegdiff segmenter checkpoint (no arch and state_dict)")
    module = Segmenter(**{**hp, "weights": ""})
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit a {hp['arch']} segmenter: {str(e).splitlines()[0]}") \
            from None
    module.precision = check_setting("precision", precision)
    return module.to(device).eval()


def judge_key(cfg: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    """What a judge depends on: its settings, the data settings and the prepared data's fingerprint."""
    return {**{k: cfg[k] for k in JUDGE_KEYS}, **{k: cfg[k] for k in GROUPS["data"] if k != "cache"},
            "seed": cfg["seed"], "fingerprint": fingerprint}


def same_key(stored: dict[str, Any], key: dict[str, Any]) -> bool:
    """Whether a model saved with the key ``stored`` was made for ``key``; settings added since it was saved read as
    what was done then (config.LEGACY: a judge from before the crop setting was trained on centred crops)."""
    return {**{k: v for k, v in LEGACY.items() if k in key}, **(stored or {})} == key


def ensure_judge(cfg: dict[str, Any], *, root: str | Path = ".", out: str | Path | None = None, retrain: bool = False,
                 progress: bool = True, device: str | None = None) -> tuple[Segmenter, Path]:
    """The judge of a run configuration: ``runs/<profile>/judge.ckpt``, trained on its real train split if needed.

    It is reused when it was trained with the same judge settings on the same prepared data.
    """
    from ..config import check_device
    from ..data import dataset_for

    device = check_device(device, "--device")  # default: cuda when present
    cfg = {**cfg, **{k: check_setting(k, cfg[k]) for k in JUDGE_KEYS}}
    out = Path(root) / (out or Path("runs") / cfg["profile"])
    path = out / "judge.ckpt"
    prepared = dataset_for(cfg, root=root, progress=progress)
    key = judge_key(cfg, prepared.meta.get("fingerprint", str(prepared.root.resolve())))
    if not retrain and path.is_file():
        try:
            judge = load_segmenter(path, device, cfg.get("precision", "auto"))
            if same_key(judge.hparams.data, key):
                if progress:
                    print(f"reusing the judge {path} (trained with these settings)", flush=True)
                return judge, path
        except CheckpointError:
            pass
    if "val" not in prepared.splits:
        raise SettingError(f"{prepared.root}: the judge needs a val split for its ceiling; prepare the data with "
                           "val_fraction > 0")
    train = (prepared.images("train"), prepared.masks("train"))
    val = (prepared.images("val"), prepared.masks("val"))
    train_segmenter(cfg, train, val, out, progress=progress, data=key, accelerator=device)
    return load_segmenter(path, device, cfg.get("precision", "auto")), path


def key_hash(key: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able dict (cache folder names)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
