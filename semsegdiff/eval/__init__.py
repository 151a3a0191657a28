"""Evaluation: the judge segmenter, metrics with their ceilings and floors, and the evaluation protocol."""
from .ablation import examples, make_set, run_study, set_quality
from .cascade import aug_sweep, cascade_targets, fid_gap, single_stage_table, stage_sets, stage_table, train_minutes
from .curves import condition_curve, crossing, crossings, student_curve, training_points
from .conditions import (AttributeClassifier, attribute_guidance_sweep, check_conditions, condition_summary,
                         condition_targets, ensure_classifier, load_classifier, require_attributes)
from .evaluate import (PAPER_TABLE_I, Evaluation, GeneratedSet, check_pair, evaluate_checkpoint, generate_set, score,
                       table_one, write_tables)
from .judge import Segmenter, build_network, ensure_judge, load_segmenter, train_segmenter
from .metrics import confusion, consistency, diversity, fid, inception_features, kid, scores_from_confusion, ssim
from .stats import (arm_table, bootstrap_ci, class_deltas, paired_deltas, paired_gap, rare_class_gain, subset_gaps,
                    summarize, verdict)
from .sweeps import check_sweep, reference_gaps, sweep, targets

__all__ = [
    "aug_sweep", "cascade_targets", "fid_gap", "single_stage_table", "stage_sets", "stage_table", "train_minutes",
    "PAPER_TABLE_I", "AttributeClassifier", "Evaluation", "GeneratedSet", "Segmenter", "arm_table",
    "attribute_guidance_sweep", "bootstrap_ci", "build_network", "check_conditions", "check_pair", "check_sweep", "class_deltas", "condition_summary",
    "condition_curve", "condition_targets", "confusion", "consistency", "crossing", "crossings", "diversity", "ensure_classifier", "ensure_judge",
    "evaluate_checkpoint", "examples", "fid", "generate_set",
    "inception_features", "kid", "load_classifier", "load_segmenter", "make_set", "paired_deltas", "paired_gap", "reference_gaps", "rare_class_gain", "require_attributes",
    "run_study", "score", "scores_from_confusion", "set_quality", "ssim", "student_curve", "subset_gaps", "summarize", "sweep",
    "table_one", "training_points", "targets", "train_segmenter", "verdict", "write_tables",
]
