"""The license service's Django project: settings, URLs and the shared API plumbing.

``__version__`` is the one place the release number lives: ``pyproject.toml`` reads it
(setuptools' dynamic version) and the OpenAPI document's ``info.version`` shows it.
"""

__version__ = "0.1.0"
