"""The conditional U-Net, the diffusion loss and guided sampling on tiny models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semsegdiff.models import SAMPLERS, CondUNet, check_masks, diffusion_loss, make_scheduler, one_hot, reference_betas, sample
from semsegdiff.models.unet import ResBlock

pytestmark = pytest.mark.gpu  # must also pass on a GPU: runs on CUDA where present (pytest -m gpu)

C = 19
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the sampling tests run where the models will


def same_image(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical on the CPU; on a GPU, kernels chosen per batch size may move a pixel by a rounding step."""
    return torch.equal(a, b) if DEVICE == "cpu" else bool((a.int() - b.int()).abs().max() <= 2)


def tiny_unet(injection: str = "input_add", **kw) -> CondUNet:
    torch.manual_seed(0)
    net = CondUNet(num_classes=C, channels=8, channel_mult=(1, 2), mask_hidden=8, emb_dim=32, injection=injection, **kw)
    for p in net.parameters():  # zero-initialised output layers would hide the conditioning
        if p.abs().sum() == 0 and p.ndim > 1:
            torch.nn.init.normal_(p, std=0.1)
    return net


def random_masks(b: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, C, (b, size, size), generator=g).to(torch.uint8)


@pytest.mark.parametrize("injection", ["input_add", "spade"])
def test_forward_shapes_and_conditioning(injection):
    net = tiny_unet(injection, attn_levels=1)
    x, masks = torch.randn(3, 3, 16, 16), random_masks()
    out = net(x, torch.tensor([0, 500, 999]), one_hot(masks, C))
    assert out.shape == (3, 3, 16, 16) and out.dtype == torch.float32 and torch.isfinite(out).all()
    other = net(x, torch.tensor([0, 500, 999]), one_hot(random_masks(seed=1), C))
    uncond = net(x, torch.tensor([0, 500, 999]), torch.zeros(3, C, 16, 16))
    assert (out - other).abs().mean() > 1e-4 and (out - uncond).abs().mean() > 1e-4  # the mask matters
    assert net(x[:1], torch.tensor(7), one_hot(masks[:1], C)).shape == (1, 3, 16, 16)  # scalar t broadcasts
    with pytest.raises(ValueError, match="multiple of 2"):
        net(torch.randn(1, 3, 15, 15), torch.tensor([1]), torch.zeros(1, C, 15, 15))
    with pytest.raises(ValueError, match="unknown injection"):
        CondUNet(injection="concat")


def test_spade_only_in_middle_and_decoder():
    net = tiny_unet("spade")
    assert not any("norm1.gamma_beta" in n for n, _ in net.down.named_parameters())
    assert any("gamma_beta" in n for n, _ in net.mid.named_parameters())
    assert any("gamma_beta" in n for n, _ in net.up.named_parameters())
    assert net.mask_in is None and tiny_unet("input_add").mask_feats is None


def test_unconditional_mask_contributes_nothing_to_input_add():
    net = tiny_unet("input_add")
    h = net.mask_in(torch.zeros(2, C, 16, 16))
    assert torch.equal(h, torch.zeros_like(h))


def test_one_hot_with_ignore_pixels():
    masks = random_masks(2, 8)
    masks[0, :2] = 255
    oh = one_hot(masks, C)
    assert oh.shape == (2, C, 8, 8) and oh.dtype == torch.float32
    assert torch.equal(oh[0, :, :2], torch.zeros(C, 2, 8))  # ignore -> all-zero
    expected = F.one_hot(masks.long().clamp(max=C), C + 1)[..., :C].permute(0, 3, 1, 2).float()
    assert torch.equal(oh, expected)
    assert torch.equal(oh.sum(1), (masks != 255).float())


def test_check_masks_errors():
    check_masks(random_masks(), C, 16)
    bad = random_masks()
    bad[1, 4, 5] = 40
    with pytest.raises(ValueError, match=r"mask 1 has class id 40 at \(row 4, col 5\)"):
        check_masks(bad, C)
    with pytest.raises(ValueError, match="masks are 8x8 but the model was trained on 16x16"):
        check_masks(random_masks(2, 8), C, 16)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        check_masks(random_masks()[0], C)


