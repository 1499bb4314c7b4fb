"""Feature masking (SpecAugment-style) of audio features: what it blanks, and what it leaves."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from snnapp.core.errors import ConfigError  # noqa: E402
from snnapp.core.training import TrainConfig  # noqa: E402
from snnapp.core.training._augment import MAX_COEF_MASK, MAX_TIME_MASK, mask_features  # noqa: E402


def _frames(b: int = 64, t: int = 32, c: int = 20) -> np.ndarray:
    # strictly positive, so that every zero in the output is a mask
    return np.random.default_rng(1).uniform(0.5, 2.0, (b, t, c)).astype(np.float32)


def test_masks_blank_whole_frames_and_whole_coefficients_within_their_widths():
    x = _frames()
    y = mask_features(x, np.random.default_rng(0), masks=1)
    assert y.shape == x.shape and y.dtype == np.float32
    zero = y == 0
    kept = ~zero
    assert np.array_equal(y[kept], x[kept])
    for i in range(len(x)):
        frames = zero[i].all(axis=1)  # masked frames are zero in every coefficient
        coefs = zero[i].all(axis=0)
        # every zero lies in a masked frame or a masked coefficient
        assert (zero[i] == (frames[:, None] | coefs[None, :])).all()
        # one mask each: a single run no wider than its limit
        for hit, widest in ((frames, int(MAX_TIME_MASK * 32)), (coefs, int(MAX_COEF_MASK * 20))):
            idx = np.flatnonzero(hit)
            assert len(idx) <= widest
            if len(idx):
                assert idx[-1] - idx[0] + 1 == len(idx)
    # over a batch, some masks have width and both kinds occur
    assert zero.all(axis=2).any() and zero.all(axis=1).any()


def test_more_masks_blank_more_and_none_blank_nothing():
    x = _frames()
    assert np.array_equal(mask_features(x, np.random.default_rng(0), masks=0), x)
    one = (mask_features(x, np.random.default_rng(0), masks=1) == 0).mean()
    three = (mask_features(x, np.random.default_rng(0), masks=3) == 0).mean()
    assert 0 < one < three < 0.6


def test_masking_is_deterministic_and_leaves_its_input_alone():
    x = _frames()
    before = x.copy()
    a = mask_features(x, np.random.default_rng(7), masks=2)
    b = mask_features(x, np.random.default_rng(7), masks=2)
    assert np.array_equal(a, b) and np.array_equal(x, before)
    assert not np.array_equal(a, mask_features(x, np.random.default_rng(8), masks=2))


def test_tiny_feature_maps_and_empty_batches():
    x = _frames(b=3, t=2, c=1)
    y = mask_features(x, np.random.default_rng(0), masks=4)
    assert y.shape == x.shape and set(np.unique(y[y != x])) <= {0.0}
    assert mask_features(np.zeros((0, 32, 20), np.float32), np.random.default_rng(0), 2).shape == (0, 32, 20)


@pytest.mark.parametrize("masks", [-1, 9])
def test_the_number_of_masks_is_checked(masks: int):
    with pytest.raises(ConfigError, match="feature_masks: .* is outside 0-8"):
        TrainConfig(feature_masks=masks)


def test_a_coefficient_mask_covers_the_same_bands_of_the_mfcc_and_their_deltas():
    """With deltas the features are two blocks of the same bands; a mask never straddles them."""
    x = _frames(b=256, c=26)
    y = mask_features(x, np.random.default_rng(3), masks=2, blocks=2)
    coefs = (y == 0).all(axis=1)  # [B, 26]: masked coefficients
    assert np.array_equal(coefs[:, :13], coefs[:, 13:])
    assert coefs.any()
    # without blocks, some masks do cross the middle of the same features
    one = (mask_features(x, np.random.default_rng(3), masks=2) == 0).all(axis=1)
    assert not np.array_equal(one[:, :13], one[:, 13:])
    with pytest.raises(ValueError, match="equal blocks"):
        mask_features(_frames(c=25), np.random.default_rng(0), masks=1, blocks=2)
