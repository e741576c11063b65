# syntax=docker/dockerfile:1
# License service: gunicorn (gthread) serving Django, static files by WhiteNoise.
#   docker build -t license-service .
#   docker compose up          (nginx, gunicorn, PostgreSQL, Redis, migrations: docker-compose.yml;
#                               README.md, "Running it like production")

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, so a code change does not reinstall them (pinned in pyproject.toml;
# psycopg's binary wheel brings its own libpq, so no compiler or system library is needed).
# The version is read from license_service/__init__.py, the license text from LICENSE.
COPY pyproject.toml README.md LICENSE ./
COPY license_service/__init__.py license_service/
RUN python -m venv /venv && /venv/bin/pip install --no-compile .

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=license_service.settings.production \
    STATIC_ROOT=/app/static \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    PORT=8000
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /app app
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=app:app . .
# collectstatic needs settings to import; production settings refuse the default secret,
# so throwaway ones are made up for this step only (it is not kept in the image).
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    SIGNING_KEYS_SECRET="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput --verbosity 0
# Release packages (the releases directory under MEDIA_ROOT): a volume mounted there starts
# owned by the app user.
RUN mkdir -p /app/media/releases && chown -R app:app /app/media
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PORT}/healthz', timeout=2)"
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
