# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The command-line tools around the mask store, run in-process."""
import importlib.util
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

import mmtobias  # noqa: F401
from mmtobias.scda import MaskStore, write_mask_store

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools')
ARGS = ['--arch', 'resnet18', '--input-size', '64', '--layer4-stride', '1',
        '--no-extra-pool', '--batch-size', '2', '--workers', '0',
        '--precision', 'fp32']


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _images(root, n=3):
    rng = np.random.default_rng(0)
    for i in range(n):
        (root / f'c{i % 2}').mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), np.uint8)).save(
            root / f'c{i % 2}' / f'{i}.jpg')


def test_generate_masks_cli_folder_then_up_to_date(tmp_path, monkeypatch,
                                                   capsys):
    tool = _load_tool('generate_masks')
    _images(tmp_path / 'data')
    out = str(tmp_path / 'm.tmask')
    argv = ['generate_masks.py', str(tmp_path / 'data'), '--out', out,
            '--seed', '2'] + ARGS
    monkeypatch.setattr(sys, 'argv', argv)
    assert tool.main() == 0
    assert '3 images, 0 unreadable' in capsys.readouterr().out
    store = MaskStore(out)
    assert store.keys() == ['c0/0.jpg', 'c0/2.jpg', 'c1/1.jpg']
    assert store.meta['seed'] == 2 and store.grid == 4
    before = open(out, 'rb').read()
    from mmtobias.scda import ensure
    monkeypatch.setattr(ensure, 'generate_masks', None)  # must not be called
    assert tool.main() == 0
    assert open(out, 'rb').read() == before


def test_generate_masks_cli_from_config(tmp_path, monkeypatch):
    tool = _load_tool('generate_masks')
    _images(tmp_path / 'data')
    mask_file = str(tmp_path / 'cfg.tmask')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        f"mask_file = {mask_file!r}\n"
        "train_dataloader = dict(dataset=dict(type='CustomDataset', "
        "data_root='', with_label=False, pipeline=[]))\n"
        "custom_hooks = [dict(type='TobiasMaskGenerator', seed=4)]\n")
    argv = ['generate_masks.py', str(cfg), '--cfg-options',
            f'train_dataloader.dataset.data_root={tmp_path / "data"}'] + ARGS
    monkeypatch.setattr(sys, 'argv', argv)
    assert tool.main() == 0
    store = MaskStore(mask_file)
    assert len(store) == 3 and store.meta['seed'] == 4  # hook setting used
    assert store.meta['data_root'] == str(tmp_path / 'data')
    cfg.write_text("train_dataloader = dict(dataset=dict(type='CustomDataset'"
                   ", data_root='', with_label=False, pipeline=[]))\n")
    with pytest.raises(ValueError, match='has no mask_file.*--out'):
        tool.main()
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    cfg.write_text(f"mask_file = {str(blocker / 'm.tmask')!r}\n"
                   "train_dataloader = dict(dataset=dict(type='CustomDataset'"
                   ", data_root='', with_label=False, pipeline=[]))\n")
    with pytest.raises(ValueError, match=r'--out \(default: the top-level '
                       r'mask_file of .*cfg.py\) .* cannot be written'):
        tool.main()


def test_visualize_masks_writes_pngs(tmp_path, monkeypatch):
    tool = _load_tool('visualize_masks')
    _images(tmp_path / 'data', n=2)
    maps = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    out = str(tmp_path / 'm.tmask')
    write_mask_store(out, ['c0/0.jpg', 'c1/1.jpg'], maps, [True, False],
                     dict(data_root=str(tmp_path / 'data')),
                     reasons={'c1/1.jpg': 'OSError: truncated'})
    monkeypatch.setattr(sys, 'argv', [
        'visualize_masks.py', out, '--out-dir', str(tmp_path / 'vis'),
        '--size', '64'])
    tool.main()
    for name in ('c0__0.png', 'c1__1.png', 'overview.png'):
        assert (tmp_path / 'vis' / name).is_file()
    sheet = np.asarray(Image.open(tmp_path / 'vis' / 'c0__0.png'))
    assert sheet.shape == (64 + 18, 3 * 64 + 20, 3)
    # Foreground panel: the bottom two rows of cells (values 8..15) keep the
    # image, the top two are dimmed.
    img = np.asarray(Image.open(tmp_path / 'data' / 'c0' / '0.jpg').resize(
        (64, 64), Image.BILINEAR), dtype=np.float32)
    fg = sheet[18:, 2 * 74:2 * 74 + 64].astype(np.float32)
    assert np.abs(fg[2:14, 2:14] - 0.25 * img[2:14, 2:14]).max() <= 1
    assert np.abs(fg[34:46, 2:14] - img[34:46, 2:14]).max() <= 1


def test_generate_masks_cli_json_export_and_import(tmp_path, monkeypatch):
    tool = _load_tool('generate_masks')
    _images(tmp_path / 'data')
    out, exported = str(tmp_path / 'm.tmask'), str(tmp_path / 'm.json')
    monkeypatch.setattr(sys, 'argv', [
        'generate_masks.py', str(tmp_path / 'data'), '--out', out,
        '--export-json', exported] + ARGS)
    assert tool.main() == 0
    back = str(tmp_path / 'back.tmask')
    monkeypatch.setattr(sys, 'argv', [
        'generate_masks.py', exported, '--out', back, '--data-root',
        str(tmp_path / 'data')])
    assert tool.main() == 0
    a, b = MaskStore(out), MaskStore(back)
    assert a.keys() == b.keys() and b.meta['data_root'] == a.meta['data_root']
    for k in a.keys():
        np.testing.assert_array_equal(a.foreground(k), b.foreground(k))


def test_generate_masks_cli_recomputes_an_edited_image(tmp_path, monkeypatch,
                                                       capsys):
    tool = _load_tool('generate_masks')
    _images(tmp_path / 'data')
    out = str(tmp_path / 'm.tmask')
    monkeypatch.setattr(sys, 'argv', ['generate_masks.py',
                                      str(tmp_path / 'data'), '--out', out]
                        + ARGS)
    assert tool.main() == 0
    assert '3 computed, 0 reused' in capsys.readouterr().out
    Image.new('RGB', (40, 30), (5, 250, 5)).save(tmp_path / 'data' / 'c1' /
                                                 '1.jpg')
    assert tool.main() == 0
    assert '1 computed, 2 reused' in capsys.readouterr().out
    monkeypatch.setattr(sys, 'argv', sys.argv + ['--force'])
    assert tool.main() == 0
    assert '3 computed, 0 reused' in capsys.readouterr().out


def test_generate_masks_cli_names_an_unwritable_out(tmp_path, monkeypatch):
    tool = _load_tool('generate_masks')
    _images(tmp_path / 'data')
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')  # fails for root too, unlike chmod
    monkeypatch.setattr(sys, 'argv', [
        'generate_masks.py', str(tmp_path / 'data'), '--out',
        str(blocker / 'm.tmask')] + ARGS)
    with pytest.raises(ValueError, match=r"--out '.*a_file/m.tmask' cannot "
                       r'be written.*set --out to'):
        tool.main()
