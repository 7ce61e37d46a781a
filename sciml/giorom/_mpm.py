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


def polar_rotation_2x2(F):
    """Rotation R of the polar decomposition F = R S (closed form, det F > 0).

    **Arguments:**

    - `F`: deformation gradients, shape `(..., 2, 2)`, with `det F > 0`.

    **Returns:** the rotations `R`, shape `(..., 2, 2)`. **Example:** `R = giorom.polar_rotation_2x2(F)`
    """
    theta = jnp.arctan2(F[..., 1, 0] - F[..., 0, 1], F[..., 0, 0] + F[..., 1, 1])
    c, s = jnp.cos(theta), jnp.sin(theta)
    return jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)


def svd_2x2(F):
    """Closed-form 2x2 SVD F = U diag(sig) V^T via the polar decomposition and a symmetric eigenproblem.

    **Arguments:**

    - `F`: the matrices, shape `(..., 2, 2)`.

    **Returns:** `(U, sig, V)` with `U`, `V` of shape `(..., 2, 2)` and `sig` of shape `(..., 2)`.

    **Example:** `U, s, V = giorom.svd_2x2(F)`
    """
    R = polar_rotation_2x2(F)
    S = jnp.swapaxes(R, -1, -2) @ F
    p, q, r = S[..., 0, 0], 0.5 * (S[..., 0, 1] + S[..., 1, 0]), S[..., 1, 1]
    phi = 0.5 * jnp.arctan2(2 * q, p - r)
    mid, rad = 0.5 * (p + r), jnp.hypot(0.5 * (p - r), q)
    sig = jnp.stack([mid + rad, mid - rad], -1)
    c, s = jnp.cos(phi), jnp.sin(phi)
    V = jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)
    U = R @ V
    return U, sig, V


def _lame(cfg: MPMConfig):
    E, nu = cfg.youngs, cfg.poisson
    return E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))


def _kirchhoff(material: str, F, cfg: MPMConfig):
    """Return (Kirchhoff stress tau, updated F) for a batch of deformation gradients."""
    mu, lam = _lame(cfg)
    eye = jnp.eye(2, dtype=F.dtype)
    if material == "water":
        J = jnp.linalg.det(F)
        tau = (lam * J * (J - 1))[..., None, None] * eye
        F = jnp.sqrt(jnp.maximum(J, 1e-6))[..., None, None] * eye  # keep volume only
        return tau, F
    if material == "jelly":
        J = jnp.linalg.det(F)
        R = polar_rotation_2x2(F)
        tau = 2 * mu * (F - R) @ jnp.swapaxes(F, -1, -2) + (lam * J * (J - 1))[..., None, None] * eye
        return tau, F
    if material == "sand":
        U, sig, V = svd_2x2(F)
        sig = jnp.maximum(sig, 1e-4)
        eps = jnp.log(sig)
        tr = eps.sum(-1, keepdims=True)
        dev = eps - tr / 2
        dev_norm = jnp.linalg.norm(dev, axis=-1, keepdims=True)
        sin_phi = math.sin(math.radians(cfg.friction_angle))
        alpha = math.sqrt(2 / 3) * 2 * sin_phi / (3 - sin_phi)
        dgamma = dev_norm + (2 * lam + 2 * mu) / (2 * mu) * tr * alpha
        proj = eps - dgamma * dev / jnp.maximum(dev_norm, 1e-12)
        eps_new = jnp.where(tr >= 0, 0.0, jnp.where(dgamma <= 0, eps, proj))
        sig_new = jnp.exp(eps_new)
        F = U @ (sig_new[..., :, None] * jnp.swapaxes(V, -1, -2))
        tau_diag = 2 * mu * eps_new + lam * eps_new.sum(-1, keepdims=True)
        tau = U @ (tau_diag[..., :, None] * jnp.swapaxes(U, -1, -2))
        return tau, F
    raise ValueError(f"unknown material {material!r}; choose one of {MATERIALS}")


def _substep(material: str, cfg: MPMConfig, gravity, state):
    # state arrays carry a leading batch axis B: x, v (B, N, 2); C, F (B, N, 2, 2).
    x, v, C, F = state
    n, dt = cfg.n_grid, cfg.dt
    B = x.shape[0]
    dx = 1.0 / n
    inv_dx = float(n)
    p_vol = (0.5 * dx) ** 2
    p_mass = p_vol * cfg.density
    dtype = x.dtype

    tau, F = _kirchhoff(material, F, cfg)
    stress = (-dt * p_vol * 4 * inv_dx * inv_dx) * tau
    affine = stress + p_mass * C  # (B, N, 2, 2)

    xg = x * inv_dx
    base = jnp.floor(xg - 0.5).astype(jnp.int32)
    fx = xg - base
    w = jnp.stack([0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2], 0)  # (3, B, N, 2)

    offs = np.array([(i, j) for i in range(3) for j in range(3)], dtype=np.int32)  # (9, 2)
    weight = w[offs[:, 0], ..., 0] * w[offs[:, 1], ..., 1]  # (9, B, N)
    dpos = (jnp.asarray(offs, dtype)[:, None, None, :] - fx[None]) * dx  # (9, B, N, 2)
    node = jnp.clip(base[None] + offs[:, None, None, :], 0, n - 1)  # (9, B, N, 2)
    flat = (jnp.arange(B, dtype=jnp.int32)[None, :, None] * (n * n) + node[..., 0] * n + node[..., 1]).reshape(-1)

    mom = p_mass * v[None] + jnp.einsum("bnij,kbnj->kbni", affine, dpos)  # (9, B, N, 2)
    contrib = weight[..., None] * jnp.concatenate([mom, jnp.full(mom.shape[:-1] + (1,), p_mass, dtype)], -1)
    grid = jnp.zeros((B * n * n, 3), dtype).at[flat].add(contrib.reshape(-1, 3))  # momentum x, y and mass
    gm, gv = grid[:, 2], grid[:, :2]

    gv = jnp.where(gm[:, None] > 0, gv / jnp.where(gm > 0, gm, 1.0)[:, None], 0.0)
    gv = gv + dt * gravity
    cell = jnp.arange(B * n * n) % (n * n)
    gi, gj = cell // n, cell % n
    b = cfg.bound
    vx = jnp.where(((gi < b) & (gv[:, 0] < 0)) | ((gi > n - b) & (gv[:, 0] > 0)), 0.0, gv[:, 0])
    vy = jnp.where(((gj < b) & (gv[:, 1] < 0)) | ((gj > n - b) & (gv[:, 1] > 0)), 0.0, gv[:, 1])
    gv = jnp.stack([vx, vy], -1)

    g_at = gv[flat].reshape(9, B, -1, 2)
    new_v = jnp.einsum("kbn,kbni->bni", weight, g_at)
    new_C = 4 * inv_dx * inv_dx * jnp.einsum("kbn,kbni,kbnj->bnij", weight, g_at, dpos)
    x = x + dt * new_v
    eye = jnp.eye(2, dtype=dtype)
    F = (eye + dt * new_C) @ F
    return x, new_v, new_C, F


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
