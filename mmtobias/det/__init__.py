# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Detection-transfer components, registered into mmdet's registries."""
from .checkpoint_converter import (check_against_model, convert_checkpoint,
                                   convert_state_dict, detect_format, load_state_dict)
from .coco_iou_sweep_metric import CocoIoUSweepMetric
from .res_layer_extra_norm import SharedResLayerExtraNorm
from .voc_iou_sweep_metric import VOCIoUSweepMetric

__all__ = [
    'CocoIoUSweepMetric', 'SharedResLayerExtraNorm', 'VOCIoUSweepMetric', 'check_against_model',
    'convert_checkpoint', 'convert_state_dict', 'detect_format', 'load_state_dict'
]
