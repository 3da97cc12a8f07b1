# Shared constants and helpers for the testbed scripts. Sourced, not run.
# shellcheck disable=SC2034 # the constants are used by the scripts that source this
# Every address, name and path the testbed uses is set here, once.

# Where the source, the build, the binaries and the image tarballs are kept between runs.
# (Canonical paths: they are compared with /proc/self/mounts.)
CACHE=$(readlink -m "${KUBESTRAP_TESTBED_CACHE:-/var/cache/kubestrap-testbed}")
# Where a run keeps its logs, pid files, configs and the other nodes' directories.
RUN=$(readlink -m "${KUBESTRAP_TESTBED_RUN:-/run/kubestrap-testbed}")

K8S_VERSION=v1.20.2          # what Debian's 1.20.5+really1.20.2 source really is
# The version to upgrade to: no other release builds here, so the same source is built a second
# time with this version stamped into the binaries (the code is v1.20.2's).
K8S_NEXT_VERSION=v1.20.3
K8S_SRC_VERSION=1.20.5+really1.20.2
PAUSE_TAG=3.2                # the tags kubeadm v1.20.2 asks for
ETCD_TAG=3.4.13-0
# The image repository: a name that resolves to 127.0.0.1 (via /etc/hosts) so that
# a pull of an image we did not build fails at once and locally.
REGISTRY=registry.kubestrap.test
K8S_BINARIES="kubelet kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubeadm"

# Addresses. The control-plane host, node1, is the machine itself and advertises ADVERTISE_IP (on
# lo: no dummy module here). Each node of NS_NODES lives in its own network, mount and UTS
# namespaces behind a veth pair; node N's names and addresses follow from N (the node_* helpers
# below). Everything stays in TESTBED_RANGES.
ADVERTISE_IP=10.20.0.1
NODE_NET=10.20.0.0/16        # every node's address: node N's veth pair is 10.20.(N-1).0/24
NS_NODES="node2 node3"       # `join` brings up node2, `join NODE` any of these
SSH_PORT=2222               # each node's sshd, on its testbed address only
# Users who log in over SSH as well as root (made by setup): sudo runs anything without a
# password for the first; the second's sudo asks for a password.
SSH_SUDO_USER=kubestrap-ssh
SSH_PASSWORD_SUDO_USER=kubestrap-ssh-pw
SUDOERS_DROPIN=/etc/sudoers.d/kubestrap-testbed
VETH_NODE=ktb-veth1          # the node's end of its veth pair, in its own netns (the same name in each)
POD_SUBNET=10.244.0.0/16
SERVICE_SUBNET=10.96.0.0/12
TESTBED_RANGES="127.0.0.0/8 $NODE_NET $POD_SUBNET $SERVICE_SUBNET"
CRI_SOCKET=/run/containerd/containerd.sock
CGROUP_DRIVER=cgroupfs
HOSTS_MARK="# kubestrap-testbed"   # suffix of every /etc/hosts line we add
CNI_CONFLIST=/etc/cni/net.d/10-kubestrap-testbed.conflist

# node N of NS_NODES (node2 = 10.20.1.2, node3 = 10.20.2.2):
node_ip() {                  # its testbed address (node1's: ADVERTISE_IP)
	if [ "$1" = node1 ]; then echo "$ADVERTISE_IP"; else echo "10.20.$((${1#node} - 1)).2"; fi
}
node_host_ip() { echo "10.20.$((${1#node} - 1)).1"; }   # the host's end of its veth pair
node_name() { echo "testbed-$1"; }        # its hostname (UTS namespace) and node name
node_netns() { echo "kubestrap-$1"; }
veth_host() { echo "ktb-veth-$1"; }       # the host's end of its veth pair (15 characters at most)
# Its own kubepods tree in every cgroup hierarchy (two kubelets sharing /kubepods kill each
# other's pods): the kubelet's --cgroup-root.
node_cgroup_root() { echo "/$1"; }
# The node's share of POD_SUBNET, its CNI bridge's subnet (node1's too: 10.244.0.0/24); every
# node routes the others' to them.
node_pod_subnet() { echo "10.244.$((${1#node} - 1)).0/24"; }

# The directories each node of NS_NODES gets its own copy of (bind mounts in its mount namespace).
NODE_DIRS="/etc/kubernetes /etc/systemd/system /etc/default /var/lib/kubelet /var/lib/containerd /run/containerd /etc/cni/net.d /var/lib/cni /var/log/pods /var/log/containers /var/lib/etcd /opt/kubestrap"

BIN_DIR="$CACHE/bin/$K8S_SRC_VERSION"
NEXT_BIN_DIR="$CACHE/bin/$K8S_SRC_VERSION-as-$K8S_NEXT_VERSION"
# What commands on a node find on their PATH besides the machine's own: kubeadm and crictl (the
# kubelet is the node's package's, in /usr/bin).
TOOLS_DIR="$RUN/tools"
# The kubelet package's unit and the kubeadm package's drop-in (also the preflight tests' inputs).
PACKAGE_UNITS="$HERE/../../fixtures/systemd"
# Images are also keyed by their recipe (setup.sh): a changed recipe builds them anew.
IMAGE_DIR="$CACHE/images/$K8S_SRC_VERSION-$(sha256sum "$HERE/setup.sh" | cut -c1-12)"

log() { printf '[testbed] %s\n' "$*" >&2; }
# user_home USER: the user's home folder.
user_home() { getent passwd "$1" | cut -d: -f6; }
die() { log "error: $*"; exit 1; }

# fmt_secs TENTHS: 123 -> 12.3
fmt_secs() { printf '%d.%d' $(($1 / 10)) $(($1 % 10)); }

# timed NAME CMD...: runs CMD and prints how long it took. A failure ends the script
# there (set -e; a `||` here would switch errexit off inside CMD's functions).
timed() {
	local name=$1 start
	shift
	start=$(date +%s%N)
	"$@"
	printf '[testbed] %-28s %6s s\n' "$name" "$(fmt_secs $((($(date +%s%N) - start) / 100000000)))" >&2
}

# show_log FILE [LINES]: the tail of a log, for failures.
show_log() {
	[ -f "$1" ] || return 0
	echo "----- tail of $1 -----" >&2
	tail -n "${2:-40}" "$1" >&2
}

require_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }
