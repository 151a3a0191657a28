"""The memory estimate that refuses a CPU run before it starts (semsegdiff.models.cost) against what a training step
really takes: the peak resident memory of one U-Net forward and backward, side by side with the estimate.

Each case runs in a fresh process (the peak of one step, nothing else allocated before it), in fp32 and in bf16
autocast. The estimate must stay above what is measured (a refusal, never a kill) without refusing runs that fit:
the ratio measured / estimated is printed per case.

    .venv/bin/python benchmarks/memory_estimate.py            # quick at batch 32, the gpu profile's U-Net at batch 2
"""
from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, sys, threading, psutil, torch
from semsegdiff.config import MODEL_KEYS, get_profile
from semsegdiff.frame import frame
from semsegdiff.models.cost import memory_estimate
from semsegdiff.models.unet import CondUNet
profile, batch, precision = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = {**get_profile(profile), "batch_size": batch}
net = CondUNet(num_classes=19, **{k: cfg[k] for k in MODEL_KEYS})
h, w = frame(cfg["size"])
x, cond = torch.randn(batch, 3, h, w), torch.zeros(batch, net.cond_channels, h, w)
t = torch.zeros(batch, dtype=torch.long)
kw = {"attrs": torch.zeros(batch, 3, dtype=torch.long)} if cfg["attributes"] else {}
proc, peak, done = psutil.Process(), [0], []
def watch():
    while not done:
        peak[0] = max(peak[0], proc.memory_info().rss)
threading.Thread(target=watch, daemon=True).start()
base = proc.memory_info().rss
with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
    out = net(x, t, cond, **kw)
out.float().square().mean().backward()
done.append(1)
_, per_image = memory_estimate(cfg, precision)
print(json.dumps({"measured": peak[0] - base, "estimated": per_image * batch}))
"""


def main() -> None:
    rows = []
    for profile, batch in (("quick", 32), ("gpu", 2)):
        for precision in ("32", "bf16-mixed"):
            out = subprocess.run([sys.executable, "-c", CHILD, profile, str(batch), precision], check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.append((profile, batch, precision, r["measured"] / 2**20, r["estimated"] / 2**20))
    print(f"{'profile':8} {'batch':>5} {'precision':>10} {'measured MiB':>13} {'estimated MiB':>14} {'ratio':>6}")
    for profile, batch, precision, measured, estimated in rows:
        print(f"{profile:8} {batch:5d} {precision:>10} {measured:13.0f} {estimated:14.0f} {measured / estimated:6.2f}")


if __name__ == "__main__":
    main()
