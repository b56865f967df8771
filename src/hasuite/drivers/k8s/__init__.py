"""The Kubernetes targets (``kind``, ``cluster``), one package a job.

- :mod:`.runtime`: what a run uses: the Target on Kubernetes (roles, faults, partitions) and the
  HPA observation. It knows only :mod:`.boundary` and :mod:`.names`.
- :mod:`.host`: the host's set-up for kind: the Docker engine and its OCI runtime wrapper.
- :mod:`.images`: image and Go builds on a machine without a registry, and their cache.
- :mod:`.manifests`: env/k8s read offline, and the files rendered from env/stack.yaml (the
  base, the official charts' values, the local-images overlay).
- :mod:`.provision`: ``hasuite up/down`` and the suites' set-up: it puts the others together.

:mod:`.boundary` (the KubeApi and CommandRunner protocols) and :mod:`.names` (the names every
package shares) sit below them all. The import contracts in pyproject.toml keep it so.
"""
