# SPDX-License-Identifier: LGPL-2.1-or-later
"""The with-statement and garbage-collection behaviour every handle shares."""


class Resource:
    """Ends (closes or releases) at the end of a with block, or when collected.

    Subclasses set _end to the method that ends them; it must be idempotent.
    """

    _end = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._end()

    def __del__(self):
        try:
            self._end()
        except Exception:  # interpreter shutdown, or a handle half made
            pass
