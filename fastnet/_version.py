"""The fastnet version (a module of its own, so that any module can read it without
importing the ``fastnet`` package, which imports everything)."""
__version__ = "0.1.0"
