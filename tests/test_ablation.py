"""The enrichment ablation: arms train on the data they name, FreeMask's filter and re-sampling, statistics with
known answers, reproducibility, and generated sets that are the same on 1 and 2 processes."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_cfg

from semsegdiff.eval.ablation import (RARE, copy_paste, filter_pixels, hard_shares, rare_edits, rare_targets,
                                      run_study)
from semsegdiff.eval.stats import arm_table, bootstrap_ci, class_deltas, paired_deltas, verdict
from semsegdiff.config import CHOICES
from semsegdiff.errors import DataError
from semsegdiff.labels import IGNORE, class_id

# --- FreeMask's filter and re-sampling on hand-made cases ---


def test_filter_ignores_exactly_the_pixels_above_the_class_threshold():
    masks = np.array([[[0, 0, 13, 13]]], np.uint8)  # road, road, car, car
    losses = torch.tensor([[[0.5, 1.3, 2.0, 2.6]]])
    class_mean = np.full(19, np.nan)
    class_mean[0], class_mean[13] = 1.0, 2.0  # mean loss on real images
    out = filter_pixels(losses, masks, class_mean, threshold=1.25)
    assert out.tolist() == [[[0, IGNORE, 13, IGNORE]]]  # 1.3 > 1.25 and 2.6 > 2.5; 2.0 <= 2.5
    assert filter_pixels(losses, masks, class_mean, threshold=3.0).tolist() == masks.tolist()
    unseen = np.array([[[10]]], np.uint8)  # a class the real data never showed is never filtered
    assert filter_pixels(torch.tensor([[[99.0]]]), unseen, class_mean, 1.25).tolist() == [[[10]]]


def test_hard_masks_get_more_images_capped_and_summing_to_the_budget():
    scores = np.array([0.1, 0.9, 0.5, 0.3])  # ranks 0, 3, 2, 1
    raw = hard_shares(scores, total=4 * 20, cap=20)
    assert raw.sum() == 80 and raw[1] > raw[2] > raw[3] > raw[0]
    weights = np.minimum(1 + np.round(np.array([0, 3, 2, 1]) / 4 * 20), 20)  # FreeMask: 1, 16, 11, 6
    assert np.allclose(raw / raw.sum(), weights / weights.sum(), atol=0.02)


def test_rare_classes_are_drawn_inversely_to_their_frequency():
    masks = np.zeros((10, 8, 8), np.uint8)
    masks[:, 0, :4] = class_id("bus")  # buses common, the others absent
    picks = [c for _, c in rare_targets(masks, 500, seed=0)]
    assert picks.count("bus") < 12 and min(picks.count(c) for c in RARE if c != "bus") > 80


def test_copy_paste_moves_image_and_mask_pixels_of_the_object(sample_pairs):
    images, masks, _ = sample_pairs
    masks = masks.copy()
    masks[2, 100:110, 60:70] = class_id("bus")
    images = images.copy()
    images[2, 100:110, 60:70] = (1, 2, 3)
    out_i, out_m, pasted = copy_paste(images, masks, [(0, "bus")], seed=0)
    assert pasted == 1
    bus = out_m[0] == class_id("bus")
    assert bus.sum() >= 100 and (out_i[0][bus] == (1, 2, 3)).all()
    assert (out_m[0][~bus] == masks[0][~bus]).all()  # the rest of the target untouched


def test_rare_edits_insert_one_object_each(sample_pairs):
    _, masks, _ = sample_pairs
    sources, edited, names = rare_edits(masks, 6, seed=0)
    assert len(edited) == 6 and set(names) <= set(RARE)
    for i, e, n in zip(sources, edited, names):
        assert (e == class_id(n)).sum() > (masks[i] == class_id(n)).sum()


# --- statistics with known answers ---


def test_paired_deltas_intervals_and_verdicts():
    rows = [{"regime": "low", "arm": "real", "n_mult": 0, "threshold": 0, "seed": s, "miou": 0.30 + 0.01 * s}
            for s in range(4)]
    rows += [{"regime": "low", "arm": "real+gen", "n_mult": 1, "threshold": 0, "seed": s, "miou": 0.32 + 0.01 * s}
             for s in range(4)]  # +2 points on every seed
    rows += [{"regime": "low", "arm": "gen only", "n_mult": 1, "threshold": 0, "seed": s,
              "miou": 0.30 + 0.01 * s + (0.01 if s % 2 else -0.01)} for s in range(4)]  # +-1 point: no gain
    results = pd.DataFrame(rows)
    d = paired_deltas(results)
    assert np.allclose(d[d["arm"] == "real+gen"]["delta"], 0.02)
    table = arm_table(results).set_index("arm")
    assert table.loc["real+gen", "verdict"] == "gain of +2.00 mIoU points, 95% CI [+2.00, +2.00]"
    assert table.loc["gen only", "verdict"].startswith("no gain the spread can support (+0.00 mIoU points, 95% CI [-1")
    assert table.loc["real", "verdict"] == "baseline" and table.loc["real", "mean"] == pytest.approx(0.315)
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert 1.0 <= lo < 3.0 < hi <= 5.0
    assert np.isnan(bootstrap_ci([1.0, 2.0])[0])  # too few for an interval
    assert verdict(-0.03, -0.05, -0.01).startswith("loss of -3.00")


# --- a tiny study end to end: every arm trains on the data it names, and reproduces ---

STUDY = dict(size=32, n_synthetic=96, judge_batch_size=8, ablate_steps=2, ablate_seeds=1, ablate_gen_seeds=1,
             ablate_low_fraction=0.25, ablate_n=[1.0], filter_thresholds=[1.25], steps=2)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny study of every arm; real+gen student's student distilled from the checkpoint for 3 steps."""
    from semsegdiff.models import distill, train

    tmp = tmp_path_factory.mktemp("study")
    ckpt = train(tiny_cfg(tmp, **STUDY), out=tmp / "run", progress=False, max_steps=2)
    student = distill(ckpt, out=tmp / "student", progress=False, distill_iters=3)
    cfg = tiny_cfg(tmp, **STUDY, ablate_arms=list(CHOICES["ablate_arms"]), ablate_student=str(student))  # every arm
    return cfg, ckpt, run_study(cfg, ckpt, progress=False)


