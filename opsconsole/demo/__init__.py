"""A real local stack (supervisord -> gunicorn apps, nginx in front) for the demo and the tests."""

from opsconsole.demo.stack import DemoStack, StackError

__all__ = ["DemoStack", "StackError"]
