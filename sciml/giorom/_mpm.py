"""2D MLS-MPM simulator (quadratic B-splines, APIC) for water, jelly and sand.

Implemented from the MLS-MPM equations (Hu et al. 2018): particle-to-grid transfer of
APIC momentum plus the MLS stress term, grid update with gravity and free-slip walls,
grid-to-particle gather of velocity and affine matrix C, and F <- (I + dt C) F.
Constitutive models: water (J-based equation of state), jelly (fixed corotated with a
closed-form 2x2 polar decomposition) and sand (Hencky elasticity with Drucker-Prager
return mapping in log-strain space, Klar et al. 2016, closed-form 2x2 SVD).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_choice, check_finite, check_int, check_positive, check_real

MATERIALS = ("water", "sand", "jelly")
# GNS particle-type ids (DeepMind learning_to_simulate): 5 water, 6 sand, 7 goop/elastic.
PARTICLE_TYPE = {"water": 5, "sand": 6, "jelly": 7}


@dataclasses.dataclass(frozen=True)
class MPMConfig:
    """Numerical parameters of the simulator (defaults: the calibrated 2D setup of the spec).

    **Fields:**

    - `n_grid`: grid cells per axis of the unit box (int >= 4; default 64).
    - `dt`: the substep in seconds (> 0; default 1e-4).
    - `substeps`: substeps per stored frame (int >= 1; default 25), so a frame is `dt * substeps` seconds.
    - `gravity`: the default gravity `(gx, gy)`, two finite numbers (default `(0, -49)`).
    - `youngs`: Young's modulus (> 0; default 3e3).
    - `poisson`: Poisson's ratio in [0, 0.5) (default 0.2).
    - `density`: the material density (> 0; default 1.0); a particle carries a quarter cell of it.
    - `bound`: the free-slip wall thickness in cells (int in [1, (n_grid - 2) // 2]; default 3).
    - `friction_angle`: the Drucker-Prager friction angle in degrees, in (0, 90) (default 25; sand only).

    **Example:** `cfg = giorom.MPMConfig(n_grid=32, substeps=10)`
    """

    n_grid: int = 64
    dt: float = 1e-4
    substeps: int = 25
    gravity: tuple[float, float] = (0.0, -5 * 9.8)
    youngs: float = 3e3
    poisson: float = 0.2
    density: float = 1.0
    bound: int = 3  # free-slip wall thickness in cells
    friction_angle: float = 25.0  # degrees, sand only

    def __post_init__(self):
        n = check_int("config.n_grid", self.n_grid, minimum=4)
        check_int("config.bound", self.bound, minimum=1, maximum=(n - 2) // 2)
        check_positive("config.dt", self.dt)
        check_int("config.substeps", self.substeps, minimum=1)
        if np.shape(self.gravity) != (2,) or not np.all(np.isfinite(np.asarray(self.gravity, float))):
            raise ValueError(f"`config.gravity` must be two finite numbers, got {self.gravity!r}.")
        check_positive("config.youngs", self.youngs)
        check_real("config.poisson", self.poisson, minimum=0.0, maximum=0.5, strict_max=True)
        check_positive("config.density", self.density)
        check_real("config.friction_angle", self.friction_angle, minimum=0.0, maximum=90.0, strict_min=True,
                   strict_max=True)

    @property
    def frame_dt(self) -> float:
        return self.dt * self.substeps

    @property
    def walls(self) -> tuple:
        """Where the free-slip walls stop the particles, per dimension: grid nodes below `bound` and above
        `n_grid - bound` have their outward velocity zeroed, so particles come to rest at node `bound - 1`
        (measured extremes 0.0311 / 0.9690 for 64 cells, bound 3). The data sets' metadata `bounds` are
        these walls (as in the DeepMind GNS data), so the models' wall-distance features see them."""
        w = (self.bound - 1) / self.n_grid
        return ((w, 1.0 - w), (w, 1.0 - w))


class Trajectory(eqx.Module):
    """One simulated trajectory.

    **Fields:**

    - `positions`: (n_frames, n_particles, 2) positions in the unit box (the simulation dtype, float32 by
      default).
    - `velocities`: (n_frames, n_particles, 2) velocities in physical units (per second).
    - `particle_type`: (n_particles,) int32 GNS type ids (all equal: one material per trajectory).
    - `material`: `"water"`, `"jelly"` or `"sand"` (static).
    - `frame_dt`: the time between stored frames in seconds, `config.dt * config.substeps` (static).
    - `bounds`: the domain box, a `(lo, hi)` pair per dimension (static; default `((0, 1), (0, 1))`).
    """

    positions: jax.Array
    velocities: jax.Array
    particle_type: jax.Array
    material: str = eqx.field(static=True)
    frame_dt: float = eqx.field(static=True)
    bounds: tuple = eqx.field(static=True, default=((0.0, 1.0), (0.0, 1.0)))

    @property
    def n_frames(self) -> int:
        return self.positions.shape[-3]

    @property
    def n_particles(self) -> int:
        return self.positions.shape[-2]


# The 2x2 algebra below is written out per component (one array per matrix entry) instead of as batched `@` /
# `einsum` on (..., 2, 2) arrays, and the rotations are built from their cosine and sine directly instead of
# `cos(arctan2(...))`: on XLA:CPU the tiny batched matmuls lower to unfused dot_generals and `arctan2` runs
# unvectorized at ~20 ns per element, while the written-out forms fuse into elementwise loops. Measured on one
# core for 48,000 deformation gradients (float32), `_kirchhoff`: sand 6.3 -> 0.6 ms, jelly 1.2 -> 0.17 ms.
# The results agree with the trigonometric forms to a few ulps.


def _mat2(a00, a01, a10, a11):
    return jnp.stack([jnp.stack([a00, a01], -1), jnp.stack([a10, a11], -1)], -2)


def _rotation_cs(x, y):
    """cos and sin of arctan2(y, x), with arctan2's conventions at x = y = 0 (angle +-0 or +-pi).

    From the tangent t of the angle or of its complement (|t| <= 1), with 1 / sqrt(1 + t^2) evaluated as
    1 - t^2 / (q (1 + q)), q = sqrt(1 + t^2), so that (c, s) round to unit norm without bias, like cos and sin
    of arctan2. The sand return mapping rebuilds F from these rotations every substep and accumulates any bias:
    its float32 drift from float64 over 25 substeps was ~15x that of arctan2 with x / hypot(x, y), ~2x with
    1 / sqrt(1 + t^2), and equal with this form."""
    swap = jnp.abs(y) > jnp.abs(x)
    zero = (x == 0) & (y == 0)
    t = jnp.where(swap, x, y) / jnp.where(zero, 1.0, jnp.where(swap, y, x))
    q = jnp.sqrt(1 + t * t)
    r = 1 - t * t / (q * (1 + q))  # = 1 / q, rounded without bias for small t
    big = jnp.copysign(r, jnp.where(swap, y, x))  # cos (sin when swapped), with the sign of x (y)
    c, s = jnp.where(swap, t * big, big), jnp.where(swap, big, t * big)
    return jnp.where(zero, jnp.copysign(1.0, x), c), jnp.where(zero, y, s)


def _half_angle_cs(x, y):
    """cos and sin of arctan2(y, x) / 2 (stable half-angle formulas; the half angle is in [-pi/2, pi/2])."""
    c2, s2 = _rotation_cs(x, y)
    big = jnp.sqrt(0.5 * (1 + jnp.abs(c2)))  # the larger of |cos|, |sin| of the half angle
    small = jnp.abs(s2) / (2 * big)  # |sin 2a| / (2 max(|cos a|, |sin a|)) = the smaller one
    return jnp.where(c2 >= 0, big, small), jnp.copysign(jnp.where(c2 >= 0, small, big), s2)


def _polar_cs(f00, f01, f10, f11):
    """cos, sin of the polar rotation R = [[c, -s], [s, c]] of F (angle arctan2(f10 - f01, f00 + f11))."""
    return _rotation_cs(f00 + f11, f10 - f01)


def _svd_2x2_parts(f00, f01, f10, f11):
    """Closed-form SVD per component: returns U's entries, the singular values and V's (cos, sin)."""
    c, s = _polar_cs(f00, f01, f10, f11)
    # S = R^T F (symmetric), diagonalised by V = [[vc, -vs], [vs, vc]] at angle arctan2(2 q, p - r) / 2
    s00, s01 = c * f00 + s * f10, c * f01 + s * f11
    s10, s11 = -s * f00 + c * f10, -s * f01 + c * f11
    p, q, r = s00, 0.5 * (s01 + s10), s11
    vc, vs = _half_angle_cs(p - r, 2 * q)
    mid, rad = 0.5 * (p + r), jnp.hypot(0.5 * (p - r), q)
    u = (c * vc - s * vs, -c * vs - s * vc, s * vc + c * vs, -s * vs + c * vc)  # U = R V
    return u, (mid + rad, mid - rad), (vc, vs)


def polar_rotation_2x2(F):
    """Rotation R of the polar decomposition F = R S (closed form, det F > 0).

    **Arguments:**

    - `F`: deformation gradients, shape `(..., 2, 2)`, with `det F > 0`.

    **Returns:** the rotations `R`, shape `(..., 2, 2)`. **Example:** `R = giorom.polar_rotation_2x2(F)`
    """
    c, s = _polar_cs(F[..., 0, 0], F[..., 0, 1], F[..., 1, 0], F[..., 1, 1])
    return _mat2(c, -s, s, c)


def svd_2x2(F):
    """Closed-form 2x2 SVD F = U diag(sig) V^T via the polar decomposition and a symmetric eigenproblem.

    **Arguments:**

    - `F`: the matrices, shape `(..., 2, 2)`.

    **Returns:** `(U, sig, V)` with `U`, `V` of shape `(..., 2, 2)` and `sig` of shape `(..., 2)`.

    **Example:** `U, s, V = giorom.svd_2x2(F)`
    """
    u, (s0, s1), (vc, vs) = _svd_2x2_parts(F[..., 0, 0], F[..., 0, 1], F[..., 1, 0], F[..., 1, 1])
    return _mat2(*u), jnp.stack([s0, s1], -1), _mat2(vc, -vs, vs, vc)


def _lame(cfg: MPMConfig):
    E, nu = cfg.youngs, cfg.poisson
    return E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))


