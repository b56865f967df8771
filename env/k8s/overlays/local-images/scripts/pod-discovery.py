"""Pod discovery for Prometheus in the local-images overlay (file_sd), standard library only.

Debian builds its prometheus package without Kubernetes service discovery, so this sidecar
plays it: every DISCOVER_INTERVAL_S it lists the pods of DISCOVER_NAMESPACE through the API
server (the pod's service account) and writes, per job of DISCOVER_JOBS
({job: {"labels": {...}, "port": name}}), the running pods' addresses of that named port to
DISCOVER_DIR/<job>.json, with ``instance`` = the pod's name (the scrape contract: an instance
keeps its name across a restart of its containers).
"""

import json
import os
import ssl
import time
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def targets_of(pods, labels, port):
    out = []
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status", {})
        if status.get("phase") != "Running" or not status.get("podIP"):
            continue
        if any(meta.get("labels", {}).get(k) != v for k, v in labels.items()):
            continue
        for container in pod["spec"]["containers"]:
            for p in container.get("ports", []):
                if p.get("name") == port:
                    out.append(
                        {
                            "targets": [f"{status['podIP']}:{p['containerPort']}"],
                            "labels": {"instance": meta["name"], "pod": meta["name"]},
                        }
                    )
    return out


def main():
    namespace = os.environ["DISCOVER_NAMESPACE"]
    folder = os.environ.get("DISCOVER_DIR", "/sd")
    jobs = json.loads(os.environ["DISCOVER_JOBS"])
    interval = float(os.environ.get("DISCOVER_INTERVAL_S", "5"))
    api = (
        f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
        f"/api/v1/namespaces/{namespace}/pods"
    )
    context = ssl.create_default_context(cafile=f"{SA}/ca.crt")
    while True:
        try:
            with open(f"{SA}/token") as fh:
                token = fh.read().strip()
            request = urllib.request.Request(api, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                pods = json.load(answer)["items"]
            for job, spec in jobs.items():
                path = os.path.join(folder, f"{job}.json")
                with open(path + ".tmp", "w") as fh:
                    json.dump(targets_of(pods, spec["labels"], spec["port"]), fh)
                os.replace(path + ".tmp", path)
        except Exception as exc:  # keep the last files; say why, try again
            print(f"pod discovery: {type(exc).__name__}: {exc}", flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    main()
