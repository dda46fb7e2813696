"""The package's version: pictures record it, since the defaults they leave out are this version's."""

__version__ = "0.2.0"