def _kirchhoff(material: str, F, cfg: MPMConfig):
    """Kirchhoff stress tau and the updated F, both as (f00, f01, f10, f11) tuples of per-particle arrays."""
    mu, lam = _lame(cfg)
    f00, f01, f10, f11 = F
    if material == "water":
        J = f00 * f11 - f01 * f10
        p = lam * J * (J - 1)
        r = jnp.sqrt(jnp.maximum(J, 1e-6))  # keep volume only
        zero = jnp.zeros_like(J)
        return (p, zero, zero, p), (r, zero, zero, r)
    if material == "jelly":
        # fixed corotated: tau = 2 mu (F - R) F^T + lam J (J - 1) I
        J = f00 * f11 - f01 * f10
        c, s = _polar_cs(f00, f01, f10, f11)
        e00, e01, e10, e11 = 2 * mu * (f00 - c), 2 * mu * (f01 + s), 2 * mu * (f10 - s), 2 * mu * (f11 - c)
        p = lam * J * (J - 1)
        tau = (e00 * f00 + e01 * f01 + p, e00 * f10 + e01 * f11, e10 * f00 + e11 * f01, e10 * f10 + e11 * f11 + p)
        return tau, F
    if material == "sand":
        # Hencky elasticity with Drucker-Prager return mapping in log-strain space (Klar et al. 2016)
        (u00, u01, u10, u11), sig, (vc, vs) = _svd_2x2_parts(f00, f01, f10, f11)
        e0, e1 = (jnp.log(jnp.maximum(si, 1e-4)) for si in sig)
        tr = e0 + e1
        d0, d1 = e0 - tr / 2, e1 - tr / 2
        dev_norm = jnp.sqrt(d0 * d0 + d1 * d1)
        sin_phi = math.sin(math.radians(cfg.friction_angle))
        alpha = math.sqrt(2 / 3) * 2 * sin_phi / (3 - sin_phi)
        dgamma = dev_norm + (2 * lam + 2 * mu) / (2 * mu) * tr * alpha
        safe_norm = jnp.maximum(dev_norm, 1e-12)
        n0, n1 = (jnp.where(tr >= 0, 0.0, jnp.where(dgamma <= 0, e, e - dgamma * d / safe_norm))
                  for e, d in ((e0, d0), (e1, d1)))
        g0, g1 = jnp.exp(n0), jnp.exp(n1)
        w00, w01, w10, w11 = g0 * vc, g0 * vs, -g1 * vs, g1 * vc  # diag(exp(eps)) V^T
        F = (u00 * w00 + u01 * w10, u00 * w01 + u01 * w11, u10 * w00 + u11 * w10, u10 * w01 + u11 * w11)
        tr_new = n0 + n1
        k0, k1 = 2 * mu * n0 + lam * tr_new, 2 * mu * n1 + lam * tr_new
        z00, z01, z10, z11 = k0 * u00, k0 * u10, k1 * u01, k1 * u11  # diag(tau) U^T
        tau = (u00 * z00 + u01 * z10, u00 * z01 + u01 * z11, u10 * z00 + u11 * z10, u10 * z01 + u11 * z11)
        return tau, F
    raise ValueError(f"unknown material {material!r}; choose one of {MATERIALS}")


