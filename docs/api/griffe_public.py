"""Griffe extension for the API reference: `from ._x import name as name` (the redundant-alias re-export
convention every `sciml/<module>/__init__.py` uses) marks `name` public, so `::: sciml.gp` lists every public
name of the module, including names added later, without a hand-kept list."""

from __future__ import annotations

import ast
import importlib
import inspect
import re

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


class InheritDocstrings(griffe.Extension):
    """A method that overrides a documented method without a docstring of its own (e.g. `Box.sdf` overriding
    `Domain.sdf`) shows the base method's docstring, as `inspect.getdoc` does at run time, so its parameters are
    documented in the reference too."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self._visit(pkg)

    def _visit(self, obj) -> None:
        for member in list(obj.members.values()):
            if member.is_alias:
                continue
            if member.is_class:
                self._inherit(member)
            if member.is_module or member.is_class:
                self._visit(member)

    @staticmethod
    def _inherit(cls) -> None:
        try:
            bases = cls.mro()
        except Exception:  # a base outside the loaded packages
            bases = []
        for name, member in cls.members.items():
            if member.is_alias or not member.is_function or member.docstring is not None or (
                    name.startswith("_") and name != "__call__"):  # e.g. object.__init__'s "Initialize self."
                continue
            doc = next((b.members[name].docstring.value for b in bases if name in b.members
                        and not b.members[name].is_alias and b.members[name].docstring is not None), None)
            if doc is None:  # a base in another package (e.g. lineax's `mv`): what Python itself reports
                try:
                    runtime = getattr(getattr(importlib.import_module(cls.module.path), cls.name), name)
                    doc = inspect.getdoc(runtime)
                    # the other package's cross-references (`[lineax.X][]`) have no target here: keep the text
                    doc = doc and re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", doc)
                except Exception:
                    doc = None
            if doc:
                member.docstring = griffe.Docstring(doc, parent=member)
