"""The resume fingerprint: a hash of everything a sweep's results depend on."""
from __future__ import annotations

import hashlib
import json

from hwsim import resources


def fingerprint(meta: dict) -> str:
    """16 hex digits over the sweep metadata (less the base config's ``source`` text) and the digest of
    every data table in the package (``hwsim.resources.data_digest``: derived from the package
    contents, not a fixed list), so results of a regenerated table are never mixed with older ones."""
    meta = json.loads(json.dumps(meta, default=str))
    meta["base"].pop("source", None)
    meta["data_tables"] = resources.data_digest()
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
