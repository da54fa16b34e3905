"""The paper's experiment grids (Tables 1, 3, 4, 5) run end to end, resumably, into results tables.

* :mod:`.grids`: the rows of each table (:class:`Grid`, :class:`Row`, :func:`build_grid`);
* :mod:`.budget`: epochs, frames, seeds and data slice per row (``configs/budgets/*.yaml``);
* :mod:`.data`: the prepared data of a results folder (sliced, synthesised LQ stored once);
* :mod:`.runner`: :class:`GridRunner`, shared teachers, ``rows.jsonl`` records, resumption;
* :mod:`.results`: ``rows.jsonl`` and the Markdown / CSV tables (mean ± std over seeds).
"""
from .budget import Budget, available_budgets, load_budget
from .grids import GRIDS, Grid, Row, build_grid
from .results import read_records, summarize, write_tables
from .runner import GridRunner, config_digest

__all__ = [
    "Budget", "GRIDS", "Grid", "GridRunner", "Row", "available_budgets", "build_grid", "config_digest",
    "load_budget", "read_records", "summarize", "write_tables",
]