class Recorder(torch.nn.Module):
    """Stands in for the U-Net: records its inputs and predicts zeros."""

    num_classes = C

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x, t, cond):
        self.calls.append((x.shape[0], cond.detach().clone()))
        return x * self.w


def test_mask_dropout_is_per_sample_at_the_requested_rate():
    model, scheduler = Recorder(), make_scheduler("ddpm")
    masks = torch.zeros(4000, 2, 2, dtype=torch.uint8)
    diffusion_loss(model, torch.zeros(4000, 3, 2, 2), masks, scheduler, p_uncond=0.1,
                   generator=torch.Generator().manual_seed(0))
    dropped = model.calls[0][1].flatten(1).sum(1) == 0
    assert 0.085 < dropped.float().mean() < 0.115
    first = dropped[:32]  # within one batch of 32, samples differ: not one decision per batch
    assert first.any() and not first.all()
    diffusion_loss(model, torch.zeros(64, 3, 2, 2), masks[:64], scheduler, p_uncond=0.0)
    assert (model.calls[1][1].flatten(1).sum(1) > 0).all()


def test_loss_targets_velocity_or_noise():
    for prediction in ("v_prediction", "epsilon"):
        scheduler = make_scheduler("ddpm", prediction_type=prediction)
        loss = diffusion_loss(Recorder(), torch.zeros(256, 3, 4, 4), torch.zeros(256, 4, 4, dtype=torch.uint8),
                              scheduler, generator=torch.Generator().manual_seed(0))
        # a zero prediction on zero images: epsilon target has variance 1; v = sqrt(abar) eps, mean abar ~ 0.5
        assert (0.9 < loss < 1.1) if prediction == "epsilon" else (0.35 < loss < 0.65)


def test_reference_schedule():
    betas = reference_betas()
    assert len(betas) == 1000 and betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    assert all(a < b for a, b in zip(betas, betas[1:]))
    s = make_scheduler("ddim", noise_schedule="reference", prediction_type="epsilon")
    assert s.config.prediction_type == "epsilon" and float(s.betas[500]) == pytest.approx(0.0101, abs=1e-4)
    with pytest.raises(ValueError, match="unknown sampler"):
        make_scheduler("euler")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampling_two_steps_is_seeded(sampler):
    net = tiny_unet().eval().to(DEVICE)
    masks = random_masks()
    a, snaps = sample(net, masks, make_scheduler(sampler), steps=2, seeds=[0, 1, 2], intermediates=2)
    assert a.shape == (3, 3, 16, 16) and a.dtype == torch.uint8 and len(snaps) == 2
    assert a.float().std() > 1  # not a constant image
    b, _ = sample(net, masks[1:], make_scheduler(sampler), steps=2, seeds=[1, 2])
    assert same_image(a[1:], b)  # same seed, same image, whatever the batch
    c, _ = sample(net, masks, make_scheduler(sampler), steps=2, seeds=[5, 6, 7])
    assert not torch.equal(a, c)


def test_guidance_is_one_batched_forward_per_step():
    model = Recorder()
    sample(model, random_masks(), make_scheduler("dpmsolver++"), steps=3, guidance=3.0, seeds=[0, 1, 2])
    assert [b for b, _ in model.calls] == [6, 6, 6]
    cond = model.calls[0][1]
    assert (cond[:3].flatten(1).sum(1) > 0).all() and (cond[3:] == 0).all()  # conditional, then unconditional
    model.calls.clear()
    sample(model, random_masks(), make_scheduler("ddim"), steps=2, guidance=1.0, seeds=[0, 1, 2])
    assert [b for b, _ in model.calls] == [3, 3]  # guidance 1 needs no unconditional pass


# Recorded outputs (diffusers' expected_slice style): a refactor must not change what the model computes.
EXPECTED_UNET = {
    "input_add": [-0.1251, 0.8161, 0.5379, -0.5608, 0.4676, -0.7892, -0.0852, 0.1179, -0.2856, -1.1925, 0.3118, -0.5364],
    "spade": [-0.2483, 0.1722, -0.1963, -0.1878, 0.5093, -0.0164, -0.3797, -0.3081, 0.3574, -0.0776, -0.2493, 0.2185],
}
EXPECTED_DPMSOLVER_3_STEPS = [69, 88, 202, 19, 233, 90, 168, 240, 255, 255, 255, 255]


