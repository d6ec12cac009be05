"""A self-contained HTML report: headings, text, tables, figures and audio players.

Figures and sounds are embedded as base64, so the single ``report.html`` opens
anywhere offline. Used by ``avcourse demo`` and ``avcourse reproduce``.
"""

import base64
import html
import io
from pathlib import Path

import numpy as np

__all__ = ["HtmlReport"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #555; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #bbb; padding: 4px 10px; text-align: right; }
th { background: #eee; } figure { display: inline-block; margin: 0.5em; } img { max-width: 100%; }
.audio { display: inline-block; margin: 0.3em 1em 0.3em 0; } .audio span { display: block; font-size: 0.85em; }
"""


class HtmlReport:
    """Collects report sections and writes them as one HTML file.

    Examples:
        >>> report = HtmlReport("avcourse demo")
        >>> report.heading("Scenes")
        >>> report.table(["scene", "sources"], [[0, 2]])
        >>> report.save("avcourse-demo/report.html")  # doctest: +SKIP
    """

    def __init__(self, title):
        self.title = title
        self._parts = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text):
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text):
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, header, rows):
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_format(cell))}</td>" for cell in row) + "</tr>" for row in rows
        )
        self._parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def figure(self, figure, caption=""):
        """Embed a matplotlib figure as PNG (and close it)."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        plt.close(figure)
        data = base64.b64encode(buffer.getvalue()).decode()
        self._parts.append(
            f'<figure><img src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )

    def audio(self, waveform, sample_rate, caption=""):
        """Embed a mono waveform as a 16-bit WAV audio player."""
        import soundfile

        buffer = io.BytesIO()
        soundfile.write(buffer, np.clip(np.asarray(waveform), -1, 1), sample_rate, format="WAV", subtype="PCM_16")
        data = base64.b64encode(buffer.getvalue()).decode()
        self._parts.append(
            f'<div class="audio"><span>{html.escape(caption)}</span>'
            f'<audio controls src="data:audio/wav;base64,{data}"></audio></div>'
        )

    def save(self, path):
        """Write the report; return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(self._parts)
        path.write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{_STYLE}</style></head><body>{body}</body></html>"
        )
        return path


def _format(cell):
    if isinstance(cell, float):
        return f"{cell:.3f}"
    return str(cell)
