# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Aggregate the rows written by ``study.py`` into a markdown table and PNG plots.

    python projects/foreground_study/study_report.py work_dirs/study/small

Writes ``results.md`` and ``linear_accuracy.png`` beside the rows, ``ap_vs_iou.png``
when some run has detection, and ``knn_curve.png`` when the runs logged a kNN learning
curve (the KNNMonitor).
Each cell is the mean over seeds with the spread (max - min) / 2 after ``±``; with one
seed there is no spread and the cell says so (``n=1``). ``results.md`` also lists every
run's own numbers, and the AP-vs-IoU plot shades the seed range of the random-init
backbone: a curve inside that band differs from no pretraining by less than the
detection fine-tuning's own seed noise.

Rows with background sensitivity get one column per dataset, the mean over images of
(a) - (b) (similarity with the background replaced minus with the objects replaced);
rows with several detection fine-tunes per backbone get ``AP50 ft±``, the mean over
backbones of the fine-tunes' own spread, to set beside the spread over seeds. Detection
is also reported as paired differences with their standard errors: every method
against random init, fine-tune by fine-tune (same pretraining seed, same fine-tune
seed), for the protocol's fine-tunes and each variant (``--det-norm``, ``--det-lr``);
precise BN against the running statistics of the same fine-tune; and each variant
against the protocol on the same backbone. The
learning curve is each method's mean kNN top-1 per epoch with its seed range shaded.
"""
import glob
import json
import os
import os.path as osp
import sys
from collections import defaultdict

COLUMNS = [
    ('kNN top-1', ('probes', 'knn_top1')),
    ('linear top-1', ('probes', 'linear_top1')),
    ('CorLoc', ('corloc', 'corloc')),
    ('AP50', ('detection', 'AP50')),
    ('AP', ('detection', 'AP')),
    ('AP75', ('detection', 'AP75')),
]


def columns(rows):
    """The fixed columns, plus those that some row has data for."""
    runs = [r for group in rows.values() for r in group]
    cols = list(COLUMNS)
    names = sorted({n for r in runs for n in (r.get('bg_sensitivity') or {})})
    cols += [(f'bg−fg {n}', ('bg_sensitivity', n, 'bg_minus_fg', 'mean')) for n in names]
    if any(_get(r, ('detection', 'finetune_spread')) for r in runs):
        cols.append(('AP50 ft±', ('detection', 'finetune_spread', 'AP50')))
    return cols


def _digits(name):
    return 3 if name.startswith('bg−fg') else 1


def _get(row, path):
    for key in path:
        if not isinstance(row, dict) or key not in row:
            return None
        row = row[key]
    return row


def _cell(values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return '—'
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f'{mean:.{digits}f} (n=1)'
    return f'{mean:.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}'


# table/plot order: the baselines first, then the foreground-aware methods
ORDER = ['random_init', 'mocov2', 'tobias_p0.3', 'tobias_p0.5', 'random_merge',
         'copypaste_gray', 'insloc_c4']


def load_rows(budget_dir, extra_dirs=()):
    """``{method: [row, ...]}`` from ``budget_dir/rows`` and the row folders
    ``extra_dirs`` (committed rows, e.g. ``results/study_medium_rows`` of this project).

    One row per (method, seed): a row in ``budget_dir/rows`` replaces an extra folder's
    row of the same run (it was rewritten after the committed one), and an earlier
    extra folder wins over a later one.
    """
    by_run = {}
    for folder in [osp.join(budget_dir, 'rows'), *extra_dirs]:
        for path in sorted(glob.glob(osp.join(folder, '*.json'))):
            with open(path) as f:
                row = json.load(f)
            by_run.setdefault((row['method'], row['seed']), row)
    rows = defaultdict(list)
    for (method, _), row in by_run.items():
        rows[method].append(row)
    rank = {m: i for i, m in enumerate(ORDER)}
    ordered = sorted(rows, key=lambda m: (rank.get(m, len(ORDER)), m))
    return {m: sorted(rows[m], key=lambda r: r['seed']) for m in ordered}


def _num(value, digits=1):
    return '—' if value is None else f'{value:.{digits}f}'


def finetunes(row, key='detection'):
    """``{(pretraining seed, fine-tune seed): fine-tune result}`` of a row's ``key``
    (``detection`` or a variant such as ``detection_frozen``)."""
    det = row.get(key)
    if not det:
        return {}
    runs = det.get('finetunes') or [det]
    return {(row['seed'], r.get('seed')): r for r in runs}


def mean_se(values):
    """Mean and standard error (sample std / sqrt(n); None for n = 1)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, (var / n) ** 0.5


def _diff_cell(values):
    if not values:
        return '—'
    mean, se = mean_se(values)
    return f'{mean:+.1f} (n=1)' if se is None else f'{mean:+.1f} ± {se:.1f} (n={len(values)})'


