"""weatherlake: a Lambda-architecture stack for city weather data."""

__version__ = "0.1.0"
