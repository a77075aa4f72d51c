"""SIMD kernels and one SGD step against NumPy references."""

import numpy as np
import pytest

from pyanimf import _core

KERNELS = _core.available_kernels()
# 128 is a multiple of every vector width; 100 and 37 leave a tail.
DIMS = [128, 100, 37, 1]


def reference_update(p, q, g, lr, reg):
    p64, q64 = p.astype(np.float64), q.astype(np.float64)
    return (
        (1 - lr * reg) * p64 + lr * g * q64,
        (1 - lr * reg) * q64 + lr * g * p64,
    )


def test_scalar_kernel_always_available():
    assert KERNELS[-1] == "scalar"


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", DIMS)
def test_dot_matches_numpy(kernel, dim):
    rng = np.random.default_rng(dim)
    a = rng.normal(size=dim).astype(np.float32)
    b = rng.normal(size=dim).astype(np.float32)
    expected = float(a.astype(np.float64) @ b.astype(np.float64))
    assert _core.kernel_dot(kernel, a, b) == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", DIMS)
def test_update_matches_numpy(kernel, dim):
    rng = np.random.default_rng(dim + 1)
    p = rng.normal(size=dim).astype(np.float32)
    q = rng.normal(size=dim).astype(np.float32)
    expected_p, expected_q = reference_update(p, q, g=0.7, lr=0.05, reg=0.1)
    _core.kernel_update(kernel, p, q, 0.7, 0.05, 0.1)
    np.testing.assert_allclose(p, expected_p, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(q, expected_q, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel", KERNELS)
def test_simd_kernels_agree_with_scalar(kernel):
    rng = np.random.default_rng(7)
    for dim in range(1, 70):
        a = rng.normal(size=dim).astype(np.float32)
        b = rng.normal(size=dim).astype(np.float32)
        assert _core.kernel_dot(kernel, a, b) == pytest.approx(
            _core.kernel_dot("scalar", a, b), rel=1e-5, abs=1e-5
        )


def test_unknown_kernel_rejected():
    a = np.zeros(4, dtype=np.float32)
    with pytest.raises(ValueError, match="kernel: expected one of auto.*got 'sse9'"):
        _core.kernel_dot("sse9", a, a)


def test_update_rejects_float64_arrays():
    p = np.zeros(8)
    with pytest.raises(TypeError, match="p: expected dtype float32, got float64"):
        _core.kernel_update("scalar", p, p, 1.0, 0.1, 0.0)


def test_update_rejects_read_only_arrays():
    p = np.zeros(8, dtype=np.float32)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="p: expected a writeable array"):
        _core.kernel_update("scalar", p, p.copy(), 1.0, 0.1, 0.0)


def one_rating_model(dim, output):
    rng = np.random.default_rng(3)
    arrays = _core.ModelArrays(2, 3, dim)
    arrays.user_factors[:] = rng.normal(0, 0.3, size=(2, dim)).astype(np.float32)
    arrays.item_factors[:] = rng.normal(0, 0.3, size=(3, dim)).astype(np.float32)
    arrays.user_bias[:] = [0.2, -0.1]
    arrays.item_bias[:] = [0.05, 0.3, -0.2]
    arrays.global_mean = 0.1
    settings = _core.SgdSettings()
    settings.learning_rate = 0.05
    settings.regularization = 0.02
    settings.bias_regularization = 0.01
    settings.dense_learning_rate = 0.03
    settings.output = output
    return arrays, settings


def one_rating_grid():
    """A grid holding the single rating (user 1, anime 2, score 0.8)."""
    return _core.BlockGrid(
        np.array([1], dtype=np.int32), np.array([2], dtype=np.int32),
        np.array([0.8], dtype=np.float32), 2, 3, 1, 0,
    )


def reference_step(arrays, settings, weight, bias, u, i, score):
    """One SGD step on rating (u, i, score), in float64, from the model's formula."""
    p = arrays.user_factors[u].astype(np.float64)
    q = arrays.item_factors[i].astype(np.float64)
    bu, bi = float(arrays.user_bias[u]), float(arrays.item_bias[i])
    dot = p @ q
    z = weight * dot + bias + arrays.global_mean + bu + bi
    if settings.output == "sigmoid":
        y = 1 / (1 + np.exp(-z))
        g = (score - y) * y * (1 - y)
    else:
        g = score - z
    lr, reg, reg_bias = settings.learning_rate, settings.regularization, settings.bias_regularization
    return {
        "p": (1 - lr * reg) * p + lr * g * weight * q,
        "q": (1 - lr * reg) * q + lr * g * weight * p,
        "user_bias": (1 - lr * reg_bias) * bu + lr * g,
        "item_bias": (1 - lr * reg_bias) * bi + lr * g,
        "weight": weight + settings.dense_learning_rate * g * dot,
        "bias": bias + settings.dense_learning_rate * g,
    }


# Strides 32, 64 and 128 take the SIMD kernels' fixed-width step where the
# rows fit in registers; 100 (stride 112) takes the generic one.
STEP_DIMS = [32, 64, 128, 100]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", STEP_DIMS)
@pytest.mark.parametrize("output", ["identity", "sigmoid"])
def test_sgd_step_matches_numpy(kernel, dim, output):
    arrays, settings = one_rating_model(dim, output)
    weight, bias = 0.9, 0.05
    grid = one_rating_grid()
    # The grid renumbers rows; the rating (1, 2) lands on these.
    u, i = grid.user_permutation()[1], grid.item_permutation()[2]
    expected = reference_step(arrays, settings, weight, bias, u=u, i=i, score=0.8)
    result = _core.run_epoch(grid, arrays, settings, weight, bias, kernel=kernel, threads=1)

    np.testing.assert_allclose(arrays.user_factors[u], expected["p"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays.item_factors[i], expected["q"], rtol=1e-5, atol=1e-6)
    assert arrays.user_bias[u] == pytest.approx(expected["user_bias"], abs=1e-6)
    assert arrays.item_bias[i] == pytest.approx(expected["item_bias"], abs=1e-6)
    assert result["weight"] == pytest.approx(expected["weight"], abs=1e-6)
    assert result["bias"] == pytest.approx(expected["bias"], abs=1e-6)
    assert result["kernel"] == kernel


def test_sgd_step_leaves_other_rows_alone():
    arrays, settings = one_rating_model(40, "identity")
    before_users = arrays.user_factors.copy()
    before_items = arrays.item_factors.copy()
    grid = one_rating_grid()
    u, i = grid.user_permutation()[1], grid.item_permutation()[2]
    _core.run_epoch(grid, arrays, settings, 1.0, 0.0)
    other_users = np.arange(2) != u
    other_items = np.arange(3) != i
    np.testing.assert_array_equal(arrays.user_factors[other_users], before_users[other_users])
    np.testing.assert_array_equal(arrays.item_factors[other_items], before_items[other_items])
    assert not np.array_equal(arrays.user_factors[u], before_users[u])


def train_epochs(kernel, dim, output, epochs=3, implicit_step=None):
    """Train a small random problem for a few epochs with one kernel set, one thread.

    With `implicit_step`, a fifth of the rows are unrated and the implicit
    term trains too, its step taken before each epoch but the first.
    """
    rng = np.random.default_rng(dim)
    n_users, n_items, n_ratings = 40, 30, 600
    users = rng.integers(0, n_users, n_ratings).astype(np.int32)
    items = rng.integers(0, n_items, n_ratings).astype(np.int32)
    scores = rng.uniform(0, 1, n_ratings).astype(np.float32)
    if implicit_step is not None:
        scores[rng.uniform(size=n_ratings) < 0.2] = np.nan
    grid = _core.BlockGrid(users, items, scores, n_users, n_items, 2, 0)
    arrays = _core.ModelArrays(n_users, n_items, dim)
    arrays.user_factors[:] = rng.normal(0, 0.1, size=(n_users, dim)).astype(np.float32)
    arrays.item_factors[:] = rng.normal(0, 0.1, size=(n_items, dim)).astype(np.float32)
    lists = None
    if implicit_step is not None:
        lists = _core.ImplicitLists(grid)
        arrays.enable_implicit()
    _, settings = one_rating_model(dim, output)
    weight, bias = 0.9, 0.05
    for epoch in range(epochs):
        if lists is not None and epoch > 0:
            _core.implicit_epoch_end(lists, arrays, implicit_step)
        result = _core.run_epoch(grid, arrays, settings, weight, bias, kernel=kernel, threads=1, epoch=epoch)
        weight, bias = result["weight"], result["bias"]
    return arrays, weight, bias


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", STEP_DIMS)
@pytest.mark.parametrize("output", ["identity", "sigmoid"])
def test_training_agrees_with_scalar(kernel, dim, output):
    arrays, weight, bias = train_epochs(kernel, dim, output)
    expected, expected_weight, expected_bias = train_epochs("scalar", dim, output)
    np.testing.assert_allclose(arrays.user_factors, expected.user_factors, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arrays.item_factors, expected.item_factors, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arrays.user_bias, expected.user_bias, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arrays.item_bias, expected.item_bias, rtol=1e-4, atol=1e-5)
    assert weight == pytest.approx(expected_weight, rel=1e-4, abs=1e-6)
    assert bias == pytest.approx(expected_bias, rel=1e-4, abs=1e-6)
