"""The version of sbidic, written into the files it saves (:data:`sbidic.__version__`)."""

__version__ = "0.1.0"
