# The first and last step of every pretraining pipeline (MoCo v2, SimCLR, InsLoc, and
# their Tobias / ablation variants); the view augmentations sit between them.
#
# Decoding as LoadImageFromFile does (same pixels, EXIF orientation), except that a file
# that does not decode (empty, not an image, truncated) is named once with the reason
# and another sample is drawn, so one broken file cannot stop a run.
load_pipeline = [
    dict(type='SafeLoadImageFromFile', decoder='cv2', on_error='skip', truncated='skip')
]
# PackInputs carries the skipped paths to the SkippedFilesLogger hook (the count per
# epoch). InsLoc also packs its boxes: dict(pack_pipeline[0], algorithm_keys=[...]).
pack_pipeline = [dict(type='PackInputs', algorithm_keys=['skipped_files'])]
