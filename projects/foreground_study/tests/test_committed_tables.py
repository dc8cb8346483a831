# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The committed rows reproduce the committed tables (``results/study_BUDGET.md``)."""
import os.path as osp
import sys

import pytest

PROJECT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # projects/foreground_study
sys.path.insert(0, PROJECT)
import study_report  # noqa: E402

BUDGETS = ['small', 'medium', 'medium2']


@pytest.mark.parametrize('budget', BUDGETS)
def test_committed_rows_reproduce_the_committed_tables(tmp_path, budget, monkeypatch):
    # the tables only: the plots are drawn from the same rows and are not compared here
    monkeypatch.setattr(study_report, '_plots', lambda rows, budget_dir: None)
    rows = osp.join(PROJECT, 'results', f'study_{budget}_rows')
    study_report.write_report(str(tmp_path), [rows])
    with open(osp.join(PROJECT, 'results', f'study_{budget}.md')) as f:
        expected = f.read()
    assert (tmp_path / 'results.md').read_text() == expected
