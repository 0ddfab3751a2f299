# Image for web, worker, beat and migrate (docker-compose.yml chooses the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies before the code, so a code change reuses the installed-packages layer.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are baked into the image and served by whitenoise, with the production settings
# so the same storage backend (and manifest) is used as at run time. Settings refuse to load
# without a secret key: this throwaway random one lives only in this RUN step's environment and
# is not stored in the image.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    CMTRACKER_PRODUCTION=1 ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput --verbosity 0

# Run as an unprivileged user; it owns nothing in /app, so the code cannot be changed at run time.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cmtracker
USER cmtracker

EXPOSE 8000
# --no-control-socket: the control socket would go in the user's home, which it has none of.
# --forwarded-allow-ips: the compose stack's proxy (docker-compose.yml) and the health check.
CMD ["gunicorn", "cmtracker.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--no-control-socket", "--forwarded-allow-ips", "172.30.80.2,127.0.0.1"]
