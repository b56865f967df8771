"""env/k8s as files: read and checked offline, and rendered from env/stack.yaml.

:mod:`.kustomize` and :mod:`.schemas` read; :mod:`.base`, :mod:`.values` and :mod:`.overlay`
build the rendered objects; :mod:`.render` writes them (``python -m
hasuite.drivers.k8s.manifests.render``).
"""