@pytest.mark.parametrize("injection", ["input_add", "spade"])
def test_unet_recorded_values(injection):
    net = tiny_unet(injection).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net(x, torch.tensor([10, 900]), one_hot(random_masks(2), C))
    assert torch.allclose(out[1, :, 8, 4:8].flatten(), torch.tensor(EXPECTED_UNET[injection]), atol=2e-4)


def test_sampler_recorded_values():
    images, _ = sample(tiny_unet().eval(), random_masks(2), make_scheduler("dpmsolver++"), steps=3, guidance=2.0,
                       seeds=[0, 1], precision="32")  # recorded in fp32 (auto would be bf16 where it is native)
    got = images[1, :, 8, 4:8].flatten().int()
    assert (got - torch.tensor(EXPECTED_DPMSOLVER_3_STEPS)).abs().max() <= 1  # uint8 rounding may flip by one


def test_a_diverging_sampler_is_an_error_not_black_images():
    from semsegdiff.errors import DivergenceError

    class Exploding(Recorder):
        def forward(self, x, t, cond):
            return x * 0 + 1e6  # v-prediction of a broken model

    with pytest.raises(DivergenceError, match="sampling diverged.*lower the guidance"):
        sample(Exploding(), random_masks(1), make_scheduler("dpmsolver++"), steps=3, seeds=[0])


@pytest.mark.parametrize("sampler,resample", [("dpmsolver++", 0), ("ddpm", 0), ("ddpm", 1)])
def test_local_regeneration_keeps_every_other_pixel(sampler, resample):
    from semsegdiff.models.inpaint import inpaint

    net, masks = tiny_unet().eval().to(DEVICE), random_masks(2)
    init = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    keep = torch.ones(2, 16, 16, dtype=torch.bool)
    keep[:, 4:10, 6:12] = False  # the edited region
    out = inpaint(net, masks, init, keep, make_scheduler(sampler), steps=4, guidance=2.0, seeds=[0, 1],
                  resample=resample, jump_length=2)
    assert out.dtype == torch.uint8 and out.shape == init.shape
    assert torch.equal(out.permute(0, 2, 3, 1)[keep], init.permute(0, 2, 3, 1)[keep])  # byte-identical outside
    assert (out.permute(0, 2, 3, 1)[~keep].int() - init.permute(0, 2, 3, 1)[~keep].int()).abs().float().mean() > 5
    again = inpaint(net, masks, init, keep, make_scheduler(sampler), steps=4, guidance=2.0, seeds=[0, 1],
                    resample=resample, jump_length=2)
    assert same_image(out, again)  # seeded


def test_local_regeneration_errors():
    from semsegdiff.errors import DataError
    from semsegdiff.models.inpaint import inpaint

    net, masks = tiny_unet().eval(), random_masks(1)
    init = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(DataError, match="nothing to regenerate"):
        inpaint(net, masks, init, torch.ones(1, 16, 16, dtype=torch.bool), make_scheduler("ddim"), steps=2,
                guidance=1.0, seeds=[0])
    with pytest.raises(DataError, match="do not match the masks"):
        inpaint(net, masks, torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 16, 16, dtype=torch.bool),
                make_scheduler("ddim"), steps=2, guidance=1.0, seeds=[0])


# --- conditions beyond the mask: time of day, weather, scene ---


class AttrRecorder(Recorder):
    """A U-Net stand-in with attributes: predicts (mask present) + 10 * (first attribute code), per sample."""

    attr_emb = [None, None, None]

    def forward(self, x, t, cond, attrs=None):
        self.calls.append((x.shape[0], cond.detach().clone(), None if attrs is None else attrs.clone()))
        a = torch.zeros(x.shape[0]) if attrs is None else attrs[:, 0].float()
        return x * self.w + (cond.flatten(1).sum(1) > 0).float()[:, None, None, None] + 10 * a[:, None, None, None]