def paired_table(rows, baseline='random_init', metrics=('AP50', 'AP', 'AP75')):
    """Markdown: each method's detection minus the baseline's, paired by pretraining
    seed and fine-tune seed, mean ± standard error over the pairs (also with the
    running BN statistics where the fine-tunes were tested both ways); per variant
    (``detection``, ``detection_frozen``, ...); then, for every fine-tune tested both
    ways, precise BN minus the running statistics, and each variant minus the
    protocol's ``detection`` on the same backbone. '' without detection rows."""
    runs = [r for g in rows.values() for r in g]
    keys = sorted({k for r in runs for k in r if k.startswith('detection') and r[k]})
    if not keys:
        return ''
    lines = ['| fine-tune | comparison | ' + ' | '.join(f'Δ{m}' for m in metrics) + ' |',
             '|---' * (2 + len(metrics)) + '|']
    base = rows.get(baseline, [])
    for key in keys:
        ref = {}
        for r in base:
            ref.update(finetunes(r, key))
        for method, group in rows.items():
            if method == baseline:
                continue
            pairs = {}
            for r in group:
                pairs.update(finetunes(r, key))
            common = sorted(set(pairs) & set(ref))
            if not common:
                continue
            cells = [_diff_cell([pairs[c][m] - ref[c][m] for c in common]) for m in metrics]
            lines.append(f'| {key} | {method} − {baseline} | ' + ' | '.join(cells) + ' |')
            both = [c for c in common if pairs[c].get('running_bn') and ref[c].get('running_bn')]
            if both:  # the same fine-tunes tested with their running BN statistics
                cells = [_diff_cell([pairs[c]['running_bn'][m] - ref[c]['running_bn'][m]
                                     for c in both]) for m in metrics]
                lines.append(f'| {key} | {method} − {baseline}, running BN | '
                             + ' | '.join(cells) + ' |')
        for method, group in rows.items():
            fts = [ft for r in group for ft in finetunes(r, key).values()
                   if ft.get('running_bn')]
            if fts:
                cells = [_diff_cell([ft[m] - ft['running_bn'][m] for ft in fts])
                         for m in metrics]
                lines.append(f'| {key} | {method}: precise BN − running BN | '
                             + ' | '.join(cells) + ' |')
            if key == 'detection':
                continue
            diffs = {m: [] for m in metrics}
            for r in group:
                proto, var = finetunes(r), finetunes(r, key)
                for c in sorted(set(proto) & set(var)):
                    for m in metrics:
                        diffs[m].append(var[c][m] - proto[c][m])
            if diffs[metrics[0]]:
                lines.append(f'| {key} | {method}: {key[len("detection_"):]} − protocol | '
                             + ' | '.join(_diff_cell(diffs[m]) for m in metrics) + ' |')
    return '\n'.join(lines)


def write_report(budget_dir, extra_dirs=()):
    rows = load_rows(budget_dir, extra_dirs)
    if not rows:
        sys.exit(f'no finished rows under {budget_dir}/rows'
                 + ''.join(f' or {d}' for d in extra_dirs))
    cols = columns(rows)
    lines = ['| method | seeds | ' + ' | '.join(c for c, _ in cols) + ' | pretrain min |',
             '|---' * (len(cols) + 3) + '|']
    for method, runs in rows.items():
        minutes = [r.get('pretrain_seconds', 0) / 60 for r in runs]
        lines.append(f'| {method} | {",".join(str(r["seed"]) for r in runs)} | ' + ' | '.join(
            _cell([_get(r, p) for r in runs], _digits(c)) for c, p in cols) +
            f' | {sum(minutes) / len(minutes):.0f} |')
    table = '\n'.join(lines)
    runs = ['| method | seed | ' + ' | '.join(c for c, _ in cols) +
            ' | pretrain min | detection min |', '|---' * (len(cols) + 4) + '|']
    for method, group in rows.items():
        for r in group:
            det_s = _get(r, ('detection', 'seconds'))
            runs.append(f'| {method} | {r["seed"]} | ' + ' | '.join(
                _num(_get(r, p), _digits(c)) for c, p in cols) +
                f' | {r.get("pretrain_seconds", 0) / 60:.0f} | '
                f'{_num(det_s / 60 if det_s is not None else None)} |')
    text = table + '\n\nEvery run:\n\n' + '\n'.join(runs) + '\n'
    paired = paired_table(rows)
    if paired:
        text += ('\nDetection, paired differences (AP points; mean ± standard error over '
                 'pairs of fine-tunes with the same pretraining and fine-tune seeds):\n\n'
                 + paired + '\n')
        print('\n' + paired)
    bg = bg_table(rows)
    if bg:
        text += ('\nBackground sensitivity in detail (mean over images; std over images '
                 'in brackets):\n\n' + bg + '\n')
    # a fresh checkout reports from the committed rows before any run made this dir
    os.makedirs(budget_dir, exist_ok=True)
    with open(osp.join(budget_dir, 'results.md'), 'w') as f:
        f.write(text)
    print(table)
    _plots(rows, budget_dir)
    _knn_curves(rows, budget_dir)
    return rows


