"""The license service's Django project: settings, URLs and the shared API plumbing.

``__version__`` is the one place the release number lives: ``pyproject.toml`` reads it
(setuptools' dynamic version) and the OpenAPI document's ``info.version`` shows it.
"""

__version__ = "0.1.0"

# The Celery app is loaded with Django, so ``shared_task`` binds to it (Celery's Django
# recipe).
from .celery import app as celery_app

__all__ = ["__version__", "celery_app"]
