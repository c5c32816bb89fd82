"""scikit-learn's bundled digits: a fixed stratified split, scaled to [0, 1]. Nothing is
downloaded: ``load_digits`` reads a file that ships inside scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SEED = 0          # the split never changes with the run seeds
TEST_FRACTION = 0.25    # 450 of the 1,797 images


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray   # (N, 64) float32 in [0, 1]
    y_train: np.ndarray   # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray

    def inputs(self, model: str, split: str = "test") -> np.ndarray:
        """The images shaped for ``model``: (N, 64) for "mlp", (N, 1, 8, 8) for "cnn"."""
        x = self.x_test if split == "test" else self.x_train
        return x if model == "mlp" else x.reshape(-1, 1, 8, 8)


def load() -> Digits:
    """The digits split: 1,347 training and 450 test images, stratified by class."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)          # pixel values are 0..16
    y = y.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    return Digits(np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test), y_test)


def batches(digits: Digits, model: str, seed: int, epoch: int, batch_size: int = 64):
    """One epoch of shuffled ``(input, target)`` torch batches, deterministic per seed/epoch."""
    import torch

    order = np.random.default_rng([seed, epoch]).permutation(len(digits.y_train))
    x = digits.inputs(model, "train")
    return [(torch.from_numpy(x[order[i:i + batch_size]]),
             torch.from_numpy(digits.y_train[order[i:i + batch_size]]))
            for i in range(0, len(order), batch_size)]


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max is the label."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits of shape {logits.shape} do not match {labels.shape[0]} labels")
    return float(np.mean(np.argmax(logits, axis=1) == labels))
