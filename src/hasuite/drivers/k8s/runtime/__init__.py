"""The runtime driver: what a run on kind or a cluster uses (the Target, partitions, the HPA).

Never imports the host's set-up, the image builds, the manifests or the provisioning
(pyproject.toml, import contracts): what it shares with them is in :mod:`hasuite.drivers.k8s.names`.
"""
