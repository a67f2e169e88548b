"""ATen op handlers, one registration per op (see :func:`llm2hls.frontend.lower.register_lowering`).

Importing this package fills the lowering table.
"""

from . import attention, movement, nn, norm, pointwise  # noqa: F401
