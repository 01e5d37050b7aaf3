"""The Textual app: screens and widgets that render core models and call core actions."""
