# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Detection-transfer components, registered into mmdet's registries.

Importing this package imports mmdet, hence mmcv's compiled ops, so ``import mmtobias``
does not: detection configs list it (``custom_imports=dict(imports=['mmtobias',
'mmtobias.det'], ...)``), and :mod:`mmtobias.utils.det_autoimport` imports it as soon
as mmdet's models or evaluation package is imported.
"""
from .batch_norm import FrozenBNStatsHook, freeze_backbone_bn, precise_bn, reestimate_bn
from .checkpoint_converter import (check_against_model, compare_loaded, convert_checkpoint,
                                   convert_state_dict, detect_format, load_state_dict)
from .coco_iou_sweep_metric import CocoIoUSweepMetric
from .res_layer_extra_norm import SharedResLayerExtraNorm
from .voc_iou_sweep_metric import VOCIoUSweepMetric

__all__ = [
    'CocoIoUSweepMetric', 'FrozenBNStatsHook', 'freeze_backbone_bn', 'precise_bn',
    'reestimate_bn', 'SharedResLayerExtraNorm', 'VOCIoUSweepMetric', 'check_against_model',
    'compare_loaded', 'convert_checkpoint', 'convert_state_dict', 'detect_format',
    'load_state_dict'
]
