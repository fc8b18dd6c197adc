"""Plain-text stand-ins for the few ``rich`` classes the CLI uses (``Console``, ``Table``,
``Tree``), for an install without the ``cli`` extra: a service installs ``otel-llm``
alone and never loads rich; its ``otel-llm trace`` / ``report`` still print aligned
tables and trees, without colour. rich's markup tags (``[bold]...[/]``) are removed."""

from __future__ import annotations

import re
import sys
from typing import IO, Any

_MARKUP = re.compile(r"\[(?:/|(?:bold|dim|italic|red|green|yellow|blue|cyan|magenta)(?: \w+)*)\]")


def plain(text: str) -> str:
    """``text`` without rich's style tags."""
    return _MARKUP.sub("", text)


class Table:
    def __init__(self, title: str | None = None, **_: Any) -> None:
        self.title = title
        self.columns: list[tuple[str, str]] = []
        self.rows: list[tuple[list[str], bool]] = []

    def add_column(self, header: str, justify: str = "left", **_: Any) -> None:
        self.columns.append((header, justify))

    def add_row(self, *cells: Any, end_section: bool = False, **_: Any) -> None:
        self.rows.append(([plain("" if c is None else str(c)) for c in cells], end_section))

    def lines(self) -> list[str]:
        headers = [plain(h) for h, _ in self.columns]
        widths = [len(h) for h in headers]
        for cells, _ in self.rows:
            for i, cell in enumerate(cells[: len(widths)]):
                widths[i] = max(widths[i], len(cell))

        def line(cells: list[str]) -> str:
            out = []
            for i, (width, (_, justify)) in enumerate(zip(widths, self.columns, strict=True)):
                cell = cells[i] if i < len(cells) else ""
                out.append(cell.rjust(width) if justify == "right" else cell.ljust(width))
            return "  ".join(out).rstrip()

        rule = "  ".join("-" * w for w in widths)
        result = [plain(self.title)] if self.title else []
        result += [line(headers), rule]
        for cells, end_section in self.rows:
            result.append(line(cells))
            if end_section:
                result.append(rule)
        return result


class Tree:
    def __init__(self, label: str, **_: Any) -> None:
        self.label = plain(label)
        self.children: list[Tree] = []

    def add(self, label: str, **_: Any) -> Tree:
        child = Tree(label)
        self.children.append(child)
        return child

    def lines(self) -> list[str]:
        result = [self.label]

        def walk(node: Tree, prefix: str) -> None:
            for i, child in enumerate(node.children):
                last = i == len(node.children) - 1
                result.append(f"{prefix}{'└── ' if last else '├── '}{child.label}")
                walk(child, prefix + ("    " if last else "│   "))

        walk(self, "")
        return result


class Console:
    def __init__(self, file: IO[str] | None = None, stderr: bool = False, **_: Any) -> None:
        self.file = file
        self.stderr = stderr

    def print(self, *objects: Any, **_: Any) -> None:
        stream = self.file or (sys.stderr if self.stderr else sys.stdout)
        for obj in objects:
            lines = obj.lines() if isinstance(obj, Table | Tree) else [plain(str(obj))]
            stream.write("\n".join(lines) + "\n")