def _substep(material: str, cfg: MPMConfig, gravity, state):
    # state arrays carry a leading batch axis B: x, v (B, N, 2); C, F (B, N, 2, 2).
    #
    # Written for XLA:CPU speed without changing the arithmetic of the transfers (APIC P2G with the MLS stress,
    # grid update, G2P). Measured on one core, B=24, N=2000, n_grid=64, float32: 21-27 ms -> 3.2-3.8 ms per
    # substep (water, jelly, sand).
    # - The particles of all scenes are flattened to one axis (M = B N) and every 2-vector / 2x2 quantity is
    #   kept as separate (M,) component arrays with the contractions summed out by hand. As einsums over the
    #   (9, B, N) stencil, `einsum("bnij,kbnj->kbni", affine, dpos)` took 7.3 ms and
    #   `einsum("kbn,kbni,kbnj->bnij", weight, g_at, dpos)` 6.3 ms (unfused dot_generals); written out, they
    #   are elementwise loops of well under 1 ms.
    # - The 3x3 stencil is walked one node at a time: nine scatter-adds / gathers of M entries, in the same
    #   node-major order as one scatter over the stacked stencil. Elementwise loops whose result is flattened
    #   to (9 M,) for one big scatter or gather ran ~10x slower than the same loops on (M,) arrays.
    # - The walks are `fori_loop`s, not Python loops, so that XLA materializes their operands once (the
    #   per-particle weights and stress, the grid velocities) instead of fusing these cheap producers into
    #   every scatter and gather and recomputing them per stencil entry: 8 -> 4 ms.
    #   (`jax.lax.optimization_barrier` does not stop that fusion on CPU.)
    x, v, C, F = state
    n, dt = cfg.n_grid, cfg.dt
    B, N = x.shape[:2]
    dx = 1.0 / n
    inv_dx = float(n)
    p_vol = (0.5 * dx) ** 2
    p_mass = p_vol * cfg.density
    dtype = x.dtype
    x, v, C, F = x.reshape(-1, 2), v.reshape(-1, 2), C.reshape(-1, 2, 2), F.reshape(-1, 2, 2)

    tau, F = _kirchhoff(material, (F[:, 0, 0], F[:, 0, 1], F[:, 1, 0], F[:, 1, 1]), cfg)
    k_stress = -dt * p_vol * 4 * inv_dx * inv_dx
    a00, a01, a10, a11 = (k_stress * t + p_mass * C[:, i // 2, i % 2] for i, t in enumerate(tau))  # stress + p_mass C

    xg = x * inv_dx
    base = jnp.floor(xg - 0.5).astype(jnp.int32)
    fx = xg - base
    bx, by, fx0, fx1 = base[:, 0], base[:, 1], fx[:, 0], fx[:, 1]
    # quadratic B-spline weights per axis, (3, M)
    wx = jnp.stack([0.5 * (1.5 - fx0) ** 2, 0.75 - (fx0 - 1.0) ** 2, 0.5 * (fx0 - 0.5) ** 2])
    wy = jnp.stack([0.5 * (1.5 - fx1) ** 2, 0.75 - (fx1 - 1.0) ** 2, 0.5 * (fx1 - 0.5) ** 2])
    scene = jax.lax.div(jnp.arange(B * N, dtype=jnp.int32), np.int32(N)) * (n * n)  # flat grid offset
    pvx, pvy = p_mass * v[:, 0], p_mass * v[:, 1]

    def stencil_node(k):
        """Weight, offset dpos = (node - x) and flat grid index of stencil node k = 3 i + j, per particle."""
        i, j = k.astype(jnp.int32) // 3, k.astype(jnp.int32) % 3
        weight = wx[i] * wy[j]
        dpx, dpy = (i.astype(dtype) - fx0) * dx, (j.astype(dtype) - fx1) * dx
        idx = scene + jnp.clip(bx + i, 0, n - 1) * n + jnp.clip(by + j, 0, n - 1)
        return weight, dpx, dpy, idx

    def p2g(k, grid):
        # APIC momentum p_mass v + (stress + p_mass C) dpos, and the mass, weighted
        weight, dpx, dpy, idx = stencil_node(k)
        gmx, gmy, gm = grid
        gmx = gmx.at[idx].add(weight * (pvx + (a00 * dpx + a01 * dpy)))
        gmy = gmy.at[idx].add(weight * (pvy + (a10 * dpx + a11 * dpy)))
        gm = gm.at[idx].add(weight * p_mass)
        return gmx, gmy, gm

    zeros = jnp.zeros((B * n * n,), dtype)
    gmx, gmy, gm = (a.reshape(B, n, n) for a in jax.lax.fori_loop(0, 9, p2g, (zeros, zeros, zeros)))

    # grid update: velocity, gravity, free-slip walls
    inv_m = jnp.where(gm > 0, 1.0 / jnp.where(gm > 0, gm, 1.0), 0.0)
    gvx = jnp.where(gm > 0, gmx * inv_m, 0.0) + dt * gravity[0]
    gvy = jnp.where(gm > 0, gmy * inv_m, 0.0) + dt * gravity[1]
    gi, gj = jnp.arange(n)[:, None], jnp.arange(n)[None, :]
    b = cfg.bound
    gvx = jnp.where(((gi < b) & (gvx < 0)) | ((gi > n - b) & (gvx > 0)), 0.0, gvx).reshape(-1)
    gvy = jnp.where(((gj < b) & (gvy < 0)) | ((gj > n - b) & (gvy > 0)), 0.0, gvy).reshape(-1)

    def g2p(k, acc):
        # velocity sum_k w v_k and the APIC sum_k w v_k dpos_k^T
        weight, dpx, dpy, idx = stencil_node(k)
        wvx, wvy = weight * gvx[idx], weight * gvy[idx]
        vx, vy, c00, c01, c10, c11 = acc
        return vx + wvx, vy + wvy, c00 + wvx * dpx, c01 + wvx * dpy, c10 + wvy * dpx, c11 + wvy * dpy

    zero = jnp.zeros_like(fx0)
    vx, vy, *c = jax.lax.fori_loop(0, 9, g2p, (zero,) * 6)
    c00, c01, c10, c11 = (4 * inv_dx * inv_dx * ci for ci in c)

    # F <- (I + dt C) F
    f00, f01, f10, f11 = F
    g00, g01, g10, g11 = 1 + dt * c00, dt * c01, dt * c10, 1 + dt * c11
    F = _mat2(g00 * f00 + g01 * f10, g00 * f01 + g01 * f11, g10 * f00 + g11 * f10, g10 * f01 + g11 * f11)
    new_v = jnp.stack([vx, vy], -1)
    x = x + dt * new_v
    return (x.reshape(B, N, 2), new_v.reshape(B, N, 2), _mat2(c00, c01, c10, c11).reshape(B, N, 2, 2),
            F.reshape(B, N, 2, 2))


@functools.partial(jax.jit, static_argnames=("material", "n_frames", "cfg"))
def _simulate(x0, v0, gravity, *, material: str, n_frames: int, cfg: MPMConfig):
    """x0, v0: (B, N, 2). Returns positions and velocities (B, n_frames, N, 2)."""
    dtype = x0.dtype
    C0 = jnp.zeros(x0.shape + (2,), dtype)
    F0 = jnp.broadcast_to(jnp.eye(2, dtype=dtype), x0.shape + (2,))
    step = functools.partial(_substep, material, cfg, gravity)

    def frame(state, _):
        state = jax.lax.fori_loop(0, cfg.substeps, lambda i, s: step(s), state)
        return state, (state[0], state[1])

    _, (xs, vs) = jax.lax.scan(frame, (x0, v0, C0, F0), None, length=n_frames - 1)
    xs = jnp.concatenate([x0[None], xs], 0)
    vs = jnp.concatenate([v0[None], vs], 0)
    return jnp.swapaxes(xs, 0, 1), jnp.swapaxes(vs, 0, 1)


def random_block_scene(key, n_particles: int, dtype=jnp.float32):
    """Random block-drop scene: w, h ~ U[0.15, 0.3], bottom edge ~ U[0.08, 0.30], horizontal
    position ~ uniform inside [0.1, 0.9], velocity ~ U([-1.5, 1.5] x [-2, 0]); particles uniform
    in the block. Returns (positions (N, 2), velocities (N, 2)).

    **Arguments:**

    - `key`: a JAX PRNG key for the block and its velocity.
    - `n_particles`: the number of particles `N` (int >= 1).
    - `dtype`: the floating dtype of the result (default float32).

    **Example:** `x, v = giorom.random_block_scene(key, 500)`
    """
    n_particles = check_int("n_particles", n_particles, minimum=1)
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    wh = jax.random.uniform(k1, (2,), dtype, 0.15, 0.3)
    bottom = jax.random.uniform(k2, (), dtype, 0.08, 0.30)
    left = jax.random.uniform(k3, (), dtype, 0.1, 0.9 - wh[0])
    u = jax.random.uniform(k4, (n_particles, 2), dtype)
    x = jnp.stack([left, bottom]) + u * wh
    v0 = jax.random.uniform(k5, (2,), dtype, jnp.array([-1.5, -2.0], dtype), jnp.array([1.5, 0.0], dtype))
    v = jnp.broadcast_to(v0, (n_particles, 2))
    return x, v


def _check_positions(positions, cfg: MPMConfig, walls: bool = True) -> None:
    """Explicit positions: (N >= 1, 2), finite and (with `walls`) inside the free-slip walls `cfg.walls`."""
    if np.ndim(positions) != 2 or np.shape(positions)[1] != 2 or np.shape(positions)[0] < 1:
        raise ValueError(f"`positions` must have shape (n_particles >= 1, 2), got {np.shape(positions)}.")
    check_finite("positions", positions)
    if not walls:
        return
    p = np.asarray(positions, np.float64)
    (lo, hi), _ = cfg.walls
    lo, hi = lo - 0.5 / cfg.n_grid, hi + 0.5 / cfg.n_grid  # half a cell of slack: particles at rest overshoot
    outside = int(np.sum(np.any((p < lo) | (p > hi), axis=1)))
    if outside:
        raise ValueError(f"`positions`: {outside} particles lie outside the box [{lo:.5g}, {hi:.5g}]^2 (the "
                         "free-slip walls config.walls plus half a grid cell).")


def simulate_mpm(
    material: str = "jelly",
    n_particles: int | None = 2000,
    n_frames: int = 100,
    key=None,
    *,
    positions=None,
    velocities=None,
    gravity=None,
    config: MPMConfig | None = None,
    dtype=jnp.float32,
) -> Trajectory:
    """Simulate one 2D MLS-MPM trajectory.

    **Arguments:**
    - `material`: "water", "jelly" or "sand".
    - `n_particles`, `key`: size and seed of a random block-drop scene (used when `positions` is None).
    - `positions`, `velocities`: explicit initial state (N, 2) in the unit box (velocities default 0).
    - `gravity`: (gx, gy), default (0, -49).
    - `n_frames`: stored frames including the initial one; a frame is `config.substeps` steps of `config.dt`.
    - `config`: an [`MPMConfig`][] (default `MPMConfig()`); `dtype`: float dtype of the state.

    **Returns:** a [`Trajectory`][] with `positions` of shape (n_frames, N, 2).

    ```python
    traj = simulate_mpm(material="jelly", n_particles=2000, n_frames=100, key=jax.random.key(0))
    ```
    """
    check_choice("material", material, MATERIALS)
    cfg = config or MPMConfig()
    if not isinstance(cfg, MPMConfig):
        raise TypeError(f"`config` must be an MPMConfig, got {type(cfg).__name__}.")
    n_frames = check_int("n_frames", n_frames, minimum=1)
    if positions is None:
        if key is None:
            raise ValueError("`key`: pass key= for a random scene or positions= for an explicit initial state.")
        n_particles = check_int("n_particles", n_particles, minimum=1)
        positions, v_scene = random_block_scene(key, n_particles, dtype)
        velocities = v_scene if velocities is None else velocities
    else:
        _check_positions(positions, cfg)
    positions = jnp.asarray(positions, dtype)
    if velocities is not None:
        if np.shape(velocities) != tuple(positions.shape):
            raise ValueError(f"`velocities` must have the shape of `positions` {tuple(positions.shape)}, got "
                             f"{np.shape(velocities)}.")
        check_finite("velocities", velocities)
    velocities = jnp.zeros_like(positions) if velocities is None else jnp.asarray(velocities, dtype)
    if gravity is not None:
        if np.shape(gravity) != (2,):
            raise ValueError(f"`gravity` must be (gx, gy), got shape {np.shape(gravity)}.")
        check_finite("gravity", np.asarray(gravity, float))
    g = jnp.asarray(cfg.gravity if gravity is None else gravity, dtype)
    xs, vs = _simulate(positions[None], velocities[None], g, material=material, n_frames=int(n_frames), cfg=cfg)
    xs, vs = xs[0], vs[0]
    ptype = jnp.full((positions.shape[0],), PARTICLE_TYPE[material], jnp.int32)
    return Trajectory(xs, vs, ptype, material, cfg.frame_dt)


def simulate_batch(material: str, keys, n_particles: int, n_frames: int, config: MPMConfig | None = None,
                   dtype=jnp.float32, chunk: int = 32):
    """Simulate random block-drop scenes for a batch of keys (one grid per scene, simulated together).
    Returns numpy positions (B, n_frames, N, 2).

    **Arguments:**

    - `material`: `"water"`, `"jelly"` or `"sand"`.
    - `keys`: one JAX PRNG key per scene (a list or a stacked key array of length B).
    - `n_particles`: particles per scene (int >= 1).
    - `n_frames`: stored frames including the initial one (int >= 1).
    - `config`: an [`MPMConfig`][] (default None: `MPMConfig()`).
    - `dtype`: the floating dtype of the simulation (default float32).
    - `chunk`: scenes simulated together in one vmapped call (int >= 1; default 32; bounds memory).

    **Example:** `pos = giorom.simulate_batch("water", jax.random.split(key, 4), 500, 50)`
    """
    check_choice("material", material, MATERIALS)
    n_particles = check_int("n_particles", n_particles, minimum=1)
    n_frames = check_int("n_frames", n_frames, minimum=1)
    chunk = check_int("chunk", chunk, minimum=1)
    cfg = config or MPMConfig()
    g = jnp.asarray(cfg.gravity, dtype)
    keys = jnp.stack(list(keys)) if isinstance(keys, (list, tuple)) else jnp.asarray(keys)
    out = []
    for i in range(0, keys.shape[0], chunk):
        x0, v0 = jax.vmap(lambda k: random_block_scene(k, n_particles, dtype))(keys[i:i + chunk])
        xs, _ = _simulate(x0, v0, g, material=material, n_frames=int(n_frames), cfg=cfg)
        out.append(np.asarray(xs))
    return np.concatenate(out, 0)


def grid_mass(positions, config: MPMConfig | None = None):
    """Grid mass after particle-to-grid transfer (for conservation checks); shape (n_grid, n_grid).

    **Arguments:**

    - `positions`: particle positions, shape `(N, 2)`, inside the unit box.
    - `config`: an [`MPMConfig`][] (default None: `MPMConfig()`).

    **Example:** `float(giorom.grid_mass(x).sum())  # == N * particle_mass()`
    """
    cfg = config or MPMConfig()
    if not isinstance(positions, jax.core.Tracer):
        _check_positions(positions, cfg, walls=False)
    n = cfg.n_grid
    dx = 1.0 / n
    p_mass = (0.5 * dx) ** 2 * cfg.density
    xg = positions * n
    base = jnp.floor(xg - 0.5).astype(jnp.int32)
    fx = xg - base
    w = jnp.stack([0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2], 0)
    gm = jnp.zeros((n, n), positions.dtype)
    for i in range(3):
        for j in range(3):
            gm = gm.at[base[:, 0] + i, base[:, 1] + j].add(w[i, :, 0] * w[j, :, 1] * p_mass)
    return gm


def particle_mass(config: MPMConfig | None = None) -> float:
    """Mass of one particle (a quarter cell at `density`).

    **Arguments:**

    - `config`: an [`MPMConfig`][] (default None: `MPMConfig()`).

    **Example:** `giorom.particle_mass()`
    """
    cfg = config or MPMConfig()
    return (0.5 / cfg.n_grid) ** 2 * cfg.density
