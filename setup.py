# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name):
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f
                if line.strip() and not line.startswith('#')]


def get_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'mmtobias', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='mmtobias',
    version=get_version(),
    description='Foreground-aware self-supervised pretraining for OpenMMLab '
    '(Tobias, Distilling Localization, InsLoc, detection transfer)',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.9',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    include_package_data=True,
    install_requires=read_requirements('runtime.txt') + ['mmcv>=2.0.0,<2.1.0'],
    extras_require=dict(
        tests=read_requirements('tests.txt'),
        mmselfsup=read_requirements('optional.txt'),
    ),
    zip_safe=False,
)
