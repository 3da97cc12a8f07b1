# shellcheck shell=bash
# Shared by the end-to-end scripts of kubestrap. Sourced; config needs the testbed's facts and WORK.

# config NAME [EXTRA_CLUSTER_YAML]: writes a v1beta3 config for the testbed to $WORK/NAME.yaml
# and prints its path. With TOKEN set, that is the bootstrap token (so phases can run again).
config() {
	cat >"$WORK/$1.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
${TOKEN:+bootstrapTokens:
- token: $TOKEN}
localAPIEndpoint:
  advertiseAddress: $KUBESTRAP_TESTBED_ADVERTISE_ADDRESS
nodeRegistration:
  criSocket: unix://$KUBESTRAP_TESTBED_CRI_SOCKET
  # The CoreDNS image does not exist here. The testbed's crictl and kubelet are on the PATH,
  # not in the folders preflight searches.
  ignorePreflightErrors: [ImagePull, FileExisting-crictl, KubeletVersion]
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: $KUBESTRAP_TESTBED_KUBERNETES_VERSION
imageRepository: $KUBESTRAP_TESTBED_IMAGE_REPOSITORY
networking:
  podSubnet: $KUBESTRAP_TESTBED_POD_SUBNET
  serviceSubnet: $KUBESTRAP_TESTBED_SERVICE_SUBNET
${2:-}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: $KUBESTRAP_TESTBED_CGROUP_DRIVER
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
	echo "$WORK/$1.yaml"
}

# The objects the API phases of `kubestrap init` write (Kind/namespace/name).
KUBESTRAP_OBJECTS='/kubeadm[:-]|/kubelet-config|/cluster-info$|/bootstrap-token-|/kube-proxy$|/coredns$|/system:coredns$|/kube-dns$'

# kubestrap_state NODE KUBECTL...: what kubestrap wrote to the API, one sorted line per object:
# its objects without what the API server and the controllers own and change at any time
# (resourceVersion, managedFields, status, a ServiceAccount's token Secrets, the signatures of
# cluster-info, a Deployment's revision), and of the node only the labels, annotations and taints
# of kubeadm's keys and of e2e.kubestrap.test/ (a test's own, which must survive). The node's
# conditions, its not-ready taint and the rest are the kubelet's and the controllers'.
kubestrap_state() {
	local node=$1
	shift
	{
		"$@" get -A -o json \
			configmaps,secrets,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,daemonsets,deployments,services
		"$@" get node "$node" -o json
	} | python3 -c '
import json, re, sys
ours = re.compile(sys.argv[1])
node_keys = ("node-role.kubernetes.io/", "node.kubernetes.io/exclude-from-external-load-balancers",
	"kubeadm.alpha.kubernetes.io/", "e2e.kubestrap.test/")
text, objects, at = sys.stdin.read(), [], 0
while text[at:].strip():
	at += len(text[at:]) - len(text[at:].lstrip())
	doc, at = json.JSONDecoder().raw_decode(text, at)
	objects += doc.get("items", [doc])
for o in objects:
	m, kind = o["metadata"], o["kind"]
	key = "/".join((kind, m.get("namespace", ""), m["name"]))
	if kind != "Node" and not ours.search(key):
		continue
	for f in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "selfLink"):
		m.pop(f, None)
	o.pop("status", None)
	annotations = m.get("annotations", {})
	for a in ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"):
		annotations.pop(a, None)
	if kind == "ServiceAccount":
		o.pop("secrets", None)
	if key == "ConfigMap/kube-public/cluster-info":
		o["data"] = {k: v for k, v in o.get("data", {}).items() if not k.startswith("jws-kubeconfig-")}
	if kind == "Node":
		mine = lambda k: k.startswith(node_keys)
		o = {"labels": {k: v for k, v in m.get("labels", {}).items() if mine(k)},
			"annotations": {k: v for k, v in annotations.items() if mine(k)},
			"taints": [t for t in o.get("spec", {}).get("taints", []) if mine(t["key"])]}
	print(key, json.dumps(o, sort_keys=True))
