# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .core import (IMAGENET_MEAN, IMAGENET_STD, INIT_SCHEMES, SCDA_ARCHS,
                   build_scda_backbone, init_weights, scda_map,
                   top_fraction_mask)
from .ensure import MaskFileStatus, ensure_masks
from .file_lock import MaskFileLock, check_writable
from .generate import generate_masks, map_settings
from .image_list import (IMG_EXTENSIONS, ImageListDataset, dataset_image_paths,
                         decode_image, scan_images)
from .mask_store import (FORMAT_VERSION, MaskStore, dataset_fingerprint,
                         export_released_json, image_stat,
                         import_released_json, write_mask_store)
from .pipeline_mask_file import fill_mask_file, mask_file_readers
from .plan import MaskPlan, MaskWork, check_mask_file
from .runtime import (DECODES, PRECISIONS, available_cores,
                      default_workers_threads, resolve_decode,
                      resolve_precision)
from .settings import ScdaNetSettings

__all__ = [
    'IMAGENET_MEAN', 'IMAGENET_STD', 'INIT_SCHEMES', 'SCDA_ARCHS',
    'build_scda_backbone', 'init_weights', 'scda_map', 'top_fraction_mask',
    'FORMAT_VERSION', 'MaskStore', 'dataset_fingerprint', 'image_stat',
    'export_released_json', 'import_released_json', 'write_mask_store',
    'PRECISIONS', 'DECODES', 'check_mask_file', 'generate_masks',
    'map_settings', 'resolve_precision', 'resolve_decode', 'available_cores',
    'default_workers_threads',
    'MaskFileLock', 'check_writable', 'ScdaNetSettings', 'MaskPlan',
    'MaskWork', 'MaskFileStatus', 'ensure_masks', 'fill_mask_file',
    'mask_file_readers',
    'IMG_EXTENSIONS', 'ImageListDataset', 'dataset_image_paths',
    'decode_image', 'scan_images'
]
