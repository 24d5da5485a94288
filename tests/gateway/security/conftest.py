"""The log capture both log tests read: the daemon's own setup, writing to a buffer."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from gateway.logs import setup_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The daemon's own log setup, writing to a buffer; removed again afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    before, old_level = list(root.handlers), root.level
    setup_logging("debug", "text", stream)
    try:
        yield stream
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(old_level)
