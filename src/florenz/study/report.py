"""The study's report: `report.md` and a self-contained `report.html` (figures embedded) written from one
structure, so the two never disagree. Every verdict is computed here from the study's own numbers.

A finding compares a fitted coefficient's 95% interval with zero: "holds" when the whole interval has the sign
the paper found, "reversed" when it has the other sign, "not resolved" when it contains zero.
"""

from __future__ import annotations

import base64
import html
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from florenz.files import write_atomically

# Law 2 in log10 space, the paper's v1 Table 3 (no T term there); the AAAI version adds T without printing b3.
PAPER_LAW2 = {
    "uc": {"b1": -0.16, "b2": -0.04},
    "st": {"b1": -0.15, "b2": -0.19},
    "sc": {"b1": -0.13, "b2": -0.15},
}
SPLIT_NAMES = {"uc": "unseen captioning (UC)", "st": "seen translation (ST)", "sc": "seen captioning (SC)"}


@dataclass
class Finding:
    claim: str  # what the paper found, as a sentence
    verdict: str  # "holds", "reversed", "not resolved" or "not measured"
    evidence: str  # our numbers
    paper: str  # the paper's numbers


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: list[list[str]] | None = None  # first row is the header
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (png, caption)


def coefficient_verdict(coefficient: dict[str, float] | None, expected_sign: int) -> str:
    """'holds': the interval lies on the expected side of 0; 'reversed': on the other; else 'not resolved'."""
    if not coefficient or coefficient.get("low") is None or coefficient.get("high") is None:
        return "not measured"
    low, high = coefficient["low"] * expected_sign, coefficient["high"] * expected_sign
    if low > 0:
        return "holds"
    if high < 0:
        return "reversed"
    return "not resolved"


def _interval(coefficient: dict[str, float] | None) -> str:
    if not coefficient:
        return "not fitted"
    return f"{coefficient['value']:.3f} [{coefficient['low']:.3f}, {coefficient['high']:.3f}]"


def law2_findings(fits: dict[str, Any]) -> list[Finding]:
    """UC loss falls with P (b1 < 0) and with S (b2 < 0); a lower T lowers it (b3 > 0)."""
    uc = fits.get("uc", {}).get("law2", {})
    log_linear = uc.get("log_linear", {})
    rows = [
        ("b1", -1, "UC loss falls as the model grows (P)"),
        ("b2", -1, "UC loss falls with more seen samples (S)"),
        ("b3", +1, "a more multilingual decoder start (lower T) lowers UC loss"),
    ]
    findings = []
    for name, sign, claim in rows:
        coefficient = log_linear.get(name)
        paper = PAPER_LAW2["uc"].get(name)
        findings.append(
            Finding(
                claim,
                coefficient_verdict(coefficient, sign),
                f"{name} = {_interval(coefficient)} (log-linear law 2 on UC, 95% interval)",
                f"{name} = {paper:+.2f} (v1 Table 3)"
                if paper is not None
                else "sign reported, value not printed",
            )
        )
    return findings


def _embed(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def render_markdown(title: str, findings: list[Finding], sections: list[Section], root: Path) -> str:
    lines = [
        f"# {title}",
        "",
        "## Findings",
        "",
        "| finding | verdict | this study | paper |",
        "|---|---|---|---|",
    ]
    lines += [f"| {f.claim} | **{f.verdict}** | {f.evidence} | {f.paper} |" for f in findings]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        lines += [paragraph + "\n" for paragraph in section.paragraphs]
        if section.table:
            header, *body = section.table
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in body]
        for png, caption in section.figures:
            lines += ["", f"![{caption}]({png.relative_to(root)})", f"*{caption}*"]
    return "\n".join(lines) + "\n"


def render_html(title: str, findings: list[Finding], sections: list[Section]) -> str:
    def table(rows: list[list[str]]) -> str:
        header, *body = rows
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in body
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"

    verdict_rows = [["finding", "verdict", "this study", "paper"]] + [
        [f.claim, f.verdict, f.evidence, f.paper] for f in findings
    ]
    parts = [f"<h1>{html.escape(title)}</h1>", "<h2>Findings</h2>", table(verdict_rows)]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(paragraph)}</p>" for paragraph in section.paragraphs]
        if section.table:
            parts.append(table(section.table))
        parts += [
            f'<figure><img src="{_embed(png)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            for png, caption in section.figures
        ]
    style = (
        "body{font-family:'Noto Sans','Noto Sans CJK SC',sans-serif;max-width:1100px;margin:2em auto;"
        "line-height:1.4}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:3px 8px;text-align:left}img{max-width:100%}figcaption{font-style:italic}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def write_report(
    root: Path, title: str, findings: list[Finding], sections: list[Section]
) -> tuple[Path, Path]:
    """report.md and report.html in `root`."""
    markdown = write_atomically(root / "report.md", render_markdown(title, findings, sections, root))
    page = write_atomically(root / "report.html", render_html(title, findings, sections))
    return markdown, page


def setup_section(plan: dict[str, Any], timings: dict[str, float]) -> Section:
    import torch

    grid, config = plan["grid"], plan["config"]
    rows = [
        ["setting", "value"],
        ["world", str(plan["world"])],
        ["sizes", ", ".join(grid["sizes"])],
        ["budgets S", ", ".join(str(b) for b in grid["budgets"])],
        ["decoder starts", ", ".join(grid["variants"]) + " (A: English-only LM, B: all six languages)"],
        [
            "schedule",
            config["schedule"]
            + (
                " (one run per start, cool-down branch per budget)"
                if config["schedule"] == "wsd"
                else " (one run per budget)"
            ),
        ],
        ["learning rates", json.dumps(grid["lr"]) + f", others {grid['default_lr']}"],
        [
            "vision pre-training",
            json.dumps(grid["vision_samples"]) + f", others {grid['default_vision_samples']}",
        ],
        [
            "hardware",
            f"{platform.processor() or platform.machine()}, {config['workers']} worker(s) x "
            f"{config['threads']} thread(s)",
        ],
        ["versions", f"python {platform.python_version()}, torch {torch.__version__}"],
    ]
    rows += [[f"wall time: {stage}", f"{seconds:.0f} s"] for stage, seconds in timings.items()]
    return Section("Set-up", table=rows)
