"""Where prepared data and synthetic corpora live: $HARNESS_CACHE, else .harness-cache/.

Entries are content-keyed directories built with harness.files.building under harness.files.locked.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HARNESS_CACHE"
DEFAULT_CACHE_DIR = ".harness-cache"


def default_cache_root() -> Path:
    """$HARNESS_CACHE if set, else `.harness-cache/` in the working directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)