def test_attributes_move_the_output_and_unknown_is_the_model_without_them():
    net = tiny_unet(attributes=True).eval()
    for table in net.attr_emb:
        torch.nn.init.normal_(table.weight)  # as if trained
    x, t, cond = torch.randn(2, 3, 16, 16), torch.tensor([10, 500]), one_hot(random_masks(2), C)
    with torch.no_grad():
        none, zeros = net(x, t, cond), net(x, t, cond, torch.zeros(2, 3, dtype=torch.long))
        night = net(x, t, cond, torch.tensor([[3, 0, 0], [3, 0, 0]]))
    assert torch.equal(none, zeros) and not torch.allclose(none, night)
    assert len(net.attr_emb) == 3 and [e.num_embeddings for e in net.attr_emb] == [4, 6, 5]  # values + unknown


@pytest.mark.parametrize("injection", ["input_add", "spade"])
def test_scale_shift_conditions_each_blocks_norm_and_unknown_is_the_model_without_attributes(injection):
    net = tiny_unet(injection, attributes=True, scale_shift=True).eval()
    for table in net.attr_emb:
        torch.nn.init.normal_(table.weight)
    block = net.mid.blocks[0]
    assert block.emb.out_features == 2 * block.conv1.out_channels  # a scale and a shift per channel
    x, cond = torch.randn(2, 3, 16, 16), one_hot(random_masks(2), C)
    with torch.no_grad():
        early, late = net(x, torch.tensor([10, 10]), cond), net(x, torch.tensor([900, 900]), cond)
        none, night = net(x, torch.tensor([10, 500]), cond), net(x, torch.tensor([10, 500]), cond, torch.tensor([[3, 0, 0]] * 2))
        zeros = net(x, torch.tensor([10, 500]), cond, torch.zeros(2, 3, dtype=torch.long))
    assert torch.isfinite(early).all() and (early - late).abs().mean() > 1e-4  # the time step still matters
    assert torch.equal(none, zeros) and (none - night).abs().mean() > 1e-4
    plain = tiny_unet(injection)  # with zero embedding layers both blocks are norm(h): the same network
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if "attr_emb" not in k and ".emb." not in k},
                          strict=False)
    for b in [m for m in (*net.modules(), *plain.modules()) if isinstance(m, ResBlock)]:
        torch.nn.init.zeros_(b.emb.weight), torch.nn.init.zeros_(b.emb.bias)
    with torch.no_grad():
        assert torch.allclose(net(x, torch.tensor([10, 500]), cond), plain(x, torch.tensor([10, 500]), cond), atol=1e-5)


def test_each_attribute_is_dropped_on_its_own_at_the_requested_rate():
    model, scheduler = AttrRecorder(), make_scheduler("ddpm")
    attrs = torch.tensor([[1, 2, 3]]).repeat(4000, 1)
    diffusion_loss(model, torch.zeros(4000, 3, 2, 2), torch.zeros(4000, 2, 2, dtype=torch.uint8), scheduler,
                   attrs=attrs, p_uncond_attr=0.2, generator=torch.Generator().manual_seed(0))
    dropped = model.calls[0][2] == 0  # (N, 3)
    assert ((0.18 < dropped.float().mean(0)) & (dropped.float().mean(0) < 0.22)).all()
    both = (dropped[:, 0] & dropped[:, 1]).float().mean()
    assert 0.025 < both < 0.055  # independent: about 0.2 * 0.2


def test_validation_draws_the_same_timesteps_and_noise_with_or_without_attributes():
    class Seen(AttrRecorder):
        def forward(self, x, t, cond, attrs=None):
            self.seen = (x.clone(), t.clone())
            return super().forward(x, t, cond, attrs)

    images, masks = torch.rand(8, 3, 4, 4) * 2 - 1, torch.zeros(8, 4, 4, dtype=torch.uint8)
    seen = []
    for attrs in (None, torch.tensor([[1, 2, 3]]).repeat(8, 1)):  # as a model trained without / with attributes
        model = Seen()
        diffusion_loss(model, images, masks, make_scheduler("ddpm"), p_uncond=0.0, attrs=attrs, p_uncond_attr=0.0,
                       generator=torch.Generator().manual_seed(0))  # validation's settings
        seen.append(model.seen)
    assert torch.equal(seen[0][1], seen[1][1]) and torch.equal(seen[0][0], seen[1][0])  # val losses compare


