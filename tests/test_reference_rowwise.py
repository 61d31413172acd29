"""fastlr.RowwiseAdagrad equals its pure-NumPy reference class bit for bit (dense and rows)."""
import numpy as np
import pytest

import fastlr
import fastlr.reference as R


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(lr=0.1),
                                dict(lr=0.1, weight_decay=0.1, lr_decay=0.01,
                                     initial_accumulator_value=0.2, maximize=True)])
def test_rowwise_adagrad_matches_reference_class(dtype, kw):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((50, 8)).astype(dtype)
    b = rng.standard_normal(50).astype(dtype)
    W2, b2 = W.copy(), b.copy()
    opt, ref = fastlr.RowwiseAdagrad([W, b], **kw), R.RowwiseAdagrad([W2, b2], **kw)
    for k in range(40):
        idx = rng.integers(0, 50, 30)
        gW = (fastlr.RowGrad(idx, rng.standard_normal((30, 8)).astype(dtype)) if k % 2
              else rng.standard_normal((50, 8)).astype(dtype))
        grads = [gW, rng.standard_normal(50).astype(dtype)]
        opt.step(grads)
        ref.step(grads)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(b, b2)
    np.testing.assert_array_equal(opt.state[0]["sum"], ref.state[0]["sum"])
