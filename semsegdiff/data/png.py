"""PNG files by their bytes: masks and instance maps must be PNGs, whatever their names say."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"RIFF": "WebP", b"GIF8": "GIF", b"BM": "BMP", b"II*\x00": "TIFF",
              b"MM\x00*": "TIFF"}


def check_png(path: Path) -> bytes:
    """The first bytes of a mask file, after checking that it is a PNG by its content, whatever its name: a JPEG
    (lossy: a third of the ids change) or any other format is refused naming the file and what its bytes are."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    if not head:
        raise DataError(f"{path}: file is empty")
    if head[:8] != PNG_SIGNATURE:
        kind = next((name for sig, name in SIGNATURES.items() if head.startswith(sig)), "not an image file")
        lossy = " (lossy: its compression changes ids and blurs class edges)" if kind in ("JPEG", "WebP") else ""
        raise DataError(f"{path}: masks must be PNG files, but this file's bytes are {kind}{lossy}"
                        f"{', whatever its name says' if path.suffix.lower() == '.png' else ''}; export the mask as "
                        "PNG from its source (for a drawing saved as JPEG: decode it and use masks.snap())")
    return head
