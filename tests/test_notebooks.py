"""Notebooks executed headless by papermill with tiny parameters, asserting on what they wrote."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
from conftest import TINY

from semsegdiff.cli import main
from semsegdiff.config import get_profile
from semsegdiff.data import ensure_dataset
from semsegdiff.errors import SettingError
from semsegdiff.models import distill, ensure_trained, read_checkpoint, train
from semsegdiff.notebooks import NotebookError, find_notebooks, run_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def test_notebooks_are_stored_without_outputs_and_have_a_parameters_cell():
    for path in find_notebooks(NOTEBOOKS):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path
        assert "parameters" in code[0].metadata.get("tags", []), path
        assert 'profile = "quick"' in code[0].source, path
        assert nb.metadata["kernelspec"]["name"] == "semsegdiff", path
        # papermill reads every parameter (a second "=" on a line, even in its comment, hides it from --help)
        assigned = [line.split("=")[0].strip() for line in code[0].source.splitlines() if line[:1].isalpha()]
        assert list(papermill.inspect_notebook(path)) == assigned, path


@pytest.mark.notebook
def test_01_class_distribution(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # the kernel must not write to the home directory
    params = {"n_synthetic": 40, "size": 32, "n_examples": 4}
    [executed] = run_notebooks("quick", only=["01_class"], parameters=params, notebooks_dir=NOTEBOOKS,
                               out_dir=tmp_path / "runs", root=tmp_path, progress=False)
    assert executed == tmp_path / "runs/quick/01_class_distribution.ipynb"
    figs = tmp_path / "figures"
    for name in ("01_class_distribution", "01_class_distribution_examples", "01_class_distribution_object_areas",
                 "01_class_distribution_cooccurrence", "01_class_distribution_attributes",
                 "01_class_distribution_attribute_joint"):
        for ext in ("png", "pdf"):
            assert (figs / f"{name}.{ext}").stat().st_size > 5000, f"{name}.{ext}"
    # the CSV holds the numbers of the dataset the notebook generated
    table = pd.read_csv(figs / "01_class_distribution.csv")
    assert set(table["split"]) == {"train", "val"} and len(table) == 2 * 19
    assert np.allclose(table.groupby("split")["pixel_share"].sum(), 1.0)
    ds = ensure_dataset("synthetic", size=32, cache="data", n_synthetic=40, seed=0, root=tmp_path, progress=False)
    train = table[table["split"] == "train"]
    assert train["pixels"].tolist() == ds.meta["splits"]["train"]["pixel_counts"]
    assert ds.meta["splits"]["train"]["images"] + ds.meta["splits"]["val"]["images"] == 40
    cooc = pd.read_csv(figs / "01_class_distribution_cooccurrence.csv", index_col=0)
    assert cooc.shape == (19, 19) and cooc.loc["road", "road"] == 1.0
    sizes = pd.read_csv(figs / "01_class_distribution_object_areas.csv", index_col=0)
    assert (sizes["mean"] > 0).all() and (sizes["mean"] <= 1).all()
    # the conditions: every synthetic scene has them, the CSVs hold the cache's counts
    conditions = pd.read_csv(figs / "01_class_distribution_attributes.csv").set_index(["split", "attribute", "value"])
    for split in ("train", "val"):
        for attribute, by_value in ds.meta["splits"][split]["attributes"].items():
            assert [conditions.loc[(split, attribute, v), "images"] for v in by_value] == list(by_value.values())
    assert conditions.xs("unknown", level="value")["images"].sum() == 0
    joint = pd.read_csv(figs / "01_class_distribution_time_weather.csv", index_col=0)
    assert joint.to_numpy().sum() == ds.meta["splits"]["train"]["images"] and joint.loc["night"].sum() > 0
    # the executed copy shows the run header and the rare classes
    text = json.dumps(nbformat.read(executed, as_version=4).cells)
    assert "device: cpu" in text and "rare classes:" in text and "rarest time x weather cells (train):" in text
    assert "time x weather never seen in train: day x snow" in text  # the renderer draws no snow
    assert not any(home.iterdir()), list(home.rglob("*"))


@pytest.mark.notebook
def test_failing_notebook_names_notebook_and_cell(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom in cell')")]
    nb.metadata["kernelspec"] = {"name": "semsegdiff", "display_name": "semsegdiff", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs/99_broken.ipynb")
    with pytest.raises(NotebookError, match=r"99_broken.ipynb: cell \d+ .*ValueError: boom in cell"):
        run_notebooks(notebooks_dir=tmp_path / "nbs", out_dir=tmp_path / "runs", root=tmp_path, progress=False)
    code = main(["notebooks", "run", "--notebooks", str(tmp_path / "nbs"), "--out", str(tmp_path / "runs"),
                 "--no-progress"])
    assert code == 1 and "99_broken.ipynb: cell" in capsys.readouterr().err


@pytest.mark.notebook
def test_02_train_diffusion(tmp_path):
    overrides = {k: v for k, v in TINY.items() if k not in ("n_synthetic", "size", "epochs")}
    params = {"n_synthetic": 48, "size": "16x24", "epochs": 2, "overrides": overrides, "n_show": 4}  # whole frames
    [executed] = run_notebooks("quick", only=["02_train"], parameters=params, notebooks_dir=NOTEBOOKS,
                               out_dir=tmp_path / "runs", root=tmp_path, progress=False)
    ckpt = tmp_path / "runs/quick/diffusion.ckpt"
    from semsegdiff.models import load_checkpoint, read_checkpoint

    assert read_checkpoint(ckpt)["global_step"] == 2 * (42 // 8)  # 42 train scenes, batch 8, 2 epochs
    model = load_checkpoint(ckpt)
    assert model.frame == (16, 24) and model.cfg["channels"] == 8  # height x width, as given
    figs = tmp_path / "figures"
    for name in ("loss", "previews", "samples", "trajectory"):
        for ext in ("png", "pdf"):
            assert (figs / f"02_train_diffusion_{name}.{ext}").stat().st_size > 3000, name
    loss = pd.read_csv(figs / "02_train_diffusion_loss.csv")
    assert loss["train_loss_step"].notna().sum() == 10 and loss["val_loss"].notna().sum() == 2
    assert "reusing" not in outputs(executed)
    # a second run with the same settings reuses the checkpoint instead of training again
    mtime = ckpt.stat().st_mtime_ns
    [executed] = run_notebooks("quick", only=["02_train"], parameters=params, notebooks_dir=NOTEBOOKS,
                               out_dir=tmp_path / "runs", root=tmp_path, progress=False)
    assert "reusing" in outputs(executed) and ckpt.stat().st_mtime_ns == mtime


def tiny_overrides(**extra) -> dict:
    """The tiny settings at 32 px (the judge's ResNet encoder halves the image 3 times), one epoch, a tiny judge."""
    return {**TINY, "size": 32, "n_synthetic": 96, "epochs": 1, "judge_epochs": 1, "judge_batch_size": 8, **extra}


def run_one(tmp_path: Path, name: str, params: dict, figures: tuple[str, ...]) -> Path:
    """Run one notebook (quick profile) under ``tmp_path``; check that it wrote each figure as PNG and PDF."""
    [executed] = run_notebooks("quick", only=[name], parameters=params, notebooks_dir=NOTEBOOKS,
                               out_dir=tmp_path / "runs", root=tmp_path, progress=False)
    for figure in figures:
        for ext in ("png", "pdf"):
            assert (tmp_path / "figures" / f"{name}_{figure}.{ext}").stat().st_size > 3000, f"{figure}.{ext}"
    for table in (tmp_path / "figures").glob(f"{name}*"):  # committed files: no folder of the machine that made them
        if table.suffix in (".md", ".csv", ".tex"):
            assert str(tmp_path) not in table.read_text(), table.name
    return executed


def outputs(notebook: Path) -> str:
    """The text a notebook printed: streams and the plain-text form of displayed values (not its sources, and not
    image data, whose base64 can hold any short word by chance)."""
    texts = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            texts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(texts)


@pytest.mark.notebook
def test_04_generation_quality(tmp_path):
    overrides = tiny_overrides()
    params = {"overrides": overrides, "n_masks": 8, "per_mask": 2, "sweep_masks": 6, "reference_masks": 4,
              "reference": ["ddpm", 100],  # DDPM 1000's procedure at a tenth of its 14 s here
              "samplers": [["ddpm", 100], ["ddim", 4], ["dpmsolver++", 10], ["dpmsolver++", 20], ["unipc", 10]],
              "guidances": [1.0, 3.0], "n_show": 2, "student_schedule": [1, 2]}  # the model's student, distilled there
    ensure_trained(get_profile("quick", **overrides), root=tmp_path, progress=False)  # the model it will reuse
    [executed] = run_notebooks("quick", only=["04_generation"], parameters=params, notebooks_dir=NOTEBOOKS,
                               out_dir=tmp_path / "runs", root=tmp_path, progress=False)
    assert "reusing" in outputs(executed) and "(2 optimizer steps, continuing after 1)" in outputs(executed)
    assert read_checkpoint(tmp_path / "runs/quick/student/diffusion.ckpt")["global_step"] == 2
    figs = tmp_path / "figures"
    for name in ("per_class", "samplers", "guidance", "best", "worst"):
        for ext in ("png", "pdf"):
            assert (figs / f"04_generation_quality_{name}.{ext}").stat().st_size > 3000, name
    table = pd.read_csv(figs / "04_generation_quality_table.csv", index_col=0)
    assert list(table.index) == ["consistency mIoU", "pixel accuracy", "SSIM", "FID (judge features)",
                                 "KID (judge features)"]
    assert table.loc["consistency mIoU", "WINS 2024 (reported)"] == 0.357
    assert "judge features" in (figs / "04_generation_quality_table.md").read_text()
    samplers = pd.read_csv(figs / "04_generation_quality_samplers.csv")
    assert samplers[["sampler", "steps"]].values.tolist() == params["samplers"] + [["lcm student", n] for n in (1, 2, 4)]
    assert (samplers["seconds_per_image"] > 0).all() and samplers["mIoU"].between(0, 1).all()
    guidance = pd.read_csv(figs / "04_generation_quality_guidance.csv")
    assert guidance["guidance"].tolist() == [1.0, 3.0] and (guidance["diversity"] >= 0).all()
    targets = pd.read_csv(figs / "04_generation_quality_targets.csv", index_col=0)
    assert len(targets) == 4 + 2 * 3 and set(targets["met"]) <= {True, False}  # + each student step count: mIoU, FID
    assert "lcm student 1 steps at most 1 point below ddpm 100" in targets.index  # the reference named, as given
    gaps = samplers.set_index(["sampler", "steps"])  # each gap to the reference, paired by mask, with its interval
    assert gaps.loc[("ddpm", 100), ["gap_points", "gap_low", "gap_high"]].tolist() == [0.0, 0.0, 0.0]
    assert ((gaps["gap_low"] <= gaps["gap_points"] + 1e-9) & (gaps["gap_points"] <= gaps["gap_high"] + 1e-9)).all()
    gap20 = targets.loc["DPM-Solver++ 20 at most 1 mIoU point below ddpm 100 (points)"]
    assert gap20["value"] == pytest.approx(gaps.loc[("dpmsolver++", 20), "gap_points"], rel=1e-4)
    assert gap20["ci_low"] <= gap20["value"] <= gap20["ci_high"] and gap20["met"] == (gap20["value"] >= -1)
    assert (tmp_path / "runs/quick/judge.ckpt").is_file() and "judge features" in outputs(executed)
    curve = pd.read_csv(figs / "04_generation_quality_student_curve.csv")  # the student after 1 and 2 steps
    assert curve[["distill_steps", "steps"]].values.tolist() == [[n, s] for n in (1, 2) for s in (1, 2, 4)]
    assert curve["minutes"].is_monotonic_increasing and (curve["minutes"] > 0).all()
    crossings = pd.read_csv(figs / "04_generation_quality_student_crossings.csv")
    assert len(crossings) == 2 * 3 and crossings["how"].str.match(r"measured|not heading|too few|extrapolated|beyond").all()
    assert (figs / "04_generation_quality_student_curve.png").stat().st_size > 3000
    assert "conditions: the real images' attributes" in (figs / "04_generation_quality_table.md").read_text()


@pytest.mark.notebook
def test_03_mask_editing(tmp_path):
    overrides = {**{k: v for k, v in TINY.items() if k not in ("n_synthetic", "epochs")}, "n_synthetic": 48,
                 "epochs": 2}  # a checkpoint kept after epoch 1 (ckpt_every 1): the variant starts there
    params = {"overrides": overrides, "synthetic_masks": [0, 1], "resample": 1,
              "real_data": str(ROOT / "tests/fixtures/bdd_sample")}
    [executed] = run_notebooks("quick", only=["03_mask"], parameters=params, notebooks_dir=NOTEBOOKS,
                               out_dir=tmp_path / "runs", root=tmp_path, progress=False)
    figs = tmp_path / "figures"
    for name in ("edits", "generated", "local", "sketch", "instances"):
        for ext in ("png", "pdf"):
            assert (figs / f"03_mask_editing_{name}.{ext}").stat().st_size > 3000, name
    text = outputs(executed)
    shown = re.search(r"(\d+) masks, (\d+) with instances; (\S+) \(instance_edges True, from (\S+)\) beside (\S+), "
                      r"both after (\d+) steps", text)
    assert shown and shown[1] == shown[2] == "4"  # 3 val scenes + the edited one, each with instances
    variant = Path(shown[3])
    assert variant == tmp_path / "runs/quick-instance_edges-true/diffusion.ckpt"  # the variant's own folder
    kept = tmp_path / "runs/quick/diffusion/checkpoints" / f"step{int(shown[6]) // 2:07d}.ckpt"
    assert Path(shown[4]) == kept and Path(shown[5]) == tmp_path / "runs/quick/diffusion.ckpt"  # warm from epoch 1
    from semsegdiff.models import read_checkpoint

    assert 2 * read_checkpoint(variant)["global_step"] == int(shown[6])  # the second epoch, with the edge channel
    assert "pixels regenerated; the rest are the photo's bytes" in text
    assert "bicycle" in text and "rider" in text  # the table of what the local edit changed


@pytest.mark.notebook
def test_05_adas_ablation(tmp_path):
    overrides = tiny_overrides(ablate_low_fraction=0.25, ablate_gen_seeds=1)
    params = {"overrides": overrides, "seeds": 3, "train_steps": 2, "filter_thresholds": [1.25], "export_n": "6",
              "n_show": 1, "student": "runs/quick/student/diffusion.ckpt"}  # the sets' steps: overrides' (TINY's 2)
    teacher = ensure_trained(get_profile("quick", **overrides), root=tmp_path, progress=False)  # what 05 reuses
    distill(teacher, root=tmp_path, progress=False, distill_iters=2)  # a student of it for real+gen student
    executed = run_one(tmp_path, "05_adas_ablation", params, ("classes", "n", "predictors", "examples", "export"))
    figs = tmp_path / "figures"
    runs = pd.read_csv(figs / "05_adas_ablation_runs.csv")
    arms = len(get_profile("quick")["ablate_arms"]) + 1  # the quick study's arms and the student's
    assert len(runs) == arms * 3 and set(runs["seed"]) == {0, 1, 2}  # x 3 seeds
    table = pd.read_csv(figs / "05_adas_ablation_table.csv")
    ours = table[table["regime"] == "low"]
    assert len(ours) == arms and ours["verdict"].notna().all() and "real+gen student" in set(ours["arm"])
    assert ours[ours["arm"] != "real"]["verdict"].str.contains(r"gain of|loss of|no gain the spread can support").all()
    assert set(table["regime"]) == {"low", "WINS 2024"}
    rare = pd.read_csv(figs / "05_adas_ablation_rare.csv")
    assert set(rare["arm"]) == set(ours["arm"]) - {"real"}
    assert "val mIoU" in outputs(executed)
    export = pd.read_csv(figs / "05_adas_ablation_export.csv", keep_default_na=False)  # the best arm, exported
    assert len(export) == 6 and all((tmp_path / "runs/quick/enriched" / p).is_file() for p in export["image"])
    assert "best-supported arm:" in outputs(executed) and "## The recipe" in outputs(executed)


@pytest.mark.notebook
def test_06_conditions(tmp_path):
    overrides = tiny_overrides(ablate_low_fraction=0.25, ablate_gen_seeds=1, ablate_steps=2, steps=4, epochs=2)
    no_attributes = get_profile("quick", **{**overrides, "attributes": False})  # the consistency target's reference
    train(no_attributes, root=tmp_path, out=tmp_path / "runs/no_attributes", progress=False)
    params = {"overrides": overrides, "n_check": 6, "seeds": 3, "attribute_scales": [4.0],  # steps: overrides' 4
              "baseline": "runs/no_attributes/diffusion.ckpt"}
    executed = run_one(tmp_path, "06_conditions", params, ("grid", "photo", "check", "attribute_guidance", "enrichment"))
    figs = tmp_path / "figures"
    check = pd.read_csv(figs / "06_conditions_check.csv")
    assert check["attribute"].tolist() == ["(none)", "(baseline)"] + ["time"] * 3 + ["weather"] * 5
    asked = check.iloc[2:]  # the asked-for values
    assert asked["recovered"].between(0, 1).all() and (asked["images"] >= 6).all()
    assert check["consistency_miou"].between(0, 1).all()
    paired = asked[asked["real_images"] > 0]  # generated on the masks of the value's own real images, each as often
    assert len(paired) and (paired["masks"] == paired["real_images"].clip(upper=6)).all()
    assert (paired["images"] % paired["masks"] == 0).all()
    assert paired["real_consistency"].between(0, 1).all()
    assert asked.loc[asked["real_images"] == 0, "real_consistency"].isna().all()
    assert np.allclose(paired["consistency_vs_real"], paired["consistency_miou"] / paired["real_consistency"], rtol=1e-4)
    targets = pd.read_csv(figs / "06_conditions_targets.csv", index_col=0)
    assert len(targets) == 2 * len(paired) + 1 and set(targets["met"]) <= {True, False}
    night = targets.filter(like="time: night consistency >= 0.95x", axis=0)["value"]
    assert night.iloc[0] == pytest.approx(float(check.loc[check["value"] == "night", "consistency_vs_real"].iloc[0]),
                                          rel=1e-4, nan_ok=True)
    replaced = targets.index[-1]  # the row the per-value rows replaced, kept one release
    assert replaced.startswith("replaced (kept one release)") and "a model trained without attributes" in replaced
    baseline = check["consistency_miou"].iloc[1]
    assert baseline != check["consistency_miou"].iloc[0]  # another model's images of the same masks and seeds
    assert targets["value"].iloc[-1] == pytest.approx(asked["common_consistency"].mean() / baseline - 1, rel=1e-4)
    sweep = pd.read_csv(figs / "06_conditions_attribute_guidance.csv")  # the one scale asked, and each value's own
    assert set(sweep.loc[sweep["attribute_guidance"] == 4.0, "value"]) == set(paired["value"])
    table, default = get_profile("quick")["condition_guidance"], get_profile("quick")["attribute_guidance"]
    own = sweep[sweep["attribute_guidance"] == sweep["value"].map(lambda v: table.get(v, default))].set_index("value")
    assert set(own.index) == set(paired["value"])  # the check above, at each value's scale in use
    assert own.loc["day", "recovered_vs_ceiling"] == pytest.approx(paired.set_index("value").loc["day", "ratio"], rel=1e-4)
    assert (sweep["consistency_vs_real"] > 0).all() and (sweep["recovered_vs_ceiling"].dropna() >= 0).all()
    gaps = pd.read_csv(figs / "06_conditions_enrichment.csv")
    assert set(gaps["arm"]) == {"real+gen", "real+cond"} and "all val" in set(gaps["subset"])
    assert (tmp_path / "runs/quick/attributes.ckpt").is_file() and "val images per rare condition" in outputs(executed)
    curve = pd.read_csv(figs / "06_conditions_curve.csv")  # each kept checkpoint (ckpt_every 1: epoch 1) and the end
    assert curve["epoch"].tolist() == list(range(1, overrides["epochs"] + 1)) and curve["minutes"].is_monotonic_increasing
    last = curve.iloc[-1]  # the final model's point is the check above: each attribute's worst value
    assert last["time"] == pytest.approx(paired.loc[paired["attribute"] == "time", "ratio"].min(), rel=1e-4, nan_ok=True)
    assert last["consistency"] == pytest.approx(paired["consistency_vs_real"].min(), rel=1e-4)
    assert (figs / "06_conditions_curve.png").stat().st_size > 3000


@pytest.mark.notebook
def test_07_upscaling(tmp_path):
    tiny_unet = {k: TINY[k] for k in ("channels", "channel_mult", "emb_dim", "mask_hidden")}
    params = {"overrides": tiny_overrides(), "upscaler_overrides": {**tiny_unet, "train_crop": 32},
              "n_masks": 4, "per_mask": 1, "aug_levels": [0.0, 0.3], "n_show": 2, "single_stage_epochs": 1}
    executed = run_one(tmp_path, "07_upscaling", params, ("samples", "aug_sweep"))
    figs = tmp_path / "figures"
    table = pd.read_csv(figs / "07_upscaling_table.csv").set_index("route")
    assert list(table.index) == ["bicubic", "cascade", "real (ceiling / floor)", "single stage"]
    single = read_checkpoint(tmp_path / "runs/quick-single-64x64/diffusion.ckpt")["hyper_parameters"]
    assert single["size"] == 64 and single["upscale"] == 1 and single["epochs"] == 1  # the base's profile, at 64 px
    assert table.loc["single stage", "speed_vs_single"] == 1 and table.loc["cascade", "train_minutes"] > 0
    assert table.loc["cascade", "train_minutes"] > table.loc["bicubic", "train_minutes"]  # both stages' minutes
    assert table["miou"].between(0, 1).all() and (table.loc[["bicubic", "cascade"], "seconds_per_image"] > 0).all()
    assert table.loc["cascade", "seconds_per_image"] > table.loc["bicubic", "seconds_per_image"]  # a second stage
    sweep = pd.read_csv(figs / "07_upscaling_aug_sweep.csv")
    assert sweep["aug_level"].tolist() == [0.0, 0.3] and sweep["fid_ratio"].notna().all()
    checks = pd.read_csv(figs / "07_upscaling_targets.csv")
    assert len(checks) == 6 and set(checks["met"]) <= {True, False}
    assert "single stage" in checks.iloc[3]["target"]  # the table's 4 decimals rounded again may differ in the 3rd
    assert checks.iloc[4]["measured"] == pytest.approx(table.loc["cascade", "speed_vs_single"], abs=1e-3)
    gap = checks.iloc[5]  # the FID gap to bicubic with its paired interval
    assert gap["ci_low"] <= gap["measured"] <= gap["ci_high"] and gap["met"] == (gap["ci_low"] > 0)
    hp = read_checkpoint(tmp_path / "runs/quick-upscaler/diffusion.ckpt")["hyper_parameters"]
    assert (hp["size"], hp["upscale"], hp["train_crop"], hp["channels"]) == (64, 2, 32, 8)
    assert "x2 to 64x64, trained on 32 px crops; 4 val masks" in outputs(executed)


def test_jobs_run_later_notebooks_side_by_side_after_those_they_need(tmp_path, capsys, monkeypatch):
    """--jobs 2: 01 and 02 alone with every core, then 03, 05 and 06 two at a time on half of them each, 06 only
    once 05 (whose study runs it reuses) has ended; every line a notebook prints carries its number."""
    (tmp_path / "nbs").mkdir()
    for name in ("01_a", "02_b", "03_c", "05_d", "06_e"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("root = '.'", metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(
                        "import json, os, time\nfrom pathlib import Path\nstart = time.time()\ntime.sleep(1.5)\n"
                        f"Path(root, '{name}.json').write_text(json.dumps([start, time.time(), "
                        "os.environ.get('OMP_NUM_THREADS'), os.getcwd()]))\nprint('hello')")]
        nb.metadata["kernelspec"] = {"name": "semsegdiff", "display_name": "semsegdiff", "language": "python"}
        nbformat.write(nb, tmp_path / f"nbs/{name}.ipynb")
    monkeypatch.chdir(tmp_path)  # relative folders, as make run gives them
    before = os.environ.get("OMP_NUM_THREADS")  # set where the tests themselves run side by side
    written = run_notebooks(notebooks_dir="nbs", out_dir="runs", root=tmp_path, jobs=2)
    assert [p.name for p in written] == [f"{n}.ipynb" for n in ("01_a", "02_b", "03_c", "05_d", "06_e")]
    assert all(p.is_file() for p in written)
    span = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in ("01_a", "02_b", "03_c", "05_d", "06_e")}
    cores = os.cpu_count()
    assert span["01_a"][2] == span["02_b"][2] == str(cores) and span["03_c"][2] == str(max(1, cores // 2))
    assert span["01_a"][1] <= span["02_b"][0] and max(span["02_b"][1], span["05_d"][1]) <= span["06_e"][0]
    assert span["03_c"][0] < span["05_d"][1] and span["05_d"][0] < span["03_c"][1]  # side by side
    assert {s[3] for s in span.values()} == {str((tmp_path / "nbs").resolve())}  # each kernel in the notebooks' folder
    printed = capsys.readouterr().out
    assert all(f"[{n[:2]}] hello" in printed for n in span) and os.environ.get("OMP_NUM_THREADS") == before


def test_jobs_below_one_is_refused_naming_the_flag(tmp_path, capsys):
    with pytest.raises(SettingError, match=r"jobs \(--jobs\): expected a whole number >= 1, got 0"):
        run_notebooks(notebooks_dir=NOTEBOOKS, out_dir=tmp_path / "runs", root=tmp_path, jobs=0)
    assert main(["notebooks", "run", "--jobs", "0", "--out", str(tmp_path / "runs")]) == 1
    assert "--jobs" in capsys.readouterr().err and not (tmp_path / "runs").exists()
