"""``python -m bot.cli``: how ``deskbot serve`` starts its worker processes (the interpreter it runs on)."""

from bot.cli import main

if __name__ == "__main__":
    main()
