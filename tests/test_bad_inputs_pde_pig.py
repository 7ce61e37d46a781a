"""Bad inputs to the public entry points of sciml.pde and sciml.pig: each raises a ValueError/TypeError that names
the offending argument, before anything compiles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import pde, pig

BOX1 = pde.Box([0.0], [1.0])
BOX2 = pde.Box([0.0, 0.0], [1.0, 1.0])
ZERO = lambda x: 0.0  # noqa: E731
LAP1 = lambda u, x: u.d2(0)  # noqa: E731


def _p1(**kw):
    return pde.Problem(BOX1, LAP1, [pde.Dirichlet(ZERO)], **kw)


def _pk():
    return pde.Problem(BOX1, lambda u, x, p: p["k"] * u.d2(0) - 1.0, [pde.Dirichlet(ZERO)], params={"k": 1.0})


OBS_OK = (np.linspace(0, 1, 10)[:, None], np.zeros(10))

CASES = [
    # --- pde.Box / Ball / Polygon / set operations
    ("box_empty", lambda: pde.Box([], []), ValueError, "lower"),
    ("box_len_mismatch", lambda: pde.Box([0.0, 0.0], [1.0]), ValueError, "upper"),
    ("box_upper_le_lower", lambda: pde.Box([1.0], [0.0]), ValueError, "upper"),
    ("box_nan", lambda: pde.Box([np.nan], [1.0]), ValueError, "lower"),
    ("box_names", lambda: pde.Box([0.0], [1.0], names=("x", "y")), ValueError, "names"),
    ("ball_radius_zero", lambda: pde.Ball([0.0, 0.0], 0.0), ValueError, "radius"),
    ("ball_radius_negative", lambda: pde.Ball([0.0, 0.0], -1.0), ValueError, "radius"),
    ("ball_center_empty", lambda: pde.Ball([], 1.0), ValueError, "center"),
    ("polygon_two_vertices", lambda: pde.Polygon([[0, 0], [1, 0]]), ValueError, "vertices"),
    ("polygon_3d", lambda: pde.Polygon([[0, 0, 0], [1, 0, 0], [0, 1, 0]]), ValueError, "vertices"),
    ("polygon_self_intersecting", lambda: pde.Polygon([[0, 0], [1, 1], [1, 0], [0, 1]]), ValueError, "vertices"),
    ("polygon_zero_area", lambda: pde.Polygon([[0, 0], [1, 1], [2, 2]]), ValueError, "vertices"),
    ("csg_dim_mismatch", lambda: pde.Ball([0.0, 0.0], 1.0) - pde.Box([0.0], [1.0]), ValueError, "dim"),
    ("csg_not_domain", lambda: pde.union(BOX2, "disc"), TypeError, "domain"),
    # --- conditions
    ("dirichlet_g_not_callable", lambda: pde.Dirichlet(1.0), TypeError, "g"),
    ("dirichlet_bad_faces_str", lambda: pde.Dirichlet(ZERO, faces="left"), ValueError, "faces"),
    ("dirichlet_bad_side", lambda: pde.Dirichlet(ZERO, faces=[(0, 2)]), ValueError, "faces"),
    ("dirichlet_empty_faces", lambda: pde.Dirichlet(ZERO, faces=[]), ValueError, "faces"),
    ("dirichlet_where_not_callable", lambda: pde.Dirichlet(ZERO, where=True), TypeError, "where"),
    ("dirichlet_negative_field", lambda: pde.Dirichlet(ZERO, field=-1), ValueError, "field"),
    ("neumann_g_not_callable", lambda: pde.Neumann("g"), TypeError, "g"),
    ("robin_both_zero", lambda: pde.Robin(0.0, 0.0, ZERO), ValueError, "alpha"),
    ("robin_alpha_not_real", lambda: pde.Robin("a", 1.0, ZERO), TypeError, "alpha"),
    ("periodic_negative_axis", lambda: pde.Periodic(-1), ValueError, "axis"),
    ("face_axis_out_of_range", lambda: pde.Problem(BOX1, LAP1, [pde.Dirichlet(ZERO, faces=[(3, 0)])]),
     ValueError, "faces"),
    ("faces_on_ball", lambda: pde.Problem(pde.Ball([0.0, 0.0], 1.0), lambda u, x: u.d2(0) + u.d2(1),
                                          [pde.Dirichlet(ZERO, faces=[(0, 0)])]), ValueError, "faces"),
    ("periodic_axis_out_of_range", lambda: pde.Problem(BOX1, LAP1, [pde.Periodic(2)]), ValueError, "axis"),
    # --- pde.Problem
    ("residual_not_callable", lambda: pde.Problem(BOX1, 3.0, []), TypeError, "residual"),
    ("residual_vector_for_scalar", lambda: pde.Problem(BOX1, lambda u, x: jnp.ones(3) * u.value, []),
     ValueError, "residual"),
    ("residual_missing_axis", lambda: pde.Problem(BOX1, lambda u, x: u.d(5), []), ValueError, "residual"),
    ("residual_missing_axis_d2", lambda: pde.Problem(BOX2, lambda u, x: u.d2(0, 4), []), ValueError, "residual"),
    ("domain_not_domain", lambda: pde.Problem([0, 1], LAP1, []), TypeError, "domain"),
    ("conditions_wrong_type", lambda: pde.Problem(BOX1, LAP1, [ZERO]), TypeError, "conditions"),
    ("params_not_dict", lambda: pde.Problem(BOX1, LAP1, [], params=[1.0]), TypeError, "params"),
    ("n_fields_zero", lambda: pde.Problem(BOX1, LAP1, [], n_fields=0), ValueError, "n_fields"),
    ("condition_field_too_big", lambda: pde.Problem(BOX1, LAP1, [pde.Dirichlet(ZERO, field=1)]), ValueError,
     "field"),
    ("time_axis_out_of_range", lambda: pde.Problem(BOX1, LAP1, [], time_axis=1), ValueError, "time_axis"),
    ("initial_without_time_axis", lambda: pde.Problem(BOX1, LAP1, [pde.Initial(ZERO)]), ValueError, "time_axis"),
    ("exact_not_callable", lambda: pde.Problem(BOX1, LAP1, [], exact=1.0), TypeError, "exact"),
    ("name_not_str", lambda: pde.Problem(BOX1, LAP1, [], name=3), TypeError, "name"),
    ("residual_at_bad_x", lambda: _p1().residual_at(lambda x: x[0], jnp.ones((3, 2))), ValueError, "x"),
    ("sample_interior_n_zero", lambda: BOX2.sample_interior(None, 0), (ValueError, TypeError), "n"),
    # --- pig
    ("train_problem_not_problem", lambda: pig.train("poisson"), TypeError, "problem"),
    ("train_n_gaussians_zero", lambda: pig.train(_p1(), n_gaussians=0), ValueError, "n_gaussians"),
    ("train_steps_zero", lambda: pig.train(_p1(), steps=0), ValueError, "steps"),
    ("train_steps_float", lambda: pig.train(_p1(), steps=1.5), TypeError, "steps"),
    ("train_learning_rate_negative", lambda: pig.train(_p1(), learning_rate=-1.0), ValueError, "learning_rate"),
    ("train_unknown_option", lambda: pig.train(_p1(), learnig_rate=1e-3), TypeError, "learnig_rate"),
    ("train_sampler_wrong_type", lambda: pig.train(_p1(), sampler={"n": 3}), TypeError, "sampler"),
    ("train_weights_wrong_type", lambda: pig.train(_p1(), weights=1.0), TypeError, "weights"),
    ("train_lbfgs_wrong_type", lambda: pig.train(_p1(), lbfgs=10), TypeError, "lbfgs"),
    ("train_optimizer_wrong_type", lambda: pig.train(_p1(), optimizer="adam"), TypeError, "optimizer"),
    ("train_time_limit_negative", lambda: pig.train(_p1(), time_limit=-1.0), ValueError, "time_limit"),
    ("train_obs_not_pair", lambda: pig.train(_p1(), observations=np.zeros(3)), TypeError, "observations"),
    ("train_obs_x_shape", lambda: pig.train(_p1(), observations=(np.zeros((10, 2)), np.zeros(10))), ValueError,
     "observations"),
    ("train_obs_u_shape", lambda: pig.train(_p1(), observations=(np.zeros((10, 1)), np.zeros(9))), ValueError,
     "observations"),
    ("train_obs_nan", lambda: pig.train(_p1(), observations=(np.zeros((2, 1)), np.array([0.0, np.nan]))),
     ValueError, "observations"),
    ("train_infer_missing", lambda: pig.train(_pk(), observations=OBS_OK, infer=("c",)), ValueError, "infer"),
    ("train_infer_no_obs", lambda: pig.train(_pk(), infer=("k",)), ValueError, "observations"),
    ("train_infer_no_params_residual", lambda: pig.train(_p1(params={"k": 1.0}), observations=OBS_OK,
                                                          infer=("k",)), ValueError, "infer"),
    ("train_separable_non_box", lambda: pig.train(
        pde.Problem(pde.Ball([0.0, 0.0], 1.0), lambda u, x: u.d2(0) + u.d2(1), [pde.Dirichlet(ZERO)]),
        separable=True), ValueError, "separable"),
    ("train_system_wrong_model", lambda: pig.train(
        pde.Problem(BOX1, lambda u, x: jnp.stack([u[0].d2(0), u[1].d2(0)]), [], n_fields=2),
        model=pig.PIG([0.0], [1.0], 8, key=jax.random.key(0))), ValueError, "model"),
    ("mlp_width_zero", lambda: pig.train_mlp_pinn(_p1(), width=0), ValueError, "width"),
    ("mlp_steps_zero", lambda: pig.train_mlp_pinn(_p1(), steps=0), ValueError, "steps"),
    ("sampler_n_collocation_zero", lambda: pig.Sampler(n_collocation=0), ValueError, "n_collocation"),
    ("sampler_resample_zero", lambda: pig.Sampler(resample_every=0), ValueError, "resample_every"),
    ("weights_negative", lambda: pig.LossWeights(residual=-1.0), ValueError, "residual"),
    ("weights_bad_balance", lambda: pig.LossWeights(balance="grad"), ValueError, "balance"),
    ("lbfgs_steps_negative", lambda: pig.LBFGS(steps=-1), ValueError, "steps"),
    ("lbfgs_memory_zero", lambda: pig.LBFGS(memory=0), ValueError, "memory"),
    ("condition_weights_len", lambda: pig.train(_p1(), weights=pig.LossWeights(conditions=(1.0, 2.0, 3.0))),
     ValueError, "conditions"),
]


@pytest.mark.parametrize("make, exc, word", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(make, exc, word):
    with pytest.raises(exc) as info:
        make()
    assert word.lower() in str(info.value).lower(), str(info.value)


MORE = [
    ("train_chunk_size_zero", lambda: pig.train(_p1(), chunk_size=0), ValueError, "chunk_size"),
    ("train_checkpoint_dir_int", lambda: pig.train(_p1(), checkpoint_dir=3), TypeError, "checkpoint_dir"),
    ("train_dtype_int", lambda: pig.train(_p1(), dtype=jnp.int32), ValueError, "dtype"),
    ("train_reference_mismatch", lambda: pig.train(_p1(), reference=(np.zeros((5, 1)), np.zeros(4))), ValueError,
     "reference"),
]


@pytest.mark.parametrize("make, exc, word", [c[1:] for c in MORE], ids=[c[0] for c in MORE])
def test_bad_option(make, exc, word):
    with pytest.raises(exc) as info:
        make()
    assert word.lower() in str(info.value).lower(), str(info.value)
