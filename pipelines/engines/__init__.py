"""What the pipelines need from outside Python to run on a real engine: Beam's Flink and Spark job-server jars
(``jars.py``, from Maven Central) and Beam's Prism runner (``prism.py``, built from the Go module proxy), each
pinned to the Beam release of ``setup.py`` and kept in a cache folder, never in the repository."""
import os
from pathlib import Path

from apache_beam.version import __version__ as _sdk_version

# The installed SDK's release (setup.py pins it): a job server or Prism of another release is not supported.
BEAM_VERSION = _sdk_version

CACHE_ENV = "POLYSPAN_CACHE"


def cache_root() -> Path:
    """``$POLYSPAN_CACHE`` or ``~/.cache/polyspan``: where fetched jars and built binaries live."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "polyspan").expanduser()
