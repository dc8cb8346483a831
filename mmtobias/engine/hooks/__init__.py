# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .channels_last import ChannelsLastHook
from .knn_monitor import KNNMonitor
from .skipped_files_logger import SkippedFilesLogger
from .tobias_mask_generator import TobiasMaskGenerator

__all__ = ['ChannelsLastHook', 'KNNMonitor', 'SkippedFilesLogger', 'TobiasMaskGenerator']
