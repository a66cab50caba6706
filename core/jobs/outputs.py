"""Output checks shared by the jobs: never write over an input (see :mod:`core.foundation.overlap`)."""

from __future__ import annotations

from ..foundation.overlap import Place, refuse_output_overlap, refuse_overwriting_inputs

__all__ = ["Place", "refuse_output_overlap", "refuse_overwriting_inputs"]