@pytest.mark.slow
@pytest.mark.gpu
def test_every_arm_trains_on_the_data_it_names(study):
    cfg, ckpt, results = study
    r = results.set_index("arm")
    n_real = round(84 * 0.25)  # 96 scenes: 84 train; the low regime keeps a quarter here
    assert set(r.index) == set(cfg["ablate_arms"])
    assert (r["real"].drop("gen only") == n_real).all() and r.loc["gen only", "real"] == 0
    assert r.loc["real", "added"] == 0 and (r["added"].drop("real") == n_real).all()  # N = 1x the real count
    assert r.loc["real+copypaste", "generated"] == 0 and r.loc["real+copypaste", "pasted_objects"] > 0
    assert r.loc["real+gen filtered", "filtered_pixels"] > 0 and r.loc["real+gen", "filtered_pixels"] == 0
    assert r.loc["real+rare", "rare_objects"] == n_real and r.loc["real+rare local", "rare_objects"] == n_real
    assert r.loc["real+cond", "generated"] == n_real and r.loc["real+cond", "rare_objects"] == 0
    assert r.loc["real+gen student", "generated"] == n_real
    sets = ckpt.parent / "ablation/low/sets"  # the student's set: real+gen's masks and seeds, in its own few steps
    teacher, student = (json.loads((sets / f"{name}-g0-n{n_real}/manifest.json").read_text())
                        for name in ("gen", "student-gen"))
    assert student["sampler"] == "lcm" and student["steps"] == 4 and teacher["sampler"] == "dpmsolver++"
    assert teacher["key"]["content"] == student["key"]["content"] and teacher["checkpoint"] != student["checkpoint"]
    assert not np.array_equal(np.load(sets / f"gen-g0-n{n_real}/images.npy"),
                              np.load(sets / f"student-gen-g0-n{n_real}/images.npy"))
    assert {"miou_night", "miou_rain", "miou_fog", "images_night"} <= set(results.columns)
    assert (results["images_night"] > 0).all() and results["miou_night"].between(0, 1).all()
    assert results["miou"].between(0, 1).all()
    assert len(class_deltas(results)) == (len(cfg["ablate_arms"]) - 1) * 19


@pytest.mark.slow
def test_the_same_seed_reproduces_the_same_numbers(study, tmp_path):
    cfg, ckpt, results = study
    again = run_study(cfg, ckpt, out=tmp_path / "again", progress=False)  # nothing cached: trained again
    assert again["miou"].tolist() == pytest.approx(results["miou"].tolist(), abs=1e-6)
    sets = sorted(p.name for p in (ckpt.parent / "ablation/low/sets").iterdir())
    assert {"gen-g0-n21", "hard-g0-n21", "rare-g0-n21", "rare-local-g0-n21"} <= set(sets)


def test_an_interrupted_set_continues_where_it_stopped(tmp_path, monkeypatch):
    from semsegdiff.eval import ablation

    class Model(torch.nn.Module):  # stands in for a diffusion model: the image is its seed, made visible
        calls: list[int] = []

        def generate(self, masks, seed, **kw):
            Model.calls += list(seed)
            return torch.tensor(seed, dtype=torch.uint8)[:, None, None, None].expand(len(seed), 3, *masks.shape[1:])

    masks = np.zeros((5, 4, 4), np.uint8)
    shards = ablation.shard_folder(tmp_path / "set", ablation.set_key(masks, np.arange(10, 15), {}))
    shards.mkdir()
    stale = ablation.shard_folder(tmp_path / "set", ablation.set_key(masks, np.arange(20, 25), {}))
    stale.mkdir()  # a killed run of another set: never mixed in, removed at the end
    np.savez(stale / "shard-0000002-0000002-rank0.npz", index=np.array([2]), images=np.zeros((1, 3, 4, 4), np.uint8))
    np.savez(shards / "shard-0000000-0000001-rank0.npz", index=np.array([0, 1]),
             images=np.stack([np.full((3, 4, 4), s, np.uint8) for s in (10, 11)]))  # made before a kill
    images = ablation.make_set(Model(), masks, np.arange(10, 15), tmp_path / "set", sampling={}, batch_size=2)
    assert sorted(Model.calls) == [12, 13, 14]  # only what was missing
    assert images[:, 0, 0, 0].tolist() == [10, 11, 12, 13, 14] and not shards.exists() and not stale.exists()


