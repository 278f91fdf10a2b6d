"""Bundled and fetched public datasets, ready to load as a :class:`~samplescope.data.dataset.Dataset`.

* the Open Bandit Dataset (ZOZOTOWN fashion-recommendation clicks, small version, Apache-2.0):
  :func:`load_obd`, :func:`obd_frame`, :func:`obd_pooled`, :func:`write_obd_files`;
* LightGBM's lambdarank example (small ranking set with query groups, MIT, bundled):
  :func:`load_lambdarank_example`;
* MSLR-WEB, first 5,000 rows of Fold1 (web-search ranking, research use; fetched from the ``rankeval``
  sdist on PyPI into a user cache, not bundled): :func:`load_mslr_5k`.
"""

from samplescope.datasets.lambdarank import load_lambdarank_example
from samplescope.datasets.mslr import load_mslr_5k
from samplescope.datasets.obd import (
    OBD_CAMPAIGNS,
    OBD_CTR_FEATURES,
    OBD_POLICIES,
    load_obd,
    obd_frame,
    obd_pooled,
    write_obd_files,
)

__all__ = [
    "OBD_CAMPAIGNS",
    "OBD_CTR_FEATURES",
    "OBD_POLICIES",
    "load_lambdarank_example",
    "load_mslr_5k",
    "load_obd",
    "obd_frame",
    "obd_pooled",
    "write_obd_files",
]
