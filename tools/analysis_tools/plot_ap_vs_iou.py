# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Plot mAP against the IoU threshold (0.1 ... 0.9) for several detection runs, as a PNG.

Each run is a ``det_results.json`` written by ``tools/det_train.py`` or its work dir.

Example::

    python tools/analysis_tools/plot_ap_vs_iou.py work_dirs/voc_random work_dirs/voc_tobias \\
        --labels "random init" Tobias --out ap_vs_iou.png
"""
import argparse
import json
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def load_curve(path):
    """``(ious, maps)`` in percent from a det_results.json or a work dir holding one."""
    if osp.isdir(path):
        path = osp.join(path, 'det_results.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path!r} not found: pass det_results.json files written by '
                                'tools/det_train.py, or their work dirs')
    with open(path) as f:
        curve = json.load(f).get('ap_vs_iou') or {}
    if not curve:
        raise ValueError(f'{path!r} has no AP-vs-IoU curve: evaluate with VOCIoUSweepMetric '
                         'or CocoIoUSweepMetric')
    pairs = sorted((float(k), 100 * float(v)) for k, v in curve.items())
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot(runs, labels, out, title=None):
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    for run, label in zip(runs, labels):
        ious, maps = load_curve(run)
        ax.plot(ious, maps, marker='o', label=label)
    ax.set_xlabel('IoU threshold')
    ax.set_ylabel('mAP (%)')
    ax.set_xticks([round(0.1 * i, 1) for i in range(1, 10)])
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('runs', nargs='+', help='det_results.json files or work dirs')
    parser.add_argument('--labels', nargs='+', help='legend labels (default: run names)')
    parser.add_argument('--out', default='ap_vs_iou.png', help='output PNG')
    parser.add_argument('--title', help='plot title')
    args = parser.parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(r)) for r in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f'--labels got {len(labels)} names for {len(args.runs)} runs')
    print(plot(args.runs, labels, args.out, args.title))


if __name__ == '__main__':
    main()
