"""Counted FLOPs and the hardware's peak: model FLOP utilisation (MFU) for the benchmarks.

FLOPs are counted by torch's ``FlopCounterMode`` on the real U-Net (matrix multiplies and
convolutions, forward and backward), never estimated by hand. Peaks are the vendors' dense
(no sparsity) bf16 tensor-core numbers; on the CPU there is no table and no MFU.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

# dense bf16 peak, TFLOP/s, by a substring of torch.cuda.get_device_name() (first match wins)
PEAK_BF16_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0, "GH200": 989.0,
    "B200": 2250.0, "A100": 312.0, "A800": 312.0, "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10G": 70.0,
    "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0,
}


def device_name(device: str) -> str:
    return torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"


def peak_tflops(device: str) -> float | None:
    """The device's dense bf16 peak in TFLOP/s, or None (CPU, or a GPU not in the table)."""
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def counted(fn) -> int:
    """FLOPs that ``fn()`` performs, counted by torch's FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def train_step_flops(net: torch.nn.Module, size: int, num_classes: int, device: str, batch: int = 2) -> float:
    """FLOPs of one training step per image: the U-Net's forward and backward, counted on ``batch`` images."""
    x = torch.randn(batch, 3, size, size, device=device)
    cond = torch.zeros(batch, getattr(net, "cond_channels", num_classes), size, size, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)

    def step():
        net(x, t, cond).float().square().mean().backward()

    flops = counted(step)
    net.zero_grad(set_to_none=True)
    return flops / batch


def forward_flops(net: torch.nn.Module, size: int, num_classes: int, device: str, batch: int = 2) -> float:
    """FLOPs of one forward of the U-Net per image."""
    x = torch.randn(batch, 3, size, size, device=device)
    cond = torch.zeros(batch, getattr(net, "cond_channels", num_classes), size, size, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)
    with torch.no_grad():
        return counted(lambda: net(x, t, cond)) / batch


def mfu_line(flops_per_s: float, device: str) -> str:
    """``X TFLOP/s = Y% of the <GPU> dense bf16 peak (Z TFLOP/s)``, or the rate alone where the peak is unknown."""
    peak = peak_tflops(device)
    rate = f"{flops_per_s / 1e12:.1f} TFLOP/s counted"
    if peak is None:
        return f"{rate} (no peak table for {device_name(device)}: no MFU)"
    return f"{rate} = MFU {flops_per_s / 1e12 / peak:.1%} of the {device_name(device)} dense bf16 peak ({peak:g} TFLOP/s)"
