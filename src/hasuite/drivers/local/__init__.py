"""The local lab: every component of the stack as a real process on 127.0.0.1."""
