# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The res5 shared head of R50-C4 detectors with an extra norm after the stage."""
from mmcv.cnn import build_norm_layer
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm


@MODELS.register_module()
class SharedResLayerExtraNorm(ResLayer):
    """mmdet's ``ResLayer`` shared head followed by one more norm layer.

    The MoCo detection protocol (used by Tobias and InsLoc for R50-C4) appends a norm
    to the res5 head: self-supervised features are not scaled like supervised ones, and
    with SyncBN everywhere the detector normalises them before the box predictor. The
    stage's weights keep mmdet's names (``layer4.*``), so a backbone's ``layer4`` loads
    straight into it; the new norm (``norm.*``) starts at weight 1, bias 0.

    mmpretrain/mmselfsup register a minimal ``ResLayerExtraNorm`` with the same keys;
    this one also checks ``norm_cfg``, defaults to the protocol's ``norm_eval=False`` and
    keeps SyncBN layers frozen when ``norm_eval=True`` (mmdet's ``ResLayer`` only
    freezes ``nn.BatchNorm2d``).

    SyncBN needs a process group: mmengine's Runner turns every SyncBN into plain BN
    when it runs without a distributed launcher, so single-process CPU runs work as is.

    Args:
        depth (int): ResNet depth (50 for R50-C4).
        stage (int): index of the ResNet stage, 3 for res5. Defaults to 3.
        norm_cfg (dict): norm of the stage and of the extra norm.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): keep the norms in eval mode while training.
            Defaults to False (the MoCo protocol fine-tunes every norm).
        **kwargs: the other arguments of mmdet's ``ResLayer``.
    """

    def __init__(self, depth, stage=3, norm_cfg=None, norm_eval=False, **kwargs):
        if norm_cfg is None:
            norm_cfg = dict(type='BN', requires_grad=True)
        if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
            raise TypeError(f'norm_cfg={norm_cfg!r} must be a dict with a `type`, e.g. '
                            "dict(type='SyncBN', requires_grad=True); change "
                            'model.roi_head.shared_head.norm_cfg')
        super().__init__(depth, stage=stage, norm_cfg=norm_cfg, norm_eval=norm_eval,
                         **kwargs)
        layer = getattr(self, f'layer{stage + 1}')
        out_channels = layer[-1].conv3.out_channels if hasattr(
            layer[-1], 'conv3') else layer[-1].conv2.out_channels
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x):
        # x: R x 1024 x 14 x 14 RoI features -> R x 2048 x 7 x 7
        return self.norm(super().forward(x))

    def train(self, mode=True):
        super().train(mode)
        if mode and self.norm_eval:
            # mmdet's ResLayer only freezes nn.BatchNorm2d; cover SyncBN too
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
