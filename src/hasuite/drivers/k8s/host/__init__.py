"""The kind host's set-up: a Docker engine that answers (or hasuite's own) and its OCI wrapper."""
