"""The written-out MLS-MPM substep of sciml.giorom against a plain einsum / trigonometric reference."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import giorom
from sciml.giorom import _mpm


def _reference_substep(material, cfg, gravity, state):
    """The textbook form of `_mpm._substep`: einsums over the stacked 3x3 stencil, arctan2 rotations."""
    x, v, C, F = state
    n, dt = cfg.n_grid, cfg.dt
    B = x.shape[0]
    dx, inv_dx = 1.0 / n, float(n)
    p_vol = (0.5 * dx) ** 2
    p_mass = p_vol * cfg.density
    mu, lam = _mpm._lame(cfg)
    eye = jnp.eye(2, dtype=x.dtype)

    def rot(c, s):
        return jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)

    theta = jnp.arctan2(F[..., 1, 0] - F[..., 0, 1], F[..., 0, 0] + F[..., 1, 1])
    R = rot(jnp.cos(theta), jnp.sin(theta))
    J = jnp.linalg.det(F)
    if material == "water":
        tau = (lam * J * (J - 1))[..., None, None] * eye
        F = jnp.sqrt(jnp.maximum(J, 1e-6))[..., None, None] * eye
    elif material == "jelly":
        tau = 2 * mu * (F - R) @ jnp.swapaxes(F, -1, -2) + (lam * J * (J - 1))[..., None, None] * eye
    else:
        S = jnp.swapaxes(R, -1, -2) @ F
        p, q, r = S[..., 0, 0], 0.5 * (S[..., 0, 1] + S[..., 1, 0]), S[..., 1, 1]
        phi = 0.5 * jnp.arctan2(2 * q, p - r)
        mid, rad = 0.5 * (p + r), jnp.hypot(0.5 * (p - r), q)
        V = rot(jnp.cos(phi), jnp.sin(phi))
        U = R @ V
        eps = jnp.log(jnp.maximum(jnp.stack([mid + rad, mid - rad], -1), 1e-4))
        tr = eps.sum(-1, keepdims=True)
        dev = eps - tr / 2
        dev_norm = jnp.linalg.norm(dev, axis=-1, keepdims=True)
        sin_phi = math.sin(math.radians(cfg.friction_angle))
        alpha = math.sqrt(2 / 3) * 2 * sin_phi / (3 - sin_phi)
        dgamma = dev_norm + (2 * lam + 2 * mu) / (2 * mu) * tr * alpha
        proj = eps - dgamma * dev / jnp.maximum(dev_norm, 1e-12)
        eps = jnp.where(tr >= 0, 0.0, jnp.where(dgamma <= 0, eps, proj))
        F = U @ (jnp.exp(eps)[..., :, None] * jnp.swapaxes(V, -1, -2))
        tau_diag = 2 * mu * eps + lam * eps.sum(-1, keepdims=True)
        tau = U @ (tau_diag[..., :, None] * jnp.swapaxes(U, -1, -2))
    affine = (-dt * p_vol * 4 * inv_dx * inv_dx) * tau + p_mass * C

    base = jnp.floor(x * inv_dx - 0.5).astype(jnp.int32)
    fx = x * inv_dx - base
    w = jnp.stack([0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2], 0)
    offs = np.array([(i, j) for i in range(3) for j in range(3)], dtype=np.int32)
    weight = w[offs[:, 0], ..., 0] * w[offs[:, 1], ..., 1]
    dpos = (jnp.asarray(offs, x.dtype)[:, None, None, :] - fx[None]) * dx
    node = jnp.clip(base[None] + offs[:, None, None, :], 0, n - 1)
    flat = (jnp.arange(B)[None, :, None] * (n * n) + node[..., 0] * n + node[..., 1]).reshape(-1)
    mom = p_mass * v[None] + jnp.einsum("bnij,kbnj->kbni", affine, dpos)
    contrib = weight[..., None] * jnp.concatenate([mom, jnp.full(mom.shape[:-1] + (1,), p_mass, x.dtype)], -1)
    grid = jnp.zeros((B * n * n, 3), x.dtype).at[flat].add(contrib.reshape(-1, 3))
    gm, gv = grid[:, 2], grid[:, :2]
    gv = jnp.where(gm[:, None] > 0, gv / jnp.where(gm > 0, gm, 1.0)[:, None], 0.0) + dt * gravity
    cell = jnp.arange(B * n * n) % (n * n)
    gi, gj, b = cell // n, cell % n, cfg.bound
    vx = jnp.where(((gi < b) & (gv[:, 0] < 0)) | ((gi > n - b) & (gv[:, 0] > 0)), 0.0, gv[:, 0])
    vy = jnp.where(((gj < b) & (gv[:, 1] < 0)) | ((gj > n - b) & (gv[:, 1] > 0)), 0.0, gv[:, 1])
    g_at = jnp.stack([vx, vy], -1)[flat].reshape(9, B, -1, 2)
    new_v = jnp.einsum("kbn,kbni->bni", weight, g_at)
    new_C = 4 * inv_dx * inv_dx * jnp.einsum("kbn,kbni,kbnj->bnij", weight, g_at, dpos)
    return x + dt * new_v, new_v, new_C, (eye + dt * new_C) @ F


def _state(B, N, key):
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    x, v = jax.vmap(lambda k: giorom.random_block_scene(k, N, jnp.float64))(jax.random.split(k1, B))
    # clusters in the grid's corners, whose stencils reach past the edge (clipped node indices)
    corners = jnp.array([[0.0, 0.0], [0.0, 0.94], [0.94, 0.0], [0.94, 0.94]])
    edge = (corners[:, None] + 0.06 * jax.random.uniform(k5, (4, 10, 2), jnp.float64)).reshape(-1, 2)
    x = x.at[:, : len(edge)].set(edge)
    v = v + 0.5 * jax.random.normal(k2, v.shape, jnp.float64)
    C = 5.0 * jax.random.normal(k3, x.shape + (2,), jnp.float64)
    F = jnp.eye(2) + 0.2 * jax.random.normal(k4, x.shape + (2,), jnp.float64)
    return x, v, C, F


@pytest.mark.parametrize("material", ["water", "jelly", "sand"])
def test_substep_matches_einsum_reference(material):
    # float64, 5 substeps of 3 scenes on a 16-cell grid with walls 1 cell thick (particles on the grid edge)
    cfg = giorom.MPMConfig(n_grid=16, bound=1, density=1.3)
    g = jnp.asarray(cfg.gravity, jnp.float64)
    state = _state(3, 200, jax.random.key(0))
    assert state[0].dtype == jnp.float64
    steps = []
    for fn in (_mpm._substep, _reference_substep):
        step = functools.partial(fn, material, cfg, g)
        steps.append(jax.jit(lambda s, step=step: jax.lax.fori_loop(0, 5, lambda i, s: step(s), s))(state))
    for got, want in zip(*steps):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * float(jnp.abs(want).max()))


@pytest.mark.parametrize("material", ["water", "jelly", "sand"])
def test_substep_float32_matches_float64_reference(material):
    # float32 state: the written-out substep stays in float32 and agrees with the float64 reference to rounding
    cfg = giorom.MPMConfig(n_grid=16, bound=1)
    state64 = _state(2, 200, jax.random.key(3))
    state32 = tuple(a.astype(jnp.float32) for a in state64)
    got = jax.jit(functools.partial(_mpm._substep, material, cfg, jnp.asarray(cfg.gravity, jnp.float32)))(state32)
    want = _reference_substep(material, cfg, jnp.asarray(cfg.gravity, jnp.float64),
                              tuple(a.astype(jnp.float64) for a in state32))
    for g, w in zip(got, want):
        assert g.dtype == jnp.float32
        np.testing.assert_allclose(g, w, rtol=0, atol=2e-5 * float(jnp.abs(w).max()))


def test_trig_free_rotations_match_arctan2():
    x = jnp.array([1.0, -1.0, 0.0, 0.0, 0.0, -0.0, 0.0, -0.0, 3.0, -3.0, 1e-20, 2.0, -2.0])
    y = jnp.array([0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -0.0, -0.0, 4.0, -4.0, -1.0, 1e-9, 1e-9])
    x = jnp.concatenate([x, jax.random.normal(jax.random.key(1), (1000,), jnp.float64)])
    y = jnp.concatenate([y, jax.random.normal(jax.random.key(2), (1000,), jnp.float64) * jnp.logspace(-9, 1, 1000)])
    theta = jnp.arctan2(y, x)
    c, s = _mpm._rotation_cs(x, y)
    np.testing.assert_allclose(c, jnp.cos(theta), atol=1e-15)
    np.testing.assert_allclose(s, jnp.sin(theta), atol=1e-15)
    hc, hs = _mpm._half_angle_cs(x, y)
    np.testing.assert_allclose(hc, jnp.cos(theta / 2), atol=1e-15)
    np.testing.assert_allclose(hs, jnp.sin(theta / 2), atol=1e-15)
    assert np.array_equal(np.signbit(hs[:8]), np.signbit(jnp.sin(theta[:8] / 2)))  # signed zeros like arctan2