# --- the study folder: checked first, finished runs only, one process at a time ---


@pytest.mark.slow
def test_the_reference_segmenter_is_trained_once_and_shared(study):
    from semsegdiff.eval.ablation import examples

    cfg, ckpt, _ = study
    [reference] = (ckpt.parent / "ablation/low/reference").glob("*/segmenter.ckpt")  # keyed by real data + settings
    written = reference.stat().st_mtime_ns
    shown = examples(cfg, ckpt, n=2)  # the hard and filtered arms need it again: loaded, not trained again
    assert reference.stat().st_mtime_ns == written and len(shown["real+gen hard"][0]) == 2


@pytest.mark.slow
def test_a_study_writes_its_tables_and_reads_back_only_finished_runs(study, tmp_path, capsys):
    from semsegdiff.files import mark

    cfg, ckpt, results = study
    out = ckpt.parent / "ablation"
    assert (out / "runs.csv").is_file() and (out / "table.md").is_file()
    runs = sorted((out / "low" / "runs").iterdir())
    assert all((r / "result.json").is_file() and (r / ".semsegdiff").is_file() for r in runs)
    import shutil

    crashed = runs[0].with_name(f".{runs[0].name}.999999999-x.tmp")  # what a killed run leaves: a temporary folder
    shutil.move(runs[0], crashed)
    stale = runs[1] / "result.json"  # a result of other settings under this name (as semsegdiff wrote it): not this run's
    stale.write_text(stale.read_text().replace('"layout": 2', '"layout": 1'))
    mark(runs[1])
    again = run_study(cfg, ckpt, progress=False)
    assert again["miou"].tolist() == pytest.approx(results["miou"].tolist(), abs=1e-6)
    assert (runs[0] / "result.json").is_file() and not crashed.exists()  # trained again; the leftovers removed
    assert '"layout": 2' in stale.read_text()
    (out / "notes.txt").write_text("mine")
    run_study(cfg, ckpt, progress=False, overwrite=True)  # starts over: removes what semsegdiff wrote, says so
    said = capsys.readouterr().out
    assert f"removing what semsegdiff ablate wrote in {out / 'low'}" in said
    assert f"removing what semsegdiff ablate wrote in {out / 'runs.csv'}" in said
    assert (out / "notes.txt").read_text() == "mine" and (out / "runs.csv").is_file()


def test_a_study_folder_is_used_by_one_process_at_a_time(tmp_path):
    from semsegdiff.errors import OutputError
    from semsegdiff.files import hold

    script = f"from semsegdiff.files import hold\nimport time\nwith hold({str(tmp_path)!r}, 'semsegdiff ablate'):\n" \
             "    print('held', flush=True)\n    time.sleep(30)\n"
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=r"semsegdiff ablate \(pid \d+ on .*\) is using this folder"):
            with hold(tmp_path, "semsegdiff ablate"):
                pass
    finally:
        other.kill()
        other.wait()
    with hold(tmp_path, "semsegdiff ablate"):  # a killed holder leaves no lock behind
        pass


def test_the_student_arm_needs_a_student_of_the_studys_checkpoint(study, tiny_checkpoint, tmp_path):
    from semsegdiff.errors import CheckpointError, SettingError

    cfg, ckpt, _ = study
    with pytest.raises(SettingError, match=r"'real\+gen student' needs the student's checkpoint .*--ablate-student"):
        tiny_cfg(tmp_path, ablate_arms=["real", "real+gen student"])
    arms = {"ablate_arms": ["real", "real+gen student"]}
    with pytest.raises(CheckpointError, match="is not a distilled student"):
        run_study({**cfg, **arms, "ablate_student": str(ckpt)}, ckpt, out=tmp_path / "a", progress=False)
    other = torch.load(ckpt, weights_only=True)  # another model of the same size: not the student's teacher
    other["state_dict"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in other["state_dict"].items()}
    torch.save(other, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match=r"was distilled from .*, not from the study's .*other.ckpt"):
        run_study({**cfg, **arms}, tmp_path / "other.ckpt", out=tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").glob("low"))  # refused before any set is made


def test_a_checkpoint_of_another_size_is_refused_before_any_data_is_made(tiny_checkpoint, tmp_path):
    cfg = tiny_cfg(tmp_path, size=32)  # the checkpoint generates 16 px images
    with pytest.raises(DataError, match="generates 16px images but the study's data settings ask for 32px"):
        run_study(cfg, tiny_checkpoint, out=tmp_path / "study", progress=False)
    assert not (tmp_path / "data").exists()
