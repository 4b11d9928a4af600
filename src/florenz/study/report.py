"""The study's report: `report.md` and a self-contained `report.html` (figures, images and the CJK font subset
embedded) written from one structure, so the two never disagree. The numbers and verdicts come from
`florenz.study.findings`; this module only decides how a verdict is read off an interval and renders.

A finding compares a 95% interval with zero: "holds" when the whole interval has the sign the paper found,
"reversed" when it has the other sign, "not resolved" when it contains zero, "not measured" without one.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import platform
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from florenz.files import write_atomically

VERDICT_SENTENCES = {
    "holds": "Holds here",
    "reversed": "Does not hold here: this study measured the opposite",
    "not resolved": "Not resolved here: the 95% interval contains zero",
    "not measured": "Not measured here",
}
CJK_FAMILY = "Florenz CJK"  # the embedded subset's CSS family name
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")  # in preference


@dataclass
class Finding:
    claim: str  # what the paper found, as a sentence
    verdict: str  # "holds", "reversed", "not resolved" or "not measured"
    evidence: str  # our numbers
    paper: str  # the paper's numbers or figure

    def statement(self) -> str:
        """The finding in plain words, saying outright when it does not hold here."""
        return f"{self.claim[0].upper()}{self.claim[1:]}. {VERDICT_SENTENCES[self.verdict]}: {self.evidence}."


@dataclass
class Example:
    """One benchmark image beside a table of captions (first table row is the header)."""

    image: Path
    caption: str
    table: list[list[str]]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: list[list[str]] | None = None  # first row is the header
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (png, caption)
    examples: list[Example] = field(default_factory=list)


def coefficient_verdict(coefficient: dict[str, Any] | None, expected_sign: int) -> str:
    """'holds': the interval lies on the expected side of 0; 'reversed': on the other; else 'not resolved'."""
    if not coefficient or coefficient.get("low") is None or coefficient.get("high") is None:
        return "not measured"
    low, high = sorted((coefficient["low"] * expected_sign, coefficient["high"] * expected_sign))
    if low > 0:
        return "holds"
    if high < 0:
        return "reversed"
    return "not resolved"


# --- fonts --------------------------------------------------------------------------------------------------


@dataclass
class CjkFont:
    family: str
    path: Path
    index: int  # font number inside a .ttc collection


@functools.cache
def find_cjk_font() -> CjkFont | None:
    """A regular-weight Chinese font installed here (Debian: fonts-noto-cjk), preferring CJK_FONTS' order."""
    from fontTools.ttLib import TTCollection, TTFont
    from matplotlib import font_manager

    found: dict[str, CjkFont] = {}
    for name in sorted(font_manager.findSystemFonts()):
        path = Path(name)
        try:
            faces = (
                TTCollection(path, lazy=True).fonts
                if path.suffix.lower() == ".ttc"
                else [TTFont(path, lazy=True)]
            )
            for index, face in enumerate(faces):
                family, style = face["name"].getDebugName(1), face["name"].getDebugName(2)
                if family in CJK_FONTS and style == "Regular":
                    found.setdefault(family, CjkFont(family, path, index))
        except Exception:  # noqa: BLE001 — an unreadable system font is skipped, not fatal to the report
            continue
    return next((found[family] for family in CJK_FONTS if family in found), None)


def embedded_font_face(text: str) -> tuple[str, str]:
    """(@font-face rule with the CJK font cut to `text`'s characters, a sentence naming the font)."""
    font = find_cjk_font()
    if font is None:
        return "", (
            "no Chinese font was found here (install Debian's fonts-noto-cjk): Chinese text relies on "
            "the reader's fonts; Russian uses the browser's sans-serif"
        )
    from fontTools import subset
    from fontTools.ttLib import TTFont

    characters = "".join(sorted({c for c in text if ord(c) > 0x7F}))
    options = subset.Options()
    options.layout_features = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    ttf = TTFont(font.path, fontNumber=font.index)
    subsetter.subset(ttf)
    buffer = io.BytesIO()
    ttf.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    rule = f"@font-face{{font-family:'{CJK_FAMILY}';src:url(data:font/otf;base64,{data}) format('opentype')}}"
    return rule, (
        f"Chinese and Russian text is set in {font.family} ({font.path.name}), found installed here; "
        f"report.html embeds the {len(characters)} non-ASCII characters it uses, so it renders "
        "without the font installed; report.md relies on the reader's fonts"
    )


# --- rendering ----------------------------------------------------------------------------------------------


def _markdown_table(rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header, *body = rows
    return ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(map(cell, row)) + " |" for row in body
    ]


def render_markdown(title: str, findings: list[Finding], sections: list[Section], root: Path) -> str:
    lines = [f"# {title}", "", "## Findings", ""]
    lines += [f"- **{f.verdict}**: {f.statement()} Paper: {f.paper}." for f in findings]
    lines += [""] + _markdown_table(
        [["finding", "verdict", "this study", "paper"]]
        + [[f.claim, f"**{f.verdict}**", f.evidence, f.paper] for f in findings]
    )
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        lines += [paragraph + "\n" for paragraph in section.paragraphs]
        if section.table:
            lines += _markdown_table(section.table)
        for png, caption in section.figures:
            lines += ["", f"![{caption}]({png.relative_to(root).as_posix()})", "", f"*{caption}*"]
        for example in section.examples:
            lines += [
                "",
                f"![{example.caption}]({example.image.relative_to(root).as_posix()})",
                "",
                f"*{example.caption}*",
                "",
            ]
            lines += _markdown_table(example.table)
    return "\n".join(lines) + "\n"


