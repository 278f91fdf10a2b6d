"""One table of the tolerances every reference and contract test uses, with the reason for each.

``atol``/``rtol`` follow ``numpy.testing.assert_allclose``; ``scale_rtol`` is relative to the largest
absolute value of the compared vector (``|a − b| ≤ scale_rtol · max|b|``). ``spearman`` is a minimum rank
correlation. Change a number here only with the reason next to it.
"""

from __future__ import annotations

# ------------------------------------------------------------------ reference tests (tests/test_references.py)
REFERENCE: dict[str, dict[str, float]] = {
    # exact leave-one-out vs a brute-force loop of scikit-learn refits at tol=1e-12 (newton-cholesky);
    # values are 1e-5..1e-2, the refits themselves agree with the exact optimum to ~1e-9 in parameters
    "loo": {"atol": 1e-7},
    # ridge is solved in closed form by both sides
    "loo_ridge": {"atol": 1e-10},
    # influence vs c w_i ∇L_validᵀ H⁻¹ g_i with H by central differences of the gradient (step 1e-5)
    "influence": {"scale_rtol": 1e-6},
    "influence_spearman": {"spearman": 0.95},
    # newton_loo vs per-sample dense solves of the explicitly downdated Hessian H_{-i}
    "newton_loo": {"scale_rtol": 1e-8},
    "newton_loo_spearman": {"spearman": 0.99},
    # one Newton step is exact for a quadratic objective: ridge newton_loo == exact loo
    "newton_loo_ridge": {"scale_rtol": 1e-10},
    # closed-form KNN-Shapley vs enumeration of all 2^n coalitions (n ≤ 8): pure floating-point round-off
    "knn_shapley": {"atol": 1e-12},
    # vs pyDVL 0.10.0's stored values (benchmarks/peers/knn_reference.npz)
    "knn_shapley_pydvl": {"atol": 1e-9},
    # explicit numpy formulas of the same quantities: round-off only
    "tracin": {"scale_rtol": 1e-12},
    "grad_norm": {"scale_rtol": 1e-12},
    "el2n": {"scale_rtol": 1e-12},
    "self_loss": {"scale_rtol": 1e-12},
    "margin": {"scale_rtol": 1e-12},
    # data_oob vs scikit-learn refits with sample_weight = bootstrap counts (newton-cholesky, tol=1e-12)
    "data_oob": {"atol": 1e-6},
}

# ------------------------------------------------------------------ contract suite (tests/test_contract.py)
CONTRACT: dict[str, dict[str, float]] = {
    # permuting the training rows permutes the values (deterministic methods)
    "permutation": {"scale_rtol": 1e-9},
    # weight 2 on a row == the row duplicated, for every other row's value, with the model at the exact
    # optimum of the weighted objective (== the duplicated one); loo iterates to its own tol=1e-10
    # (observed ~1e-15 relative)
    "duplicate": {"scale_rtol": 1e-9},
}

# ------------------------------------------------------------------ linear adapter (tests/test_linear_model.py)
ADAPTER: dict[str, dict[str, float]] = {
    # model.optimum vs scikit-learn refit at tol=1e-12 (parameters)
    "optimum_vs_sklearn": {"atol": 1e-6},
    # objective_gradient vs central differences of objective_value (step 1e-6)
    "gradient_fd": {"scale_rtol": 1e-6},
    # hessian vs central differences of objective_gradient (step 1e-6)
    "hessian_fd": {"scale_rtol": 1e-6},
    # optimum with weight 2 vs duplicated row; sparse vs dense: both Newton to 1e-12
    "optimum_exact": {"atol": 1e-9},
}

# ------------------------------------------------------------------ objectives (tests/test_objectives.py)
OBJECTIVE: dict[str, dict[str, float]] = {
    # score-space gradient / hessian vs central differences of the loss / gradient (step 1e-6)
    "fd": {"atol": 1e-6, "rtol": 1e-6},
    # hessian vs second differences of the loss (step 1e-4: round-off ~ eps·ℓ/h² ≈ 1e-8)
    "fd2": {"atol": 1e-6, "rtol": 1e-6},
}


def close(actual, expected, tol: dict[str, float]) -> None:
    """Assert ``actual`` ≈ ``expected`` under one entry of the tables above."""
    import numpy as np

    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if "scale_rtol" in tol:
        scale = max(float(np.max(np.abs(expected))), 1e-300)
        err = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
        assert err <= tol["scale_rtol"] * scale, f"max abs error {err:.3e} > {tol['scale_rtol']:.0e} x scale {scale:.3e}"
    else:
        np.testing.assert_allclose(actual, expected, rtol=tol.get("rtol", 0.0), atol=tol.get("atol", 0.0))
