"""Reject details are the same on every run: no memory addresses from object reprs."""

import io

import pytest
from PIL import Image, UnidentifiedImageError

from vlforge.errors import Rejected, exception_detail


def test_a_rejected_detail_keeps_no_memory_address():
    with pytest.raises(UnidentifiedImageError) as caught:
        Image.open(io.BytesIO(b"not an image"))
    assert " at 0x" in str(caught.value)  # what PIL says: different on every run
    detail = Rejected("corrupt_image", f"{type(caught.value).__name__}: {caught.value}").detail
    assert " at 0x" not in detail and "cannot identify image file <_io.BytesIO object>" in detail
    assert " at 0x" not in exception_detail(caught.value)
