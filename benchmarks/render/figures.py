"""Figures as PNG bytes: the one writer every plot and sample grid of the harness and the studies uses."""

from __future__ import annotations

import io


def png_bytes(fig, dpi: int = 110) -> bytes:
    """A matplotlib ``Figure``, laid out tightly, as PNG bytes (written atomically by the caller);
    the saved area takes in every label and legend, also those outside the axes."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.1)
    return buffer.getvalue()
