"""Evaluation: the judge segmenter, metrics with their ceilings and floors, and the evaluation protocol."""
from .evaluate import (PAPER_TABLE_I, Evaluation, GeneratedSet, check_pair, evaluate_checkpoint, generate_set, score,
                       sweep, table_one, targets, write_tables)
from .ablation import examples, make_set, run_study, set_quality
from .judge import Segmenter, build_network, ensure_judge, load_segmenter, train_segmenter
from .metrics import confusion, consistency, diversity, fid, inception_features, kid, scores_from_confusion, ssim
from .stats import arm_table, bootstrap_ci, class_deltas, paired_deltas, rare_class_gain, summarize, verdict

__all__ = [
    "arm_table", "bootstrap_ci", "class_deltas", "examples", "make_set", "paired_deltas", "run_study", "set_quality",
    "rare_class_gain", "summarize", "verdict", "PAPER_TABLE_I", "Evaluation", "GeneratedSet", "Segmenter", "build_network", "check_pair", "confusion",
    "consistency", "diversity", "ensure_judge", "evaluate_checkpoint", "fid", "generate_set", "inception_features",
    "kid", "load_segmenter", "score", "scores_from_confusion", "ssim", "sweep", "table_one", "targets", "train_segmenter", "write_tables",
]
