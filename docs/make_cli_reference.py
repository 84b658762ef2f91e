"""Write the README's command-line reference (between its ``cli-reference`` markers) from cellseg's argument
parser, the one source of the flags, their defaults and their help. ``tests/test_docs.py`` fails when the
README is out of date.

    python docs/make_cli_reference.py          # rewrite that part of README.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- cli-reference: start -->", "<!-- cli-reference: end -->"


def _subcommands(parser: argparse.ArgumentParser, prefix: str):
    """(command line, parser) of every subcommand, depth first."""
    for action in parser._actions:  # argparse has no public walk over subparsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub, helps.get(name, "")
                yield from _subcommands(sub, f"{prefix} {name}")


def _row(action: argparse.Action) -> str | None:
    if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
        return None
    names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest.upper()}`"
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        names += " {" + ",".join(map(str, action.choices)) + "}"
    default = action.default
    shown = (
        ""
        if default is None or default is False or default is argparse.SUPPRESS or default == "" or default == []
        else f"`{default}`"
    )
    text = " ".join((action.help or "").replace("|", "\\|").split())
    return f"| {names} | {shown} | {text} |"


def reference() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cellseg.cellpose_flags import EQUIVALENTS
    from cellseg.cli import build_parser

    lines = [
        "Generated from the argument parser by `python docs/make_cli_reference.py`; do not edit by hand.",
        "Every command also takes `-h`; `cellseg --version` prints the version.",
    ]
    for command, parser, summary in _subcommands(build_parser(), "cellseg"):
        lines += ["", f"### `{command}`", ""]
        if parser.description or summary:
            lines += [" ".join((parser.description or summary).split()), ""]
        rows = [r for r in map(_row, parser._actions) if r]
        if rows:
            lines += ["| argument | default | meaning |", "|---|---|---|", *rows]
    lines += ["", "### Coming from Cellpose", "", "| Cellpose | cellseg |", "|---|---|"]
    lines += [f"| `{a}` | {b} |" for a, b in EQUIVALENTS]
    lines += [
        "",
        "Cellpose's flags work as typed (`cellseg --dir IMGS --savedir OUT --use_gpu ...` is `cellseg segment`);",
        "a flag with no meaning here is named in one note line and ignored, never an error.",
    ]
    return "\n".join(lines) + "\n"


def current() -> str:
    """The README's reference as it stands (between the markers)."""
    text = README.read_text()
    return text[text.index(START) + len(START) + 1 : text.index(END)]


if __name__ == "__main__":
    text = README.read_text()
    README.write_text(text[: text.index(START) + len(START)] + "\n" + reference() + text[text.index(END) :])
    print(f"wrote the reference into {README}")
