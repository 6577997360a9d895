"""One root exception and a few narrow subclasses.

Each edge translates them: the CLI prints one ``Error: ...`` line and exits 1, the API
answers JSON with a 4xx, the consumer routes the record to the dead-letter topic.
"""


class WeatherlakeError(Exception):
    """Root of every error weatherlake raises on purpose."""


class ConfigError(WeatherlakeError):
    """A setting is missing or has a bad value; the message names the setting."""


class UnknownCityError(WeatherlakeError):
    """A city id is not in the bundled catalogue."""


class SourceError(WeatherlakeError):
    """A weather provider failed after its retries (or refused us for good)."""


class SourceAuthError(SourceError):
    """The provider rejected our credentials; retrying cannot help."""


class SourceUnreachable(SourceError):
    """The provider could not be reached at all (no network, DNS, refused)."""


class InvalidRecord(WeatherlakeError):
    """A record does not satisfy observation schema v1; the message is the reason."""


class LakeError(WeatherlakeError):
    """The lake refused an operation."""


class LakeUnavailable(LakeError):
    """The lake could not be reached after retries (connection error, safe mode)."""


class TargetExists(LakeError):
    """A rename would overwrite an existing file."""


class BrokerError(WeatherlakeError):
    """Kafka could not be reached or refused an operation."""


class EngineError(WeatherlakeError):
    """The real engines (Apache Kafka, HDFS) could not be fetched, started or reached."""
