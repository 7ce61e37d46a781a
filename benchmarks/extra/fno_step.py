"""Side-by-side CPU timing of one 1D FNO training step (Adam): sciml.nn.FNO (einsum pointwise layers) vs the
same network with 1x1 `eqx.nn.Conv` pointwise layers (the pre-`sciml.nn` layout), and, when the torch and
neuraloperator packages are importable (run this file with a Python that has them too, or pass
--torch-python), neuraloperator's FNO with the same parameter count. Width 64, 4 layers, 16 modes, 256 points,
batch 32 (the configuration of issue 13). Prints a JSON line per implementation with ms/step (median of rounds).

    python benchmarks/extra/fno_step.py [--rounds 7 --steps 10] [--torch-python /path/to/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

WIDTH, LAYERS, MODES, N, BATCH = 64, 4, 16, 256, 32

# neuraloperator counts n_modes over both signs: n_modes=30 keeps 16 rfft bins, as our modes=16
TORCH_CODE = r"""
import json, sys, time, torch
from neuralop.models import FNO
torch.set_num_threads(1)
rounds, steps = int(sys.argv[1]), int(sys.argv[2])
m = FNO(n_modes=(30,), in_channels=1, out_channels=1, hidden_channels=64, n_layers=4, lifting_channel_ratio=0,
        projection_channel_ratio=2, use_channel_mlp=False, fno_skip="linear", positional_embedding="grid")
n_params = sum(p.numel() * (2 if p.is_complex() else 1) for p in m.parameters())
opt = torch.optim.Adam(m.parameters(), 1e-3)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(32, 1, 256, generator=g), torch.randn(32, 1, 256, generator=g)
def step():
    opt.zero_grad(); loss = ((m(x) - y) ** 2).mean(); loss.backward(); opt.step(); return loss
for _ in range(3): step()
times = []
for _ in range(rounds):
    t = time.perf_counter()
    for _ in range(steps): step()
    times.append((time.perf_counter() - t) / steps)
times.sort()
print(json.dumps({"impl": "neuraloperator FNO (torch %s, 1 thread)" % torch.__version__, "params": n_params,
                  "ms_per_step": 1e3 * times[len(times) // 2]}))
"""


def _jax_times(rounds, steps):
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    from sciml import nn
    from sciml.nn._util import _conv

    key = jax.random.key(0)
    new = nn.FNO(1, 1, ndim=1, width=WIDTH, modes=MODES, n_layers=LAYERS, hidden=128, key=key)

    class ConvFNO(eqx.Module):  # the same weights through 1x1 eqx.nn.Conv layers (sciml before sciml.nn)
        fno: nn.FNO
        convs: tuple

        def __init__(self, fno):
            self.fno = fno
            mk = lambda lin: eqx.tree_at(lambda c: (c.weight, c.bias), _conv(1, lin.in_features, lin.out_features, 1,  # noqa
                                         key), (lin.weight[..., None], lin.bias[:, None]))
            self.convs = tuple(mk(lin) for lin in (fno.lift, *fno.pointwise, *fno.projection))

        def __call__(self, x):
            f = self.fno
            c = iter(self.convs)
            grid = jnp.linspace(0.0, 1.0, x.shape[-1], dtype=x.dtype)[None]
            v = next(c)(jnp.concatenate([x, grid], 0))
            for i, sc in enumerate(f.spectral):
                v = sc(v) + next(c)(v)
                if i < len(f.spectral) - 1:
                    v = jax.nn.gelu(v)
            p1, p2 = next(c), next(c)
            return p2(jax.nn.gelu(p1(v)))

    old = ConvFNO(new)
    kx, ky = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (BATCH, 1, N))
    y = jax.random.normal(ky, (BATCH, 1, N))
    assert float(jnp.max(jnp.abs(jax.vmap(old)(x) - jax.vmap(new)(x)))) < 1e-5
    opt = optax.adam(1e-3)

    def make_step(model):
        params, static = eqx.partition(model, eqx.is_inexact_array)

        @jax.jit
        def step(p, s):
            loss, g = jax.value_and_grad(lambda p: jnp.mean((jax.vmap(eqx.combine(p, static))(x) - y) ** 2))(p)
            u, s = opt.update(g, s, p)
            return optax.apply_updates(p, u), s, loss

        return step, params, opt.init(params)

    runs = {"sciml.nn.FNO (einsum pointwise)": make_step(new), "FNO with eqx.nn.Conv 1x1 (before)": make_step(old)}
    state = {}
    for name, (step, p, s) in runs.items():
        for _ in range(3):
            p, s, loss = step(p, s)
        jax.block_until_ready(loss)
        state[name] = (p, s)
    times = {name: [] for name in runs}
    for _ in range(rounds):  # interleaved rounds: load on a shared machine hits both alike
        for name, (step, _, _) in runs.items():
            p, s = state[name]
            t = time.perf_counter()
            for _ in range(steps):
                p, s, loss = step(p, s)
            jax.block_until_ready(loss)
            times[name].append((time.perf_counter() - t) / steps)
            state[name] = (p, s)
    out = []
    for name, ts in times.items():
        ts.sort()
        out.append({"impl": name, "params": nn.count_params(new), "ms_per_step": 1e3 * ts[len(ts) // 2]})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--torch-python", default=sys.executable, help="a Python with torch and neuraloperator")
    args = ap.parse_args(argv)
    rows = _jax_times(args.rounds, args.steps)
    try:
        res = subprocess.run([args.torch_python, "-c", TORCH_CODE, str(args.rounds), str(args.steps)],
                             capture_output=True, text=True, timeout=1800)
        if res.returncode == 0:
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        else:
            print("neuraloperator run skipped:", res.stderr.strip().splitlines()[-1:], file=sys.stderr)
    except (OSError, subprocess.TimeoutExpired) as e:  # pragma: no cover
        print("neuraloperator run skipped:", e, file=sys.stderr)
    base = rows[0]["ms_per_step"]
    for r in rows:
        r["relative_to_sciml"] = r["ms_per_step"] / base
        print(json.dumps(r))


if __name__ == "__main__":
    main()
