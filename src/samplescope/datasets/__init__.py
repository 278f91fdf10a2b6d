"""Bundled public datasets, ready to load as a :class:`~samplescope.data.dataset.Dataset`.

* the Open Bandit Dataset (ZOZOTOWN fashion-recommendation clicks, small version, Apache-2.0):
  :func:`load_obd`, :func:`obd_frame`, :func:`obd_pooled`, :func:`write_obd_files`.
"""

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
    "load_obd",
    "obd_frame",
    "obd_pooled",
    "write_obd_files",
]
