"""pass@k of the debugger evaluation, against direct enumeration of k-subsets."""

from itertools import combinations

import pytest

from llm2hls.dataset.evaluate import pass_at_k


def _enumerated(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets (all n when n < k) of n samples that contain a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(samples, min(k, n)))
    return sum(any(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 7))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_pass_at_k_matches_enumeration(n, k):
    for c in range(n + 1):
        assert pass_at_k(n, c, k) == pytest.approx(_enumerated(n, c, k)), (n, c, k)


def test_no_samples_or_no_correct_sample_is_zero():
    assert pass_at_k(0, 0, 1) == 0.0
    assert pass_at_k(1, 0, 3) == 0.0
