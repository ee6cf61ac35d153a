"""``python -m prework``: the same command as ``prework``."""

from prework.cli import app

if __name__ == "__main__":
    app(prog_name="prework")
