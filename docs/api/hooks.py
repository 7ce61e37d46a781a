"""mkdocs hook: an API page whose `::: sciml.<module>` is not in this source tree (e.g. a module still on another
branch) says so instead of failing the strict build; every module that exists is rendered by mkdocstrings."""

from __future__ import annotations

import pathlib
import re

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_DIRECTIVE = re.compile(r"^::: (sciml(?:\.\w+)+)\n((?:[ \t]+.*\n)*)", re.M)


def _exists(dotted: str) -> bool:
    path = _ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() or (
        path.parent.with_suffix(".py").is_file() or (path.parent / "__init__.py").is_file()) and path.name[0].isupper()


def on_page_markdown(markdown: str, page, config, files) -> str:
    def replace(m: re.Match) -> str:
        if _exists(m.group(1)):
            return m.group(0)
        return f'!!! note\n    `{m.group(1)}` is not part of this build.\n\n'

    return _DIRECTIVE.sub(replace, markdown + ("" if markdown.endswith("\n") else "\n"))
