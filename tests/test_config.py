"""Settings: groups defined once, every value converted to its default's type and range-checked."""
from __future__ import annotations

import pytest
import yaml

from semsegdiff.cli import parser
from semsegdiff.config import (CHOICES, GROUPS, PROFILES, QUICK, RUN_ONLY_KEYS, SHAPE_KEYS, check_setting,
                               get_profile)
from semsegdiff.errors import SettingError


def test_groups_cover_every_setting_once_in_profile_order():
    grouped = [k for keys in GROUPS.values() for k in keys]
    assert grouped == list(QUICK)
    assert "dropout" not in SHAPE_KEYS and set(SHAPE_KEYS) - {"num_classes", "size"} < set(GROUPS["model"])
    assert set(RUN_ONLY_KEYS).isdisjoint(GROUPS["model"] + GROUPS["schedule"] + GROUPS["training"])
    for name in PROFILES:
        assert get_profile(name)["profile"] == name  # every profile passes its own rules


@pytest.mark.parametrize("key,given,expected", [
    ("lr", "5e-4", 5e-4), ("lr", 5e-4, 5e-4), ("lr", "0.001", 1e-3), ("guidance", "3", 3.0), ("guidance", 2, 2.0),
    ("epochs", "1e3", 1000), ("epochs", 12.0, 12), ("channel_mult", "[1, 2, 2]", [1, 2, 2]),
    ("channel_mult", (1, 2), [1, 2]), ("sampler", "ddim", "ddim"), ("devices", "2", 2), ("devices", "[0, 1]", [0, 1]),
    ("devices", "auto", "auto"), ("data", "data/bdd100k", "data/bdd100k"), ("p_uncond", "0", 0.0),
])
def test_values_are_converted_to_the_type_of_their_default(key, given, expected):
    value = check_setting(key, given)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("key,given,problem", [
    ("lr", "fast", "'fast' is not a number"), ("epochs", "2.5", "whole number"), ("epochs", True, "expected a number"),
    ("steps", 0, "out of range"), ("guidance", float("inf"), "finite"), ("guidance", "nan", "finite"),
    ("p_uncond", 1.0, "out of range"), ("size", 4, "out of range"), ("channel_mult", "[1, 0]", "out of range"),
    ("channel_mult", "3", "list of 1 to 6 int values"), ("channel_mult", "[1, 2", "not valid YAML"),
    ("sampler", "euler", "not one of"), ("devices", 0, "'auto', a count"), ("data", "", "non-empty"),
    ("nonsense", 1, "unknown setting"),
])
def test_bad_values_name_the_setting_and_its_flag(key, given, problem):
    with pytest.raises(SettingError, match=problem) as e:
        check_setting(key, given)
    if key != "nonsense":
        assert f"--{key.replace('_', '-')}" in str(e.value)


def test_notebook_overrides_from_yaml_are_numbers():
    overrides = yaml.safe_load("{lr: 5e-4, channel_mult: [1, 2], epochs: 3}")
    assert overrides["lr"] == "5e-4"  # YAML 1.1 reads this as a string ...
    cfg = get_profile("quick", **overrides)
    assert cfg["lr"] == 5e-4 and cfg["epochs"] == 3  # ... the profile's rules make it the number


def test_combinations_are_checked():
    with pytest.raises(SettingError, match="multiple of 4"):
        get_profile("quick", size=30)
    with pytest.raises(SettingError, match="attn_levels"):
        get_profile("quick", attn_levels=4)
    with pytest.raises(SettingError, match="more than num_train_timesteps"):
        get_profile("quick", steps=100, num_train_timesteps=50)


def test_cli_choices_come_from_the_profiles_and_the_choice_table():
    train = parser()._subparsers._group_actions[0].choices["train"]
    profile = next(a for a in train._actions if a.dest == "profile")
    assert profile.choices == list(PROFILES)
    flags = {a.dest for a in train._actions}
    others = ("judge", "evaluation", "ablation", "distillation", "enrichment")  # other commands' settings
    assert set(QUICK) - {k for g in others for k in GROUPS[g]} <= flags
    distill = parser()._subparsers._group_actions[0].choices["distill"]
    assert set(GROUPS["distillation"]) - {"distill_steps"} <= {a.dest for a in distill._actions}  # --steps sets it
    enrich = parser()._subparsers._group_actions[0].choices["enrich"]
    assert set(GROUPS["enrichment"]) <= {a.dest for a in enrich._actions}
    sampler = next(a for a in train._actions if a.dest == "sampler")
    assert all(c in sampler.help for c in CHOICES["sampler"])


def test_the_reference_preset_is_the_papers_recipe_and_paper_says_what_it_changes():
    from semsegdiff.config import PAPER_VS_REFERENCE

    ref, paper = PROFILES["reference"], PROFILES["paper"]
    assert (ref["noise_schedule"], ref["prediction_type"], ref["sampler"], ref["steps"]) == ("reference", "epsilon",
                                                                                               "ddpm", 1000)
    assert (ref["guidance"], ref["batch_size"], ref["lr"], ref["ema_decay"], ref["ema_start"]) == (3.0, 50, 3e-4,
                                                                                                  0.995, 2000)
    assert not ref["attributes"] and ref["injection"] == "input_add" and ref["size"] == 128
    assert {k for k in paper if paper[k] != ref[k]} == set(PAPER_VS_REFERENCE)  # every difference is explained