' "$KUBESTRAP_OBJECTS" | sort
}

# mark_node NODE KUBECTL...: a label, an annotation and a taint of the test's own on the node,
# which the phases must keep. unmark_node NODE KUBECTL... removes them.
mark_node() {
	local node=$1
	shift
	"$@" label node "$node" e2e.kubestrap.test/keep=label >/dev/null
	"$@" annotate node "$node" e2e.kubestrap.test/keep=annotation >/dev/null
	"$@" taint node "$node" e2e.kubestrap.test/keep=taint:PreferNoSchedule >/dev/null
}
unmark_node() {
	local node=$1
	shift
	"$@" label node "$node" e2e.kubestrap.test/keep- >/dev/null
	"$@" annotate node "$node" e2e.kubestrap.test/keep- >/dev/null
	"$@" taint node "$node" e2e.kubestrap.test/keep- >/dev/null
}

# free_port: a loopback port nothing listens on, for a server the script starts. Between the
# well-known ports of Kubernetes (10250-10259, 2379) and its NodePorts (30000-32767), below the
# kernel's ephemeral range (a client's connection cannot take it before the server binds it), and
# never one this script was given before (kept in $WORK/ports-given).
free_port() {
	python3 - "$WORK/ports-given" <<'PY'
import os, random, socket, sys
given = set(open(sys.argv[1]).read().split()) if os.path.exists(sys.argv[1]) else set()
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
end = min(low, 30000)
candidates = list(range(20000, end)) if end > 21000 else []
random.shuffle(candidates)
for port in candidates + [0]:
    if str(port) in given:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    port = s.getsockname()[1]
    s.close()
    if str(port) not in given:
        break
open(sys.argv[1], "a").write(f"{port}\n")
print(port)
PY
}

# The scripts' own output: a section heading, and a failure that ends the script.
say() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
# kubectl with the cluster's admin.conf (its discovery cache in the run's WORK folder).
k() { kubectl --kubeconfig /etc/kubernetes/admin.conf --cache-dir "$WORK/kubectl-cache" "$@"; }
# until_ok SECONDS CMD...: retry CMD every second.
until_ok() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 1
	done
}

# node1's node name (the machine's host name, lower-cased) and whether that Node is Ready.
node=$(hostname | tr '[:upper:]' '[:lower:]')
node_ready() { k get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }

# The cluster scripts' SSH side (after `testbed up` and `join`).
# ssh_known_hosts: a known_hosts file's lines for every node's sshd (`up` makes all host keys).
ssh_known_hosts() {
	local n ip
	for n in "node1 $KUBESTRAP_TESTBED_ADVERTISE_ADDRESS" "node2 $KUBESTRAP_TESTBED_NODE2_IP" \
		"node3 $KUBESTRAP_TESTBED_NODE3_IP"; do
		read -r n ip <<<"$n"
		echo "[$ip]:$KUBESTRAP_TESTBED_SSH_PORT $(cut -d' ' -f1,2 "$KUBESTRAP_TESTBED_SSH_HOST_KEYS/$n-host-key.pub")"
	done
}
# cluster_apply NAME ARGS...: `kubestrap cluster apply` with $WORK/known_hosts and the logs in
# $WORK/logs; its exit code in $RC, its output in $WORK/NAME.log.
cluster_apply() {
	local name=$1
	shift
	RC=0
	"$KS" cluster apply --known-hosts "$WORK/known_hosts" --logs "$WORK/logs" "$@" >"$WORK/$name.log" 2>&1 || RC=$?
}
# node_files NODE: every file of a node that kubestrap or the cluster writes, with size, mtime
# and digest (the pods' volumes, which the kubelet refreshes on its own, left out).
node_files() {
	$TB exec "$1" sh -c 'find /etc/kubernetes /var/lib/kubelet /etc/systemd/system /opt/kubestrap -path /var/lib/kubelet/pods -prune -o -type f -printf "%p %s %T@\n" 2>/dev/null | sort; find /etc/kubernetes /opt/kubestrap -type f -exec sha256sum {} + 2>/dev/null | sort' || true
}