def test_attribute_guidance_is_joint_in_two_branches_and_compositional_in_three():
    from semsegdiff.models.diffusion import Guided

    masks, attrs = random_masks(2), torch.tensor([[2, 0, 0], [2, 0, 0]])
    x, t = torch.zeros(2, 3, 4, 4), torch.tensor(10)
    joint = Guided(AttrRecorder(), masks[:, :4, :4], 3.0, attrs)
    out = joint(x, t)  # e(0,0) + g (e(m,a) - e(0,0)) = 0 + 3 * (1 + 20)
    assert joint.cond.shape[0] == 4 and torch.allclose(out, torch.full_like(out, 63.0))
    split = Guided(AttrRecorder(), masks[:, :4, :4], 3.0, attrs, attribute_guidance=1.5)
    out = split(x, t)  # e(0,0) + g (e(m,0) - e(0,0)) + g_a (e(m,a) - e(m,0)) = 0 + 3 * 1 + 1.5 * 20
    assert split.cond.shape[0] == 6 and torch.allclose(out, torch.full_like(out, 33.0))
    plain = Guided(AttrRecorder(), masks[:, :4, :4], 3.0, torch.zeros(2, 3, dtype=torch.long))
    assert plain.cond.shape[0] == 4 and plain.attrs is None  # nothing asked: the mask-only model's guidance


def test_each_value_takes_its_own_scale_in_a_chain_that_merges_terms_of_one_scale():
    from semsegdiff.attributes import guidance_scales
    from semsegdiff.errors import SettingError
    from semsegdiff.models.diffusion import Guided

    class TwoAttributes(AttrRecorder):  # (mask present) + 10 * time code + 100 * weather code
        def forward(self, x, t, cond, attrs=None):
            out = super().forward(x, t, cond, attrs)
            return out if attrs is None else out + 100 * attrs[:, 1].float()[:, None, None, None]

    masks, x, t = random_masks(2)[:, :4, :4], torch.zeros(2, 3, 4, 4), torch.tensor(10)
    attrs = torch.tensor([[3, 5, 0], [1, 0, 0]])  # night in fog; day, weather not asked
    scales = torch.from_numpy(guidance_scales(attrs.numpy(), {"night": 1.0, "fog": 4.0}, 2.0))
    assert scales.tolist() == [[1.0, 4.0, 2.0], [2.0, 2.0, 2.0]]
    guided = Guided(TwoAttributes(), masks, 3.0, attrs, attribute_guidance=scales)
    out = guided(x, t)  # 3 (e(m,0) - e(0,0)) + s_t (e(m,t) - e(m,0)) + s_w (e(m,t,w) - e(m,t))
    assert guided.cond.shape[0] == 8  # e(0,0), e(m,0), e(m,t), e(m,t,w)
    assert torch.allclose(out[0], torch.full_like(out[0], 3 + 1 * 30 + 4 * 500))
    assert torch.allclose(out[1], torch.full_like(out[1], 3 + 2 * 10))
    uniform = Guided(TwoAttributes(), masks, 3.0, attrs, attribute_guidance=torch.full((2, 3), 1.5))
    assert uniform.cond.shape[0] == 6  # one scale for every value: the terms merge, as a float scale gives
    assert torch.equal(uniform(x, t), Guided(TwoAttributes(), masks, 3.0, attrs, attribute_guidance=1.5)(x, t))
    with pytest.raises(SettingError, match=r"one per image and attribute \(\(2, 3\)\)"):
        Guided(TwoAttributes(), masks, 3.0, attrs, attribute_guidance=torch.ones(2))


