# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The file extensions mmtobias reads as images, in one place.

Every folder scan of the package uses this list: the mask generator's
(:func:`mmtobias.scda.scan_images`, whose keys name the images of a mask
file), the donor and background folders of the transforms
(:class:`~mmtobias.datasets.transforms.DonorIndex`), the box datasets of the
localization evaluation and the labelled folders of the probes.

It is mmpretrain's ``CustomDataset`` default (``.jpg .jpeg .png .ppm .bmp
.pgm .tif``) plus ``.tiff`` and ``.webp``, which Pillow and OpenCV decode
too; matching is case-insensitive. It has no dependency, so that any module
may import it.
"""

__all__ = ['IMG_EXTENSIONS']

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
