"""One self-contained HTML file: the status table, the figures (embedded as base64 PNG data URIs),
the plan and the config. No external CSS, JavaScript or image files, so it can be mailed or
archived on its own."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 3px 8px; text-align: right; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f4f4f4; }
.status { font-size: 1.1em; padding: 0.6em 1em; background: #f4f8fc; border-left: 4px solid #4C72B0; }
figure { margin: 1.5em 0; } figcaption { font-size: 0.9em; color: #555; max-width: 900px; }
img { max-width: 100%; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
"""


@dataclass
class FigureEntry:
    key: str
    title: str
    caption: str
    png: Path


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def table_html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def render_report(title: str, summary: list[str], header: list[str], rows: list[list[str]], table_note: str,
                  figures: list[FigureEntry], plan_text: str | None, config_text: str | None,
                  generated: str, sections: list[tuple[str, str]] | None = None) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<div class="status">' + "<br>".join(html.escape(s) for s in summary) + "</div>",
        "<h2>Iterations</h2>",
        table_html(header, rows),
        f"<p><small>{html.escape(table_note)}</small></p>",
    ]
    for heading, body in sections or []:  # ready-made HTML, e.g. the property table
        parts += [f"<h2>{html.escape(heading)}</h2>", body]
    for fig in figures:
        parts += [f'<h2 id="{fig.key}">{html.escape(fig.title)}</h2>',
                  f"<figure>{_img(fig.png)}<figcaption>{html.escape(fig.caption)}</figcaption></figure>"]
    if plan_text:
        parts += ["<h2>Plan and bounds</h2>", f"<pre>{html.escape(plan_text)}</pre>"]
    if config_text:
        parts += ["<h2>Configuration</h2>", f"<details><summary>config file</summary><pre>{html.escape(config_text)}</pre></details>"]
    parts += [f"<p><small>generated {html.escape(generated)} by mlip-runner report</small></p>", "</body></html>"]
    return "\n".join(parts) + "\n"
