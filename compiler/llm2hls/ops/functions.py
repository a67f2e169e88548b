"""Float definitions of the scalar nonlinear functions used by stages (float64, elementwise).

The integer pipeline realizes each of them as a table built from these same definitions, so the
float reference and the tables can never disagree about what a function is.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorized float64 erf (numpy has none; torch's is imported lazily to keep start-up fast)."""
    import torch

    return torch.erf(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()


def gelu_erf(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def silu(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / (1.0 + np.exp(-x))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(np.asarray(x, dtype=np.float64))


def exp(x: np.ndarray) -> np.ndarray:
    return np.exp(np.asarray(x, dtype=np.float64))


FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu_erf": gelu_erf,
    "gelu_tanh": gelu_tanh,
    "silu": silu,
    "sigmoid": sigmoid,
    "relu": relu,
    "tanh": tanh,
    "exp": exp,
}
