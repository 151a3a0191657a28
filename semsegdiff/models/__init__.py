"""The mask-conditioned diffusion model: U-Net, diffusion on diffusers schedulers, Lightning training."""
from .diffusion import SAMPLERS, diffusion_loss, make_scheduler, reference_betas, sample, to_uint8
from .module import CheckpointError, DiffusionModule, EMA, load_checkpoint, read_checkpoint
from .sampling import sample_folder
from .training import load_previews, matches, run_paths, train
from .unet import INJECTIONS, CondUNet, check_masks, one_hot

__all__ = [
    "EMA", "INJECTIONS", "SAMPLERS", "CheckpointError", "CondUNet", "DiffusionModule", "check_masks",
    "diffusion_loss", "load_checkpoint", "make_scheduler", "one_hot", "read_checkpoint", "reference_betas",
    "load_previews", "matches", "run_paths", "sample", "sample_folder", "to_uint8", "train",
]
