# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Heatmap overlays with predicted and ground-truth boxes (Tobias Figure 1)."""
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

__all__ = ['draw_scda_overlay']


def draw_scda_overlay(img: np.ndarray,
                      scda_map: np.ndarray,
                      pred_box: Optional[np.ndarray] = None,
                      gt_boxes: Optional[np.ndarray] = None,
                      out_file: Optional[str] = None,
                      alpha: float = 0.5) -> np.ndarray:
    """Blend the SCDA map (jet colours, bilinear to image size) over ``img``
    and draw the predicted box (red) and the GT boxes (green).

    Args:
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        scda_map (np.ndarray): ``h x w`` aggregation map.
        pred_box (np.ndarray, optional): ``[x1, y1, x2, y2]`` in ``img``
            pixels. Defaults to None.
        gt_boxes (np.ndarray, optional): ``K x 4`` in ``img`` pixels.
            Defaults to None.
        out_file (str, optional): Write a PNG here (directories created).
            Defaults to None.
        alpha (float): Heatmap opacity. Defaults to 0.5.

    Returns:
        np.ndarray: The ``H x W x 3`` uint8 overlay.
    """
    from matplotlib import colormaps  # deferred: only needed for pictures
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'img must be H x W x 3 RGB, got shape {img.shape}.')
    h, w = img.shape[:2]
    amap = torch.as_tensor(np.asarray(scda_map, dtype=np.float32))
    amap = F.interpolate(amap[None, None], size=(h, w), mode='bilinear',
                         align_corners=False)[0, 0].numpy()
    span = float(amap.max() - amap.min())
    amap = (amap - amap.min()) / span if span > 0 else np.zeros_like(amap)
    heat = colormaps['jet'](amap)[..., :3] * 255.0
    blend = (1 - alpha) * img.astype(np.float32) + alpha * heat
    canvas = Image.fromarray(blend.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(min(h, w) / 112))
    for box in ([] if gt_boxes is None else np.asarray(gt_boxes)):
        draw.rectangle([float(v) for v in box[:4]], outline=(0, 255, 0),
                       width=width)
    if pred_box is not None:
        draw.rectangle([float(v) for v in np.asarray(pred_box)[:4]],
                       outline=(255, 0, 0), width=width)
    out = np.asarray(canvas)
    if out_file is not None:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        tmp = out_file + '.tmp.png'
        canvas.save(tmp)
        os.replace(tmp, out_file)
    return out
