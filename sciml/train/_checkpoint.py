"""Orbax checkpoints of `fit`: parameters + optimiser state + step, with a structure record (leaf paths, shapes,
dtypes) so a resume onto a different model or optimiser is refused, and a fallback past unreadable checkpoints."""

from __future__ import annotations

import os
import pathlib
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from ._structure import describe, differences, nonfinite_report

FORMAT = "sciml.train.checkpoint/2"


def _say(msg: str) -> None:
    try:
        from tqdm.auto import tqdm

        tqdm.write(msg)
    except Exception:  # pragma: no cover - tqdm missing
        print(msg, flush=True)


def _crc(a) -> int:
    return zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1)) if np.size(a) else 0


def describe_state(params, opt_state) -> list[dict]:
    return describe(params, "params") + describe(opt_state, "opt_state")


class CheckpointMismatchError(ValueError):
    """A checkpoint was written for a different model or optimiser than the one being resumed."""


class Checkpointer:
    def __init__(self, directory, max_to_keep: int = 3):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.dir = pathlib.Path(directory).absolute()
        self.mgr = ocp.CheckpointManager(
            self.dir, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        )

    def steps(self) -> list[int]:
        return sorted(self.mgr.all_steps())

    def latest(self):
        return self.mgr.latest_step()

    def save(self, step: int, params, opt_state) -> None:
        bad = nonfinite_report(params, opt_state)
        if bad is not None:  # never write a poisoned checkpoint
            raise FloatingPointError(f"refusing to write checkpoint {step}: {bad}.")
        ocp = self.ocp
        leaves = jax.tree.leaves((params, opt_state))
        state = {f"leaf{i:05d}": np.asarray(l) for i, l in enumerate(leaves)}
        meta = {"step": int(step), "format": FORMAT, "leaves": describe_state(params, opt_state),
                "crc32": [_crc(v) for v in state.values()]}
        self.mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                      force=True)
        self.mgr.wait_until_finished()

    def _saved_structure(self, step, meta):
        if "leaves" in meta:
            return meta["leaves"], True
        # a checkpoint written before structure records: shapes and dtypes from orbax's array metadata
        md = self.mgr.item_metadata(step)["state"]
        tree = getattr(md, "tree", md)
        recs = []
        for name in sorted(tree):
            a = tree[name]
            recs.append({"path": name, "shape": [int(d) for d in a.shape], "dtype": str(np.dtype(a.dtype))})
        return recs, False

    def check(self, step, params, opt_state) -> dict:
        """Read checkpoint `step`'s metadata and raise `CheckpointMismatchError` if it does not fit."""
        ocp = self.ocp
        meta = self.mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        saved, named = self._saved_structure(step, meta)
        current = describe_state(params, opt_state)
        if not named:  # compare positionally
            current = [dict(r, path=f"leaf{i:05d}") for i, r in enumerate(current)]
        diffs = differences(saved, current)
        if diffs:
            kinds = []
            for part, what in (("params", "model architecture or dtype"), ("opt_state", "optimiser")):
                s = [r for r in saved if r["path"].startswith(part)]
                c = [r for r in current if r["path"].startswith(part)]
                if named and differences(s, c):
                    kinds.append(what)
            kind = " and ".join(kinds) if kinds else "model or optimiser"
            raise CheckpointMismatchError(
                f"checkpoint step {step} in {self.dir} was written for a different {kind} than this run: "
                + "; ".join(diffs)
                + ". Use another `checkpoint_dir`, or `resume='never'` to start afresh (this removes the old "
                "checkpoints of that directory)."
            )
        return meta

    def restore(self, step, params, opt_state):
        ocp = self.ocp
        meta = self.check(step, params, opt_state)
        leaves = jax.tree.leaves((params, opt_state))
        target = {f"leaf{i:05d}": np.asarray(l) for i, l in enumerate(leaves)}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        st = self.mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
        raw = [np.asarray(st[f"leaf{i:05d}"]) for i in range(len(leaves))]
        if "crc32" in meta:
            bad = [i for i, (a, c) in enumerate(zip(raw, meta["crc32"])) if _crc(a) != c]
            if bad:
                names = [meta["leaves"][i]["path"] for i in bad[:3]]
                raise IOError(f"checksum mismatch in {len(bad)} arrays (e.g. {', '.join(names)})")
        new = [jnp.asarray(a, dtype=jnp.asarray(l).dtype) for a, l in zip(raw, leaves)]
        p, s = jax.tree.unflatten(jax.tree.structure((params, opt_state)), new)
        bad = nonfinite_report(p, s)
        if bad is not None:
            raise FloatingPointError(f"checkpoint holds {bad}")
        return p, s, int(meta["step"])

    def restore_newest(self, params, opt_state, *, set_aside: bool = True):
        """Restore the newest intact checkpoint: `(params, opt_state, step)` or `None` if there is none.
        Unreadable checkpoints newer than it are moved aside to `<step>.unreadable` (with a message)."""
        steps = self.steps()
        failures = []
        for step in reversed(steps):
            try:
                out = self.restore(step, params, opt_state)
            except CheckpointMismatchError:
                raise
            except Exception as e:  # noqa: BLE001 - any read failure means "this checkpoint is not usable"
                failures.append((step, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"))
                continue
            if failures:
                self._report(failures, out[2], set_aside)
            return out
        if failures:
            raise RuntimeError(
                f"none of the {len(failures)} checkpoints in {self.dir} is readable ("
                + "; ".join(f"step {s}: {m}" for s, m in failures)
                + "). Remove them or pass `resume='never'`."
            )
        return None

    def _report(self, failures, used, set_aside):
        for step, msg in failures:
            note = ""
            if set_aside:  # so that later saves of this step number do not collide with the broken folder
                src = self.dir / str(step)
                dst = self.dir / f"{step}.unreadable"
                k = 1
                while dst.exists():
                    dst = self.dir / f"{step}.unreadable{k}"
                    k += 1
                if src.exists():
                    os.replace(src, dst)
                    note = f" moved to {dst.name};"
            _say(f"checkpoint step {step} in {self.dir} is unreadable ({msg});{note} falling back to step {used}.")
        if set_aside:
            self.mgr.reload()

    def clear(self) -> list[int]:
        steps = self.steps()
        for s in steps:
            self.mgr.delete(s)
        self.mgr.reload()
        return steps

    def close(self):
        self.mgr.wait_until_finished()
        self.mgr.close()
