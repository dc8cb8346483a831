_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=10))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
