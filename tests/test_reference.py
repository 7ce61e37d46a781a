"""Method-of-lines reference solutions (sciml.pde._reference): closed forms, refined runs, conventions."""

import jax.numpy as jnp
import numpy as np
import pytest

from sciml import pde
from sciml.pde._reference import _fourier_eval, reference_solution


def test_allen_cahn_uniform_state_matches_logistic_closed_form():
    """A spatially uniform initial state c evolves by u' = g (u - u^3): u^2 = 1 / (1 + (1/c^2 - 1) e^{-2 g t})."""
    base = pde.allen_cahn_1d()
    c, g = 0.3, base.params["reaction"]
    prob = pde.Problem(base.domain, base.residual, [pde.Initial(lambda x: jnp.full((), c, x.dtype)), pde.Periodic(0)],
                       name="allen_cahn_1d", time_axis=1, params=base.params)
    t = np.linspace(0.0, 1.0, 6)
    u = reference_solution(prob, (9,), t, resolution=32)
    exact = 1.0 / np.sqrt(1.0 + (1.0 / c**2 - 1.0) * np.exp(-2 * g * t))
    np.testing.assert_allclose(u, np.broadcast_to(exact[:, None], u.shape), rtol=1e-8)


def test_allen_cahn_converges_under_refinement():
    prob = pde.allen_cahn_1d()
    t = np.asarray([0.0, 0.1, 0.2])
    x = np.linspace(-1, 1, 33)
    u1 = reference_solution(prob, (x,), t, resolution=128, rtol=1e-9, atol=1e-11)
    u2 = reference_solution(prob, (x,), t, resolution=256, rtol=1e-9, atol=1e-11)
    u3 = reference_solution(prob, (x,), t, resolution=512, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(u1[0], x**2 * np.cos(np.pi * x), atol=1e-12)  # the initial condition
    e1, e2 = np.max(np.abs(u1 - u3)), np.max(np.abs(u2 - u3))
    assert e2 < e1 and e2 < 1e-3
    assert u1.shape == (3, 33)


def test_fourier_interpolant_is_exact_for_trig_polynomials():
    n, a, L = 16, -1.0, 2.0
    xs = a + L * np.arange(n) / n
    f = lambda x: np.cos(np.pi * x) + 0.3 * np.sin(3 * np.pi * x) + 0.1 * np.cos(8 * np.pi * x)  # noqa: E731
    xq = np.linspace(-1, 1, 23)
    np.testing.assert_allclose(_fourier_eval(f(xs)[None], a, L, xq)[0], f(xq), atol=1e-12)


def test_nonlinear_diffusion_refined_runs_agree():
    prob = pde.nonlinear_diffusion()
    t = np.asarray([0.0, 0.2])
    g = np.linspace(-1, 1, 9)
    kw = dict(rtol=1e-8, atol=1e-10)
    u_c = reference_solution(prob, (g, g), t, resolution=17, richardson=False, **kw)
    u_f = reference_solution(prob, (g, g), t, resolution=33, richardson=False, **kw)
    u_r = reference_solution(prob, (g, g), t, resolution=17, richardson=True, **kw)  # 17 and 33 nodes
    u_rr = reference_solution(prob, (g, g), t, resolution=33, richardson=True, **kw)  # 33 and 65 nodes
    assert u_c.shape == (2, 9, 9)
    # boundary stays zero; the interior of the initial state is the three-Gaussian bump
    assert np.all(u_f[:, 0, :] == 0) and np.all(u_f[:, :, -1] == 0)
    x0 = np.stack(np.meshgrid(g, g, indexing="ij"), -1)[1:-1, 1:-1].reshape(-1, 2)
    u0 = np.asarray([float(prob.params["u0"](jnp.asarray([p[0], p[1], 0.0]))) for p in x0])
    np.testing.assert_allclose(u_f[0, 1:-1, 1:-1].ravel(), u0, rtol=1e-12)
    # Richardson extrapolation is closer to the refined extrapolation than either plain run
    e_plain = np.max(np.abs(u_f - u_rr))
    e_rich = np.max(np.abs(u_r - u_rr))
    assert e_rich < e_plain < np.max(np.abs(u_c - u_rr))
    assert e_rich < 1e-3


def test_unknown_problem_raises():
    with pytest.raises(ValueError, match="no reference solver"):
        reference_solution(pde.helmholtz_2d(), (4,), np.asarray([0.0]))
