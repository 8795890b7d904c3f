"""``verifies(*ids)`` for portable tests: under pytest it is the ``verifies`` marker that
links a test to the controls it verifies (read by ``make evidence``); under MicroPython,
which has no pytest, it leaves the test as it is."""

try:
    import pytest
except ImportError:             # MicroPython: nothing reads the link there
    pytest = None


def verifies(*ids):
    if pytest is None:
        return lambda test: test
    return pytest.mark.verifies(*ids)
