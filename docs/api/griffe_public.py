"""Griffe extension for the API reference: `from ._x import name as name` (the redundant-alias re-export
convention every `sciml/<module>/__init__.py` uses) marks `name` public, so `::: sciml.gp` lists every public
name of the module, including names added later, without a hand-kept list."""

from __future__ import annotations

import ast

import griffe


class RedundantAliasesArePublic(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self._visit(pkg)

    def _visit(self, module: griffe.Module) -> None:
        if isinstance(module.filepath, list) or module.filepath is None:  # namespace package
            return
        tree = ast.parse(module.filepath.read_text())
        for node in tree.body:
            if isinstance(node, (ast.ImportFrom, ast.Import)):
                for a in node.names:
                    if a.asname is not None and a.asname == a.name.rsplit(".", 1)[-1] and a.asname in module.members:
                        module.members[a.asname].public = not a.asname.startswith("_")
        for sub in module.modules.values():
            if not sub.name.startswith("_") and not sub.is_alias:
                self._visit(sub)
