"""Small plotting helpers shared by the demos and examples (matplotlib, Agg, imported lazily)."""

from __future__ import annotations


def save_figure(fig, path, title: str | None = None, dpi: int = 110):
    """Add an optional super-title, tighten the layout, write `path` as PNG, close the figure; return `path`."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
