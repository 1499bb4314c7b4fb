"""The data sets: MNIST images and FSDD recordings, their splits, pairing, download and checks.

Data is loaded by name from a data directory (see :func:`resolve_data_dir`) and downloaded with
checksum verification on request; nothing is fetched or read at import time.
"""

from snnapp.core.data._datadir import resolve_cache_dir, resolve_data_dir
from snnapp.core.data._download import FSDD_URL, MNIST_MIRRORS, ProgressCallback, download
from snnapp.core.data._fsdd import FSDD_SPEAKERS, FsddClip, list_fsdd
from snnapp.core.data._manifest import DatasetStatus, status
from snnapp.core.data._mnist import load_mnist
from snnapp.core.data._splits import draw_pairs, fixed_test_pairs, stratified_split

__all__ = [
    "FSDD_SPEAKERS",
    "FSDD_URL",
    "MNIST_MIRRORS",
    "DatasetStatus",
    "FsddClip",
    "ProgressCallback",
    "download",
    "draw_pairs",
    "fixed_test_pairs",
    "list_fsdd",
    "load_mnist",
    "resolve_cache_dir",
    "resolve_data_dir",
    "status",
    "stratified_split",
]
