"""The mask-conditioned diffusion model: U-Net, diffusion on diffusers schedulers, Lightning training."""
from ..errors import CheckpointError
from .cascade import Cascade, check_pair
from .condition import condition, instance_edges
from .diffusion import SAMPLERS, diffusion_loss, make_scheduler, reference_betas, sample, to_uint8
from .distill import Distiller, distill, ensure_student, student_series
from .generation import edit_photo, generate_folder
from .ema import EMA
from .module import DiffusionModule, check_base, load_checkpoint, read_checkpoint
from .training import Previews, checkpoint_at, ensure_trained, ensure_variant, kept_epochs, load_previews, matches, move_aside, run_paths, train
from .unet import INJECTIONS, CondUNet, check_masks, one_hot

__all__ = [
    "Cascade", "EMA", "INJECTIONS", "SAMPLERS", "CheckpointError", "CondUNet", "DiffusionModule", "Distiller", "Previews", "check_base", "check_masks",
    "check_pair", "checkpoint_at",
    "condition", "diffusion_loss", "distill", "edit_photo", "ensure_student", "ensure_trained", "ensure_variant", "generate_folder", "instance_edges", "kept_epochs", "load_checkpoint", "load_previews", "make_scheduler", "matches",
    "move_aside", "one_hot", "read_checkpoint", "reference_betas", "run_paths", "sample", "student_series", "to_uint8", "train",
]
