"""The store's own errors: driver errors are translated into these at the store boundary."""


class StoreError(Exception):
    """The database failed; nothing was written."""


class Conflict(StoreError):
    """A compare-and-set lost: the row was not in the expected state."""
