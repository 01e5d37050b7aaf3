"""opsconsole: one keyboard-driven console for Nginx, Gunicorn and Supervisor."""

__version__ = "0.1.0"
