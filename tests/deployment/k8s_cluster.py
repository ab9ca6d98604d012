"""Drive the project's own single-node Kubernetes (k8s/local/cluster.sh) from tests.

Everything goes through the real tools: ``cluster.sh up`` / ``down``, ``kubectl`` as the cluster
admin, ``kubectl exec ... cqlsh`` as the CQL client, and curl for HTTP. The cluster lives in
private network namespaces, so kubectl and curl run inside them (``cluster.sh kubectl``,
``cluster.sh run``) and uploads reach the service at its ClusterIP, through kube-proxy, like any
client on the cluster network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.deployment.compose_stack import ROOT, UUID_RE, run, stream

CLUSTER = str(ROOT / "k8s" / "local" / "cluster.sh")
NAMESPACE = "digits-dev"
SECRETS = ROOT / "k8s" / "secrets"


def read_env(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a secrets file (comments skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


@dataclass
class LocalCluster:
    """The running local cluster and the dev stack applied to it (namespace ``digits-dev``)."""

    namespace: str = NAMESPACE

    def kubectl(self, *args: str, timeout: float = 300) -> str:
        """kubectl as the cluster admin; its stdout (raises with the output when it fails)."""
        return run([CLUSTER, "kubectl", *args], timeout=timeout)

    def k(self, *args: str, timeout: float = 300) -> str:
        """kubectl in the stack's namespace."""
        return self.kubectl("-n", self.namespace, *args, timeout=timeout)

    def json(self, *args: str) -> dict:
        """``kubectl get ... -o json`` in the stack's namespace."""
        return json.loads(self.k("get", *args, "-o", "json"))

    def service_url(self) -> str:
        """The digit service's ClusterIP address."""
        ip = self.k("get", "service", "digits", "-o", "jsonpath={.spec.clusterIP}").strip()
        return f"http://{ip}:3000"

    def curl(self, *args: str, timeout: float = 60) -> str:
        """curl from inside the cluster's network (the node's namespace)."""
        return run([CLUSTER, "run", "curl", "-sS", "--max-time", "30", *args], timeout=timeout)

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of a GET on the service."""
        out = self.curl("-w", "\n%{http_code}", f"{self.service_url()}{path}")
        body, _, status = out.rpartition("\n")
        return int(status), body

    def upload(self, route: str, field: str, image: Path) -> tuple[int, str]:
        """POST one file as a multipart form field; status and body."""
        url = f"{self.service_url()}{route}"
        out = self.curl("-w", "\n%{http_code}", "-F", f"{field}=@{image}", url)
        body, _, status = out.rpartition("\n")
        return int(status), body

    def readiness(self) -> dict:
        """The service's /readyz report."""
        return json.loads(self.get("/readyz")[1])

    def cql(self, statement: str) -> str:
        """One CQL statement with cqlsh inside the Cassandra pod, as the service's role."""
        app = read_env(SECRETS / "cassandra-app.env")
        login = [f"--username={app['DIGITS_CASSANDRA_USERNAME']}"]
        login.append(f"--password={app['DIGITS_CASSANDRA_PASSWORD']}")
        return self.k(
            "exec", "cassandra-0", "-c", "cassandra", "--", "cqlsh", *login, "-e", statement
        )

    def ids_in(self, table: str) -> list[str]:
        """Every prediction id in ``digits.<table>``, duplicates kept."""
        return UUID_RE.findall(self.cql(f"SELECT id FROM digits.{table}"))

    def ready_pods(self, selector: str) -> int:
        """How many pods matching the label selector are Ready."""
        pods = self.json("pods", "-l", selector)["items"]
        return sum(
            1
            for pod in pods
            for condition in pod["status"].get("conditions", [])
            if condition["type"] == "Ready"
            and condition["status"] == "True"
            and not pod["metadata"].get("deletionTimestamp")
        )

    def logs(self, target: str, tail: int = 40) -> str:
        """The last lines of a pod's (or ``job/...``'s) logs, for failure messages."""
        try:
            return self.k("logs", target, "--all-containers", f"--tail={tail}", timeout=60)
        except RuntimeError as exc:
            return str(exc)


def cluster_up() -> None:
    """Start the local cluster (builds the components once; cached outside the repo)."""
    stream([CLUSTER, "up"], timeout=3600)


def cluster_down() -> None:
    """Stop the local cluster and delete its state."""
    stream([CLUSTER, "down"], timeout=600)


def load_images(*images: str) -> None:
    """Import Docker images into the node's containerd."""
    stream([CLUSTER, "load", *images], timeout=1800)
