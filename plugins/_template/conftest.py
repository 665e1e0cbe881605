"""The plugin template is not importable Python: its files hold ``{{placeholders}}``.

``omni plugin new`` copies it (without this file) and fills the placeholders in; the copy is
what gets tested. This keeps pytest from collecting the template itself.
"""

collect_ignore_glob = ["*"]