def bg_table(rows):
    """One line per run with background sensitivity: for every dataset, the mean
    similarity with the background replaced, with the objects replaced, and their
    difference, each with its std over images; '' when no run has it."""
    names = sorted({n for g in rows.values() for r in g
                    for n in (r.get('bg_sensitivity') or {})})
    if not names:
        return ''
    keys = (('bg_swap', 'bg_swap'), ('fg_swap', 'fg_swap'), ('bg_minus_fg', 'bg−fg'))
    lines = ['| backbone | ' + ' | '.join(f'{n} {h}' for n in names for _, h in keys) + ' |',
             '|---' * (1 + len(names) * len(keys)) + '|']
    for method, group in rows.items():
        for r in group:
            if not r.get('bg_sensitivity'):
                continue
            cells = []
            for n in names:
                for k, _ in keys:
                    v = _get(r, ('bg_sensitivity', n, k))
                    cells.append('—' if v is None else f'{v["mean"]:.3f} ({v["std"]:.3f})')
            lines.append(f'| {method} seed {r["seed"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def curve_band(curves):
    """Steps present in every curve, and the mean / min / max over the curves."""
    tables = [dict((int(s), v) for s, v in c) for c in curves]
    steps = sorted(set.intersection(*(set(t) for t in tables)))
    vals = [[t[s] for t in tables] for s in steps]
    return (steps, [sum(v) / len(v) for v in vals], [min(v) for v in vals],
            [max(v) for v in vals])


def _knn_curves(rows, budget_dir):
    """``knn_curve.png``: kNN top-1 against epoch, each method's mean with its seed
    range (min to max) shaded; nothing when no run has a curve."""
    curves = {m: [r['knn_curve'] for r in runs if r.get('knn_curve')]
              for m, runs in rows.items()}
    curves = {m: c for m, c in curves.items() if c}
    if not curves:
        return
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for m, group in curves.items():
        steps, mean, lo, hi = curve_band(group)
        line, = ax.plot(steps, mean, marker='.', label=f'{m} (n={len(group)})')
        if len(group) > 1:
            ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
    iteration = any(r.get('settings', {}).get('max_iters') for g in rows.values() for r in g)
    ax.set_xlabel('iteration' if iteration else 'epoch')
    ax.set_ylabel('kNN top-1 (%), monitor subset')
    ax.set_title('mean over seeds; shaded: seed range (min to max)', fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(budget_dir, 'knn_curve.png'), dpi=120)
    plt.close(fig)


def _plots(rows, budget_dir):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    methods = list(rows)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, m in enumerate(methods):
        vals = [_get(r, ('probes', 'linear_top1')) for r in rows[m]]
        vals = [v for v in vals if v is not None]
        ax.scatter([i] * len(vals), vals, color='k', s=12, zorder=3)
        if vals:
            ax.bar(i, sum(vals) / len(vals), color='tab:blue', alpha=0.6)
    ax.set_xticks(range(len(methods)), methods, rotation=20)
    ax.set_ylabel('linear probe top-1 (%)')
    fig.tight_layout()
    fig.savefig(osp.join(budget_dir, 'linear_accuracy.png'), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for m in methods:
        curves = [_get(r, ('detection', 'ap_vs_iou')) for r in rows[m]]
        curves = [c for c in curves if c]
        if not curves:
            continue
        ious = sorted(curves[0], key=float)
        xs = [float(t) for t in ious]
        mean = [sum(c.get(t, 0.0) for c in curves) / len(curves) for t in ious]
        if m == 'random_init' and len(curves) > 1:
            ax.fill_between(xs, [min(c.get(t, 0.0) for c in curves) for t in ious],
                            [max(c.get(t, 0.0) for c in curves) for t in ious],
                            color='0.8', label='random_init seed range')
        ax.plot(xs, mean, marker='o', label=m,
                linestyle='--' if m == 'random_init' else '-')
    if not ax.get_legend_handles_labels()[0]:  # no row has detection: no empty plot
        plt.close(fig)
        return
    ax.set_xlabel('IoU threshold')
    ax.set_ylabel('mAP (%)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(budget_dir, 'ap_vs_iou.png'), dpi=120)
    plt.close(fig)


if __name__ == '__main__':
    if len(sys.argv) != 2 or not osp.isdir(sys.argv[1]):
        sys.exit('usage: python projects/foreground_study/study_report.py work_dirs/study/BUDGET')
    write_report(sys.argv[1])