def test_condition_guidance_is_checked_and_a_student_keeps_one_scale(tiny_checkpoint):
    from semsegdiff.config import check_setting
    from semsegdiff.errors import SettingError
    from semsegdiff.models import load_checkpoint

    assert check_setting("condition_guidance", "{night: 1, fog: 4.5}") == {"night": 1.0, "fog": 4.5}
    assert check_setting("condition_guidance", "{}") == {}
    with pytest.raises(SettingError, match=r"condition_guidance \(--condition-guidance\): 'noon' is not a value"):
        check_setting("condition_guidance", {"noon": 1.0})
    with pytest.raises(SettingError, match="the scale of 'fog' must be a number in"):
        check_setting("condition_guidance", {"fog": -1})
    model = load_checkpoint(tiny_checkpoint)
    assert model.cfg["attributes"] and model.cfg["condition_guidance"] == {"night": 1.0, "rain": 3.5, "fog": 4.0}  # the profile's
    for table in model.model.attr_emb:
        torch.nn.init.normal_(table.weight)  # as if trained (they start at zero: no attribute would matter)
    masks = torch.zeros(2, 16, 16, dtype=torch.uint8)  # the table's scale for night is night's float scale
    a = model.generate(masks, steps=2, time="night", attribute_guidance=2.0, condition_guidance={"night": 1.0})
    assert torch.equal(a, model.generate(masks, steps=2, time="night", attribute_guidance=1.0, condition_guidance={}))
    assert not torch.equal(a, model.generate(masks, steps=2, time="night", attribute_guidance=2.0,
                                             condition_guidance={}))


def test_asking_for_attributes_needs_a_model_trained_with_them(tiny_checkpoint):
    from semsegdiff.errors import SettingError
    from semsegdiff.models import load_checkpoint

    model = load_checkpoint(tiny_checkpoint)
    masks = torch.zeros(1, 16, 16, dtype=torch.uint8)
    if model.cfg["attributes"]:
        assert model.generate(masks, steps=2, time="night").shape == (1, 3, 16, 16)
    with pytest.raises(SettingError, match="'dusk' is not a time|not a time"):
        model.generate(masks, steps=2, time="noon")
    with pytest.raises(SettingError, match="--weather: expected one name, or one per mask"):
        model.generate(masks, steps=2, weather=["rain", "fog"])


def test_a_checkpoint_saved_before_attributes_existed_loads_as_mask_only(tiny_checkpoint, tmp_path):
    from semsegdiff.errors import SettingError
    from semsegdiff.models import load_checkpoint

    from semsegdiff.models.module import DiffusionModule

    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    hp = ckpt["hyper_parameters"]
    old = DiffusionModule(**{**hp, "attributes": False, "scale_shift": False})  # the network of those versions
    for key in ("attributes", "p_uncond_attr", "attribute_guidance", "scale_shift"):
        hp.pop(key, None)
    ckpt["state_dict"] = old.state_dict()
    torch.save(ckpt, tmp_path / "old.ckpt")
    model = load_checkpoint(tmp_path / "old.ckpt")
    assert model.cfg["attributes"] is False and model.model.attr_emb is None and model.cfg["scale_shift"] is False
    assert model.generate(torch.zeros(1, 16, 16, dtype=torch.uint8), steps=2).shape == (1, 3, 16, 16)
    with pytest.raises(SettingError, match="time: this checkpoint was trained without attributes"):
        model.generate(torch.zeros(1, 16, 16, dtype=torch.uint8), steps=2, time="night")


def test_a_setting_added_since_a_checkpoint_does_not_make_notebooks_retrain_it(tiny_checkpoint, tmp_path):
    from semsegdiff.config import QUICK
    from semsegdiff.models import matches

    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    cfg = {k: v for k, v in ckpt["hyper_parameters"].items() if k in QUICK or k == "profile"}
    del ckpt["hyper_parameters"]["attribute_balance"]  # saved before the setting existed: trained uniformly
    torch.save(ckpt, tmp_path / "old.ckpt")
    assert matches(tmp_path / "old.ckpt", {**cfg, "attribute_balance": 0.0})  # reused: what it was trained with
    assert not matches(tmp_path / "old.ckpt", {**cfg, "attribute_balance": 0.5})  # another training: retrained