def _embed(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _html_table(rows: list[list[str]]) -> str:
    header, *body = rows
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


def render_html(title: str, findings: list[Finding], sections: list[Section], font_face: str = "") -> str:
    parts = [f"<h1>{html.escape(title)}</h1>", "<h2>Findings</h2><ul>"]
    parts += [
        f'<li><b class="verdict {f.verdict.replace(" ", "-")}">{html.escape(f.verdict)}</b>: '
        f"{html.escape(f.statement())} <i>Paper: {html.escape(f.paper)}.</i></li>"
        for f in findings
    ]
    parts.append("</ul>")
    parts.append(
        _html_table(
            [["finding", "verdict", "this study", "paper"]]
            + [[f.claim, f.verdict, f.evidence, f.paper] for f in findings]
        )
    )
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(paragraph)}</p>" for paragraph in section.paragraphs]
        if section.table:
            parts.append(_html_table(section.table))
        parts += [
            f'<figure><img src="{_embed(png)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            for png, caption in section.figures
        ]
        parts += [
            f'<div class="example"><figure><img class="bench" src="{_embed(example.image)}" '
            f'alt="{html.escape(example.caption)}"><figcaption>{html.escape(example.caption)}</figcaption>'
            f"</figure>{_html_table(example.table)}</div>"
            for example in section.examples
        ]
    style = (
        f"{font_face}body{{font-family:'Noto Sans','DejaVu Sans','{CJK_FAMILY}','Noto Sans CJK SC',"
        "'Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif;max-width:1200px;margin:2em auto;"
        "padding:0 1em;line-height:1.4}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;"
        "padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}"
        "th{overflow-wrap:normal}img{max-width:100%}figcaption{font-style:italic}"
        ".example{display:flex;gap:1.5em;align-items:flex-start;margin:1em 0}.example figure{margin:0;"
        "flex:0 0 200px}img.bench{width:192px;image-rendering:pixelated}.holds{color:#1a7f37}"
        ".reversed{color:#b3261e}.not-resolved,.not-measured{color:#8a6d00}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def _text_of(findings: list[Finding], sections: list[Section]) -> str:
    """Every string the page shows, for the font subset."""
    pieces = [f.statement() + f.paper + f.claim for f in findings]
    for section in sections:
        pieces += [section.title, *section.paragraphs, *(caption for _, caption in section.figures)]
        tables = ([section.table] if section.table else []) + [example.table for example in section.examples]
        pieces += [cell for table in tables for row in table for cell in row]
    return "".join(pieces)


def write_report(
    root: Path, title: str, findings: list[Finding], sections: list[Section]
) -> tuple[Path, Path]:
    """report.md and report.html in `root`; the font sentence goes into the last section."""
    font_face, font_sentence = embedded_font_face(_text_of(findings, sections))
    sections = [
        *sections[:-1],
        Section(
            sections[-1].title,
            [*sections[-1].paragraphs, font_sentence + "."],
            sections[-1].table,
            sections[-1].figures,
            sections[-1].examples,
        ),
    ]
    markdown = write_atomically(root / "report.md", render_markdown(title, findings, sections, root))
    page = write_atomically(root / "report.html", render_html(title, findings, sections, font_face))
    return markdown, page


def per_size(values: dict[str, Any], default: Any, form: str = "{}") -> str:
    """A grid setting named per size with a default, e.g. "world-xxs 128,000; other sizes 32,000"."""
    if not values:
        return f"all sizes {form.format(default)}"
    named = "; ".join(f"{size} {form.format(value)}" for size, value in values.items())
    return f"{named}; other sizes {form.format(default)}"


def setup_section(plan: dict[str, Any], timings: dict[str, dict[str, float]]) -> Section:
    grid, config = plan["grid"], plan["config"]
    schedule = config["schedule"] + (
        " (one run per size and start; every smaller budget is a cool-down branch of it, Hägele et al. 2024)"
        if config["schedule"] == "wsd"
        else " (one run per budget, as the paper did)"
    )
    rows = [
        ["setting", "value"],
        ["world", f"{plan['world']} ({grid['world_samples']:,} training images)"],
        ["coverage", "captions en, de; translation en -> de, fr, es, ru, zh (the paper's)"],
        ["preset", config["preset"] + (f" ({config['grid_file']})" if config.get("grid_file") else "")],
        ["sizes", ", ".join(grid["sizes"])],
        ["budgets S", ", ".join(f"{b:,}" for b in grid["budgets"])],
        ["decoder starts", ", ".join(grid["variants"]) + " (A: English-only LM, high T; B: all six, low T)"],
        ["schedule", schedule],
        ["peak learning rate", per_size(grid["lr"], grid["default_lr"])],
        [
            "vision pre-training images",
            per_size(grid["vision_samples"], grid["default_vision_samples"], "{:,}"),
        ],
        ["decoder LM pre-training lines", f"{grid['decoder_samples']:,}"],
        ["batch", str(grid["batch_size"])],
        [
            "hardware",
            f"{platform.processor() or platform.machine()}, {config['launcher']} launcher, "
            f"{config['workers']} worker(s) x {config['threads']} thread(s)",
        ],
        [
            "versions",
            f"python {platform.python_version()}, torch {version('torch')}, florenz {version('florenz')}",
        ],
    ]
    wall, cpu = timings.get("wall_s", {}), timings.get("cpu_s", {})
    for stage, seconds in wall.items():
        spent = f"{seconds:,.0f} s wall"
        rows.append([f"time: {stage}", spent + (f", {cpu[stage]:,.0f} s CPU" if stage in cpu else "")])
    if wall:
        total = f"{sum(wall.values()):,.0f} s wall, {sum(cpu.values()):,.0f} s CPU in {', '.join(cpu)}"
        rows.append(["time: total", total + " (the study's and its workers' user + system time)"])
    return Section("Set-up", table=rows)
