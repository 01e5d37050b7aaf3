"""The Textual app: screens and widgets that render core models and call core actions."""

from opsconsole.tui import patches

patches.apply()
