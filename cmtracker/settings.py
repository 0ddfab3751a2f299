"""cmtracker settings, one file, everything from the environment.

With nothing set it runs on this machine alone: SQLite and a filesystem Celery broker. Production
(CMTRACKER_PRODUCTION=1) refuses to start with DEBUG on or without a real SECRET_KEY.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from cmtracker.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

PRODUCTION = env_bool("CMTRACKER_PRODUCTION", False)
DEBUG = env_bool("DEBUG", not PRODUCTION)
_DEV_SECRET = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 - refused in production
SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET)
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when CMTRACKER_PRODUCTION=1")
    if len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_SECRET:
        raise ImproperlyConfigured("SECRET_KEY must be set to a random value of 50+ characters")
# The research export's participant ids are HMAC-SHA256 keyed by this secret (docs/reports.md,
# "Exports"). Unset, they are keyed by SECRET_KEY (through a salt of their own), so rotating
# SECRET_KEY would change every id: an installation that shares exports sets its own key once and
# keeps it. One set too short to be a secret stops start-up.
RESEARCH_EXPORT_KEY = env_str("RESEARCH_EXPORT_KEY", "")
if RESEARCH_EXPORT_KEY and len(RESEARCH_EXPORT_KEY) < 32:
    raise ImproperlyConfigured("RESEARCH_EXPORT_KEY must be a random value of 32+ characters")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "cmtracker",
    "patients",
    "vouchers",
    "messaging",
    "rewards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise (static files keep their caching), before everything that can answer.
    "cmtracker.cache_control.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who has given a second factor in this session (request.user.is_verified()).
    "django_otp.middleware.OTPMiddleware",
    # Right after authentication: every later write and read knows who and from where.
    "cmtracker.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "cmtracker.middleware.SessionTimeoutMiddleware",
    # After the timeouts: staff without a second factor this session reach nothing else.
    "cmtracker.two_factor.SecondFactorMiddleware",
    "patients.middleware.PatientLanguageMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
OTP_TOTP_ISSUER = "cmtracker"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Automatic logoff: after this much inactivity (staff shorter: they leave shared desk computers),
# and in any case this long after signing in.
STAFF_IDLE_TIMEOUT_SECONDS = env_int("STAFF_IDLE_TIMEOUT_SECONDS", 15 * 60)
PATIENT_IDLE_TIMEOUT_SECONDS = env_int("PATIENT_IDLE_TIMEOUT_SECONDS", 30 * 60)
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_ABSOLUTE_SECONDS", 12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# API tokens (django-rest-knox, hashed at rest) end like sessions: cmtracker/api_tokens.py sets
# each token's expiry from the limits above; knox's own TTL and refresh are not used.
KNOX_TOKEN_MODEL = "cmtracker.ApiToken"  # noqa: S105 (a model name)
REST_KNOX = {"TOKEN_MODEL": KNOX_TOKEN_MODEL, "AUTO_REFRESH": False}

# Login throttling: 5 failures lock that username from that address for 15 minutes, then it cools
# off by itself, so nobody can lock a counselor out for good by guessing on purpose.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The address a lockout counts, the same one the API throttle counts (NUM_PROXIES, below).
AXES_CLIENT_IP_CALLABLE = "cmtracker.clients.client_ip"

# How many proxies of our own stand in front of the app and append to X-Forwarded-For: 0 when
# clients reach gunicorn directly, 1 behind the compose stack's Caddy. The throttles and lockouts
# count the address that many entries from the end of X-Forwarded-For (the address our last proxy
# saw); what a client writes further left is ignored, and with 0 the header is ignored entirely.
NUM_PROXIES = env_int("NUM_PROXIES", 0)

ROOT_URLCONF = "cmtracker.urls"
WSGI_APPLICATION = "cmtracker.wsgi.application"
AUTH_USER_MODEL = "cmtracker.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cmtracker.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for the lock instead of failing at once; the web process and the worker share
    # the file in the embedded set-up.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Each transaction takes the write lock when it begins. SQLite's default (deferred) starts as
    # a reader, and two readers turning writers at once fail at once whatever the timeout:
    # "database is locked" under concurrent form posts (docs/security.md, the scan's Highs).
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # A file, not memory, so a Celery worker started by a test can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
# Where the migrations run as the tables' owner (docker-compose.yml's migrate service), the URL
# the app itself connects with: `manage.py db_app_role` makes that role and grants it row rights
# only (docs/security.md). Empty elsewhere.
APP_DATABASE_URL = env_str("APP_DATABASE_URL", "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Length and a list of common passwords, no composition rules (NIST SP 800-63B 3.1.1.2): a long
# passphrase is stronger than "P@ssw0rd1" and easier to remember. 12 characters for everyone:
# patients too, who type it on a phone, where a phrase of plain words is easy.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if env_bool("FAST_PASSWORD_HASHER", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "vouchers.api.authentication.SecondFactorTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only: DRF's browsable HTML pages use inline styles that our CSP refuses. People read
    # the API at /api/docs/ (Swagger UI, which can try requests too).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON in too: a result's `results` is a nested object, which a form or multipart body cannot
    # carry, and a schema that offered them would lead client generators to send them. A view that
    # takes a file upload (the lab import) adds the multipart parser itself.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Only the token endpoint is throttled (ScopedRateThrottle on that view): password guessing.
    "DEFAULT_THROTTLE_RATES": {"auth-token": env_str("API_TOKEN_THROTTLE", "10/min")},
    "NUM_PROXIES": NUM_PROXIES,
    "EXCEPTION_HANDLER": "vouchers.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "vouchers.api.schema.declare_errors",
    ],
    "TITLE": "cmtracker API",
    "DESCRIPTION": "Contingency management: patients, drug tests, attendance and rewards.",
    "VERSION": "v1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from our own static files: the docs work offline and under a strict CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "SpecimenKindEnum": "patients.models.Specimen.Kind",
        "SpecimenStatusEnum": "patients.models.Specimen.Status",
        "AttendanceStatusEnum": "patients.models.Attendance.Status",
        "LedgerEntryKindEnum": "vouchers.models.LedgerEntry.Kind",
        "ProtocolKindEnum": "vouchers.models.Protocol.Kind",
        # The lab import's modes: a request may preview, a job only writes.
        "LabImportModeEnum": "vouchers.labs.api.MODES",
        "LabImportWriteModeEnum": "vouchers.labs.importer.MODES",
    },
}

# Celery: Redis when REDIS_URL is set; otherwise a filesystem broker that needs no server, so
# `make run` works on a fresh machine. Results are not needed by the app (tasks write to the DB).
REDIS_URL = env_str("REDIS_URL", "")
# The cache holds the API throttle's counts: in Redis when there is one, so every gunicorn worker
# and every web container counts the same guesses; otherwise in this process's memory (one process
# in development). Keys are prefixed so they never meet Celery's, which share the database; nothing
# in the app clears the cache (RedisCache.clear() would empty the whole Redis database).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cmtracker-cache",
            # A hung Redis fails the token endpoint after a second instead of holding the request.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # A request publishes its send task after commit: a Redis that hangs (frozen, half-open
    # connection) must cost it about a second, not the request. Each connect and each command
    # gives up after a second, a publish is tried twice, and what was not published is sent by
    # the outbox sweep. The worker's BRPOP is not a blocking call (it waits in the event loop).
    CELERY_BROKER_CONNECTION_TIMEOUT = 1
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
    CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
else:
    # kombu's filesystem transport: producer and worker exchange message files in one folder.
    CELERY_BROKER_URL = "filesystem://"
    _BROKER_DIR = Path(env_str("CELERY_FILESYSTEM_DIR", str(VAR_DIR / "celery")))
    for _folder in ("out", "processed", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
# The schedules are declared here; django-celery-beat's database scheduler copies them into its
# tables at start, so administrators see them (and their last run) in the admin. Every task is
# short and idempotent: it looks at the clock and the outbox, so a late or doubled run is harmless.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "ledger-verify-nightly": {
        "task": "vouchers.tasks.ledger_verify",
        "schedule": 24 * 60 * 60,
    },
    "reminders-queue": {"task": "vouchers.tasks.reminders_queue", "schedule": 5 * 60},
    "missed-tests-mark": {"task": "vouchers.tasks.missed_tests_mark", "schedule": 15 * 60},
    "notifications-sweep": {"task": "messaging.tasks.notifications_sweep", "schedule": 60},
    "lab-imports-sweep": {"task": "vouchers.tasks.lab_imports_sweep", "schedule": 60 * 60},
}
# A send that claimed a message and then vanished (worker killed) is retried after this long:
# longer than the send task's time limit, so a live worker's claim never lapses under it.
NOTIFICATION_CLAIM_LEASE = timedelta(seconds=env_int("NOTIFICATION_CLAIM_LEASE_SECONDS", 600))
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 8)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cmtracker@localhost")
# Seconds to wait for an SMTP server: a send is never cut short by the task's soft time limit
# (messaging.notifications), so it needs a bound of its own, well inside the hard limit.
EMAIL_TIMEOUT = 15
# SMS: the console backend prints messages; Twilio sends them when its three settings are set.
SMS_BACKEND = env_str("SMS_BACKEND", "messaging.sms.ConsoleSmsBackend")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "")

# Headers on every response, in development too, so the tests and the browser tests see them.
# No inline scripts or styles anywhere: the templates load app.css and htmx as files, and htmx is
# told not to inject its indicator <style> (the htmx-config meta tag in base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# The language switch's cookie: no script reads it; in production it is HTTPS-only too (below).
LANGUAGE_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
