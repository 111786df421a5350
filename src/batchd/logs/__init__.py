"""The log store: the files executors write job output into, and the readers of the Logs API."""
