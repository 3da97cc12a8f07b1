# Bringing testbed nodes up and tearing them down. Sourced by `testbed`.
# node1 is the machine itself (the control-plane host); each node of NS_NODES (node2, node3)
# lives in its own network, mount and UTS namespaces. Everything the testbed changes is recorded
# under $RUN/saved so that `down` can undo exactly that.

SAVED="$RUN/saved"
LOGS="$CACHE/logs"           # kept after `down`, overwritten by the next run
CGROUP_V2=/sys/fs/cgroup/unified/kubestrap-testbed # every process we start lives in here
EGRESS_CHAIN=KUBESTRAP-EGRESS
# Kernel settings the testbed, the kubelet or kube-proxy change: restored by `down`.
SYSCTLS="net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max
  net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait"
# What the kubelet and kubeadm packages install, and what tools and `systemctl enable` add
# beside them (node1's; the other nodes have their own /etc/systemd/system and /etc/default).
KUBELET_PACKAGE_PATHS="/usr/bin/kubelet /usr/lib/systemd/system /usr/lib/systemd/system/kubelet.service
  /usr/lib/systemd/system/kubelet.service.d /etc/systemd /etc/systemd/system /etc/systemd/system/kubelet.service
  /etc/systemd/system/kubelet.service.d /etc/systemd/system/multi-user.target.wants
  /etc/systemd/system/multi-user.target.wants/kubelet.service /etc/default /etc/default/kubelet"
# The host paths the cluster writes; removed by `down` when they did not exist before.
HOST_PATHS="/etc/kubernetes /var/lib/kubelet /var/lib/etcd /etc/cni /etc/cni/net.d /var/lib/cni /var/log/pods
  /var/log/containers /run/containerd /var/lib/containerd /lib/modules /usr/libexec/kubernetes /run/netns /run/xtables.lock
  /opt/kubestrap /run/sshd /run/sudo $KUBELET_PACKAGE_PATHS"

# is_ns_node NAME: whether NAME is one of the nodes in their own namespaces.
is_ns_node() { [ -n "$1" ] && case " $NS_NODES " in *" $1 "*) true ;; *) false ;; esac; }

# node_enter NODE: sets ENTER to the command that runs a command in NODE's namespaces (nothing
# for node1).
node_enter() {
	ENTER=()
	[ "$1" = node1 ] ||
		ENTER=(nsenter --net="/run/netns/$(node_netns "$1")" --mount="$RUN/$1/ns/mnt" --uts="$RUN/$1/ns/uts" --)
}

# in_node NODE CMD...: run CMD in NODE's namespaces.
in_node() {
	local ENTER
	node_enter "$1"
	shift
	"${ENTER[@]}" "$@"
}

# start_bg NODE NAME CMD...: start CMD as a daemon in NODE, inside the testbed's cgroup,
# log in $LOGS/NODE-NAME.log, pid in $RUN/NODE/NAME.pid.
start_bg() {
	local node=$1 name=$2 ENTER
	shift 2
	node_enter "$node"
	mkdir -p "$LOGS" "$RUN/$node"
	(
		echo "$BASHPID" >"$CGROUP_V2/cgroup.procs"
		exec 9>&- # the testbed's lock is for commands, not daemons
		exec setsid "${ENTER[@]}" "$@"
	) >>"$LOGS/$node-$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$node/$name.pid"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Whether a testbed run is up on this machine (one of its daemons is alive). There is one
# testbed per machine: the host's ports, /etc/kubernetes, the kubelet's cgroups.
in_use() {
	local f
	for f in "$RUN"/node*/*.pid; do alive "$f" && return 0; done
	return 1
}

# stop_pid PIDFILE: TERM, wait up to 10 s, then KILL.
stop_pid() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

# --- machine state ---------------------------------------------------------------------

# Recorded once, at the first `up`, and used by `down` to put the machine back.
save_machine_state() {
	[ -f "$SAVED/sysctl" ] && return 0
	mkdir -p "$SAVED"
	local s p
	for s in $SYSCTLS; do
		[ -e "/proc/sys/${s//.//}" ] && echo "$s=$(sysctl -n "$s")"
	done >"$SAVED/sysctl.tmp"
	for p in $HOST_PATHS; do [ -e "$p" ] || echo "$p"; done >"$SAVED/created"
	# Empty directories (e.g. /var/lib/etcd from Debian's etcd package) are emptied again.
	for p in $HOST_PATHS; do [ -d "$p" ] && [ -z "$(ls -A "$p")" ] && echo "$p"; done >"$SAVED/empty" || true
	# iptables (nft) tables that do not exist yet: `down` deletes them again if empty.
	if command -v nft >/dev/null; then nft list tables >"$SAVED/nft-tables"; fi
	ls /run/netns 2>/dev/null >"$SAVED/netns" || true
	mv "$SAVED/sysctl.tmp" "$SAVED/sysctl"
}

hosts_add() {
	local line=$1
	grep -qxF "$line $HOSTS_MARK" /etc/hosts || echo "$line $HOSTS_MARK" >>/etc/hosts
}

# The egress guard: traffic from the testbed to anything outside its own ranges is
# counted and dropped. Forwarded traffic from the pod bridge and the other nodes' veths, and new
# connections made by the testbed's processes (the cgroup) on the host itself.
egress_guard() {
	iptables -w -n -L "$EGRESS_CHAIN" >/dev/null 2>&1 && return 0
	iptables -w -N "$EGRESS_CHAIN"
	local r n
	for r in $TESTBED_RANGES; do iptables -w -A "$EGRESS_CHAIN" -d "$r" -j RETURN; done
	iptables -w -A "$EGRESS_CHAIN" -m conntrack --ctstate NEW -m comment --comment "kubestrap-testbed egress" -j DROP
	iptables -w -A "$EGRESS_CHAIN" -j DROP
	iptables -w -I FORWARD 1 -i ktb-cni0 -j "$EGRESS_CHAIN"
	for n in $NS_NODES; do iptables -w -I FORWARD 1 -i "$(veth_host "$n")" -j "$EGRESS_CHAIN"; done
	iptables -w -I OUTPUT 1 -m cgroup --path "${CGROUP_V2#/sys/fs/cgroup/unified/}" -j "$EGRESS_CHAIN"
	iptables -w -I OUTPUT 1 -m cgroup --path kubepods -j "$EGRESS_CHAIN"
	# No IPv6 at all from the testbed.
	ip6tables -w -N "$EGRESS_CHAIN"
	ip6tables -w -A "$EGRESS_CHAIN" -d ::1/128 -j RETURN
	ip6tables -w -A "$EGRESS_CHAIN" -m conntrack --ctstate NEW -m comment --comment "kubestrap-testbed egress" -j DROP
	ip6tables -w -A "$EGRESS_CHAIN" -j DROP
	ip6tables -w -I FORWARD 1 -i ktb-cni0 -j "$EGRESS_CHAIN"
	for n in $NS_NODES; do ip6tables -w -I FORWARD 1 -i "$(veth_host "$n")" -j "$EGRESS_CHAIN"; done
	ip6tables -w -I OUTPUT 1 -m cgroup --path "${CGROUP_V2#/sys/fs/cgroup/unified/}" -j "$EGRESS_CHAIN"
	ip6tables -w -I OUTPUT 1 -m cgroup --path kubepods -j "$EGRESS_CHAIN"
}

# The guard's own check, in two throwaway namespaces joined by a veth (nothing else is
# reachable from them): a connection from the testbed's cgroup to an address outside
# its ranges must be dropped and counted.
egress_selftest() {
	local t=ktb-egtest p=ktb-egpeer n lib="HERE='$HERE'; . '$HERE/lib.sh'; . '$HERE/nodes.sh'"
	ip netns add "$t"
	ip netns add "$p"
	ip link add ktb-eg0 netns "$t" type veth peer name ktb-eg1 netns "$p"
	ip -n "$t" addr add 10.200.0.1/24 dev ktb-eg0
	ip -n "$t" link set ktb-eg0 up
	ip -n "$p" addr add 10.200.0.2/24 dev ktb-eg1
	ip -n "$p" link set ktb-eg1 up
	ip netns exec "$t" bash -c "$lib; egress_guard"
	# (`ip netns exec` remounts /sys: join the cgroup before entering.)
	bash -c "echo \$\$ >'$CGROUP_V2/cgroup.procs'
		exec ip netns exec $t timeout 1 bash -c 'echo >/dev/tcp/10.200.0.2/80'" 2>/dev/null || true
	n=$(ip netns exec "$t" bash -c "$lib; egress_count")
	ip netns delete "$t"
	ip netns delete "$p"
	[ "$n" -gt 0 ] || die "egress guard self-test: a dropped connection was not counted"
}

# The number of new-connection packets the guard dropped (IPv4 + IPv6).
egress_count() {
	local n4 n6
	n4=$(iptables -w -n -v -x -L "$EGRESS_CHAIN" 2>/dev/null | awk '/kubestrap-testbed egress/ {print $1}')
	n6=$(ip6tables -w -n -v -x -L "$EGRESS_CHAIN" 2>/dev/null | awk '/kubestrap-testbed egress/ {print $1}')
	echo $((${n4:-0} + ${n6:-0}))
}

# render TEMPLATE KEY=VALUE...: the template with @KEY@ replaced.
render() {
	local f=$1 kv args=()
	shift
	for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
	sed "${args[@]}" "$HERE/$f"
}

# start_node NODE CNI_DIR ROOT KUBELET_EXTRA_ARG...: common to all nodes: the CNI config,
# containerd, the images, the kubelet supervisor, sshd. CNI_DIR is where the node's
# /etc/cni/net.d is on the host, ROOT its containerd's root as the node sees it.
start_node() {
	local node=$1 cni_dir=$2 root=$3 node_ip
	shift 3
	local d="$RUN/$node"
	node_ip=$(node_ip "$node")
	mkdir -p "$d" "$cni_dir"
	render cni.conflist.in SUBNET="$(node_pod_subnet "$node")" POD_SUBNET="$POD_SUBNET" \
		SERVICE_SUBNET="$SERVICE_SUBNET" NODE_NET="$NODE_NET" >"$cni_dir/$(basename "$CNI_CONFLIST")"
	render containerd.toml.in ROOT="$root" SOCKET="$CRI_SOCKET" REGISTRY="$REGISTRY" PAUSE_TAG="$PAUSE_TAG" \
		>"$d/containerd.toml"
	if ! alive "$d/containerd.pid"; then
		start_bg "$node" containerd containerd --config "$d/containerd.toml"
		for _ in $(seq 600); do in_node "$node" ctr -a "$CRI_SOCKET" version >/dev/null 2>&1 && break; sleep 0.1; done
		in_node "$node" ctr -a "$CRI_SOCKET" version >/dev/null 2>&1 ||
			{ show_log "$LOGS/$node-containerd.log"; die "$node: containerd did not start"; }
	fi
	timed "$node: import images" import_images "$node" "$CACHE/containerd/$node"
	if ! alive "$d/kubelet-supervisor.pid"; then
		rm -f "$d/no-systemd"
		if [ "${KUBESTRAP_TESTBED_SYSTEMD:-on}" = off ]; then
			[ ! -d /run/systemd/system ] || die "KUBESTRAP_TESTBED_SYSTEMD=off needs a machine that systemd does not run"
			touch "$d/no-systemd"
		fi
		boot_kubelet_package "$(node_etc "$node")" --node-ip="$node_ip" "$@"
		# The boot loads the units (before anyone can run `systemctl daemon-reload`).
		in_node "$node" python3 "$HERE/systemd-unit" load kubelet.service "$d/kubelet.unit.json"
		start_bg "$node" kubelet-supervisor "$HERE/kubelet-supervisor" "$d"
	fi
	start_sshd "$node"
}

# SSH: one key pair for the client and a host key per node, made per run in $RUN/ssh; each
# node's sshd (Debian's openssh-server) runs in the node's namespaces on port $SSH_PORT of the
# node's testbed address only, lets in root and the SSH users setup made with the client key, and
# gives a session the environment of `exec` (the testbed's PATH and facts).
ssh_keys() {
	local d="$RUN/ssh" node u home
	mkdir -p "$d"
	chmod 700 "$d"
	[ -f "$d/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C kubestrap-testbed -f "$d/id_ed25519"
	cp "$d/id_ed25519.pub" "$d/authorized_keys"
	# sshd reads a user's keys as that user: theirs are in their home (`down` removes them).
	for u in $SSH_SUDO_USER $SSH_PASSWORD_SUDO_USER; do
		home=$(user_home "$u")
		[ -d "$home/.ssh" ] || die "no user $u with a ~/.ssh: run \`$0 setup\` first"
		install -m 0600 -o "$u" -g "$(id -gn "$u")" "$d/id_ed25519.pub" "$home/.ssh/authorized_keys"
	done
	for node in node1 $NS_NODES; do
		[ -f "$d/$node-host-key" ] || ssh-keygen -q -t ed25519 -N '' -C "$node" -f "$d/$node-host-key"
	done
}

start_sshd() {
	local node=$1 ip d="$RUN/$1"
	ip=$(node_ip "$node")
	alive "$d/sshd.pid" && return 0
	mkdir -p /run/sshd
	chmod 755 /run/sshd
	{
		echo "Port $SSH_PORT"
		echo "ListenAddress $ip"
		echo "HostKey $RUN/ssh/$node-host-key"
		echo "AuthorizedKeysFile $RUN/ssh/authorized_keys"
		echo "PidFile none"
		echo "PermitRootLogin prohibit-password"
		echo "PasswordAuthentication no"
		echo "KbdInteractiveAuthentication no"
		echo "UsePAM no"
		echo "StrictModes no"
		echo "PrintMotd no"
		# Many commands at once over one multiplexed connection.
		echo "MaxSessions 64"
		echo "MaxStartups 64"
		echo "SetEnv $(node_env "$node" | tr '\n' ' ')"
		echo "Match User $SSH_SUDO_USER,$SSH_PASSWORD_SUDO_USER"
		echo "	AuthorizedKeysFile .ssh/authorized_keys"
	} >"$d/sshd_config"
	start_bg "$node" sshd /usr/sbin/sshd -D -e -f "$d/sshd_config"
	for _ in $(seq 100); do in_node "$node" bash -c "exec 3<>/dev/tcp/$ip/$SSH_PORT" 2>/dev/null && return 0; sleep 0.1; done
	show_log "$LOGS/$node-sshd.log"
	die "$node: sshd did not start"
}

# node_etc NODE: the node's /etc/systemd/system and /etc/default are under this folder of the host.
node_etc() { if [ "$1" = node1 ]; then echo /etc; else echo "$RUN/$1/root/etc"; fi; }

# The kubelet package, as its .deb installs it on every node: the binary in /usr/bin and its
# unit (ExecStart=/usr/bin/kubelet, nothing else: the flags come from drop-ins). node1's binary
# is the machine's /usr/bin/kubelet; each other node gets its own at the same path (a bind mount in
# its mount namespace), so that each node's kubelet is upgraded on its own (`kubelet-package`).
install_kubelet_package() {
	local b
	if [ -e /usr/bin/kubelet ]; then
		for b in "$BIN_DIR" "$NEXT_BIN_DIR"; do [ /usr/bin/kubelet -ef "$b/kubelet" ] && break; done
		[ /usr/bin/kubelet -ef "$b/kubelet" ] ||
			die "/usr/bin/kubelet is not the testbed's kubelet: the testbed installs its own kubelet package there"
	else
		place_kubelet "$BIN_DIR/kubelet" /usr/bin/kubelet
	fi
	install -D -m 0644 "$PACKAGE_UNITS/kubelet.service" /usr/lib/systemd/system/kubelet.service
}

# place_kubelet FROM TO: TO becomes the binary FROM (a hard link where the file systems allow,
# else a copy), replaced in one rename as a package manager replaces a file.
place_kubelet() {
	ln -f "$1" "$2.testbed-new" 2>/dev/null || cp "$1" "$2.testbed-new"
	mv -f "$2.testbed-new" "$2"
}

# kubelet-package NODE VERSION: installs the kubelet of VERSION ($K8S_VERSION or
# $K8S_NEXT_VERSION) on NODE, as `apt-get install kubelet=VERSION` does: the binary is replaced,
# the running kubelet goes on until `systemctl restart kubelet`.
cmd_kubelet_package() {
	local node=${1:?NODE} version=${2:?version} from to n
	case $version in
	"$K8S_VERSION") from=$BIN_DIR/kubelet ;;
	"$K8S_NEXT_VERSION") from=$NEXT_BIN_DIR/kubelet ;;
	*) die "the testbed has the kubelet of $K8S_VERSION and $K8S_NEXT_VERSION only, not $version" ;;
	esac
	to=/usr/bin/kubelet
	[ "$node" = node1 ] || to=$RUN/$node/kubelet
	# The same file again changes nothing (a rename would still detach the node's bind mount).
	[ "$to" -ef "$from" ] || place_kubelet "$from" "$to"
	# The other nodes' /usr/bin/kubelet is a bind mount in their mount namespace, over the file
	# node1's rename replaces: after a swap on any node they are made again.
	for n in $NS_NODES; do
		if [ -s "$RUN/$n/ns/ready" ] && [ -e "$RUN/$n/kubelet" ]; then
			in_node "$n" umount /usr/bin/kubelet 2>/dev/null || true
			in_node "$n" mount --bind "$RUN/$n/kubelet" /usr/bin/kubelet
		fi
	done
	log "$node: kubelet package $version installed ($(in_node "$node" /usr/bin/kubelet --version))"
}

# boot_kubelet_package ETC KUBELET_EXTRA_ARG...: a node's share of the package: the unit enabled
# (its postinst) and the machine's /etc/default/kubelet, which holds what this node needs beyond
# kubeadm's flags (its address, its cgroup root but on node1) and keeps the kubelet from probing a cloud
# metadata address at start-up. The disk is the machine's, shared with builds that fill it: the
# kubelet must not garbage-collect the testbed's images (pause!) or evict pods when it runs low.
boot_kubelet_package() {
	local etc=$1
	shift
	set -- "$@" --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
		--eviction-hard=memory.available\<1Mi,nodefs.available\<1%,imagefs.available\<1%
	mkdir -p "$etc/systemd/system/multi-user.target.wants" "$etc/default"
	ln -sfn /usr/lib/systemd/system/kubelet.service "$etc/systemd/system/multi-user.target.wants/kubelet.service"
	printf 'KUBELET_EXTRA_ARGS="%s"\nAWS_EC2_METADATA_DISABLED=true\n' "$*" >"$etc/default/kubelet"
}

# kubeadm-package NODE [remove]: installs (or removes) what the kubeadm package adds on a node,
# its kubelet drop-in 10-kubeadm.conf, and reloads systemd as its postinst does.
cmd_kubeadm_package() {
	local node=${1:?NODE} dropin
	dropin="$(node_etc "$node")/systemd/system/kubelet.service.d/10-kubeadm.conf"
	if [ "${2:-}" = remove ]; then
		rm -f "$dropin"
	else
		install -D -m 0644 "$PACKAGE_UNITS/10-kubeadm.conf" "$dropin"
	fi
	cmd_exec "$node" systemctl daemon-reload
}

# import_images NODE STORE: STORE is the node's containerd root as seen from the host; a
# stamp there says which image set it already holds.
import_images() {
	local node=$1 stamp=$2/.testbed-images f
	if [ "$(cat "$stamp" 2>/dev/null)" != "$IMAGE_DIR" ] ||
		[ "$(in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io images ls -q | grep -c "^$REGISTRY/" || true)" -lt 6 ]; then
		rm -f "$stamp"
		for f in "$IMAGE_DIR"/*.tar; do
			in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io images import "$f" >/dev/null ||
				die "$node: import of $f failed"
		done
		echo "$IMAGE_DIR" >"$stamp"
	fi
	# containerd's CRI plugin learns of imported images from events, a little later (and answers
	# only once it has started): wait until it sees them all, or a tool finds them missing.
	local images
	images=$(in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io images ls -q | grep "^$REGISTRY/")
	for _ in $(seq 1200); do
		# shellcheck disable=SC2086 # one argument per image
		in_node "$node" "$BIN_DIR/crictl" -r "$CRI_SOCKET" inspecti $images >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "$node: containerd's CRI plugin does not see the imported images"
}

# Facts a tool needs to bring this testbed up; also in $RUN/facts.env.
facts() {
	cat <<EOF
KUBESTRAP_TESTBED_ADVERTISE_ADDRESS=$ADVERTISE_IP
KUBESTRAP_TESTBED_API_ENDPOINT=$ADVERTISE_IP:6443
KUBESTRAP_TESTBED_IMAGE_REPOSITORY=$REGISTRY
KUBESTRAP_TESTBED_KUBERNETES_VERSION=$K8S_VERSION
KUBESTRAP_TESTBED_CGROUP_DRIVER=$CGROUP_DRIVER
KUBESTRAP_TESTBED_CRI_SOCKET=$CRI_SOCKET
KUBESTRAP_TESTBED_POD_SUBNET=$POD_SUBNET
KUBESTRAP_TESTBED_SERVICE_SUBNET=$SERVICE_SUBNET
$(for n in $NS_NODES; do
		echo "KUBESTRAP_TESTBED_${n^^}_NAME=$(node_name "$n")"
		echo "KUBESTRAP_TESTBED_${n^^}_IP=$(node_ip "$n")"
	done)
KUBESTRAP_TESTBED_BIN_DIR=$BIN_DIR
KUBESTRAP_TESTBED_NEXT_VERSION=$K8S_NEXT_VERSION
KUBESTRAP_TESTBED_NEXT_BIN_DIR=$NEXT_BIN_DIR
KUBESTRAP_TESTBED_SSH_PORT=$SSH_PORT
KUBESTRAP_TESTBED_SSH_KEY=$RUN/ssh/id_ed25519
KUBESTRAP_TESTBED_SSH_HOST_KEYS=$RUN/ssh
KUBESTRAP_TESTBED_SSH_SUDO_USER=$SSH_SUDO_USER
KUBESTRAP_TESTBED_SSH_PASSWORD_SUDO_USER=$SSH_PASSWORD_SUDO_USER
EOF
}

check_setup() {
	[ -x "$BIN_DIR/kubelet" ] && [ -s "$IMAGE_DIR/pause.tar" ] || die "run \`$0 setup\` first"
}

# node_env NODE: the environment of commands run on a node: the testbed's systemctl, kubeadm
# and crictl first in PATH, the facts.
node_env() {
	echo "PATH=$HERE/bin:$TOOLS_DIR:$PATH" "KUBESTRAP_TESTBED_NODE_DIR=$RUN/$1"
	facts
}

# run_tool NODE NAME CMD...: the tool's command on NODE; prints its wall time.
run_tool() {
	local node=$1 name=$2 start rc=0
	shift 2
	[ $# -gt 0 ] || return 0
	log "$node: running: $*"
	start=$(date +%s%N)
	# shellcheck disable=SC2046 # one word per variable
	in_node "$node" env $(node_env "$node") "$@" || rc=$?
	TOOL_TENTHS=$((($(date +%s%N) - start) / 100000000))
	printf '[testbed] %-28s %6s s%s\n' "$name" "$(fmt_secs "$TOOL_TENTHS")" \
		"$([ $rc = 0 ] || echo " (failed, exit $rc)")" >&2
	return $rc
}

# --- up: the control-plane host ------------------------------------------------------------

cmd_up() {
	[ "${1:-}" = -- ] && shift
	require_root
	check_setup
	mkdir -p "$RUN" "$LOGS"
	# A new run (nothing saved yet) starts new logs.
	[ -f "$SAVED/sysctl" ] || rm -f "$LOGS"/*.log
	save_machine_state
	# runc also puts the host's pods (host network: the control plane, kube-proxy) into
	# kubepods in the v2 tree; the egress guard matches both trees.
	mkdir -p "$CGROUP_V2" /sys/fs/cgroup/unified/kubepods
	hosts_add "127.0.0.1 $REGISTRY"
	local n
	for n in $NS_NODES; do hosts_add "$(node_ip "$n") $(node_name "$n")"; done
	[ -n "$(ip -o addr show dev lo to "$ADVERTISE_IP/32")" ] || ip addr add "$ADVERTISE_IP/32" dev lo
	sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
	egress_guard
	timed "egress guard self-test" egress_selftest
	# kube-proxy's DaemonSet mounts /lib/modules from the host; these VMs have none.
	mkdir -p /lib/modules /var/log/pods /var/log/containers
	install_kubelet_package
	mkdir -p "$TOOLS_DIR"
	ln -sfn "$BIN_DIR/kubeadm" "$TOOLS_DIR/kubeadm"
	ln -sfn "$BIN_DIR/crictl" "$TOOLS_DIR/crictl"
	ssh_keys
	timed "node1: start" start_node node1 /etc/cni/net.d "$CACHE/containerd/node1"
	facts >"$RUN/facts.env"
	facts | sed 's/^/[testbed] /' >&2
	run_tool node1 "node1: tool command" "$@"
}

# --- join: the nodes in their own namespaces --------------------------------------------------

# ns_node_up NODE: node N of NS_NODES, in its own namespaces.
ns_node_up() {
	local node=$1 d="$RUN/$1" netns veth host_ip node_ip
	netns=$(node_netns "$node")
	veth=$(veth_host "$node")
	host_ip=$(node_host_ip "$node")
	node_ip=$(node_ip "$node")
	mkdir -p "$d/ns"
	# Network: a netns, a veth pair, routes to the testbed's ranges only (no default route): the
	# nodes' addresses, the services and every other node's pods (its own are on its CNI bridge),
	# all through the host, which routes this node's pods to it.
	if [ ! -e "/run/netns/$netns" ]; then
		ip netns add "$netns"
		ip link add "$veth" type veth peer name "$VETH_NODE" netns "$netns"
		ip addr add "$host_ip/24" dev "$veth"
		ip link set "$veth" up
		ip -n "$netns" link set lo up
		ip -n "$netns" addr add "$node_ip/24" dev "$VETH_NODE"
		ip -n "$netns" link set "$VETH_NODE" up
		local r n
		for r in "$NODE_NET" "$SERVICE_SUBNET"; do ip -n "$netns" route add "$r" via "$host_ip"; done
		for n in node1 $NS_NODES; do
			[ "$n" = "$node" ] || ip -n "$netns" route add "$(node_pod_subnet "$n")" via "$host_ip"
		done
		ip route add "$(node_pod_subnet "$node")" via "$node_ip"
		ip netns exec "$netns" sysctl -qw net.ipv4.ip_forward=1 \
			net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
	fi
	# Mount + UTS namespaces, kept alive by bind mounts of their files: the node's own copies
	# of the directories a node writes.
	if [ ! -s "$d/ns/ready" ]; then
		mountpoint -q "$d/ns" || { mount --bind "$d/ns" "$d/ns" && mount --make-private "$d/ns"; }
		touch "$d/ns/mnt" "$d/ns/uts"
		local p src binds=""
		for p in $NODE_DIRS; do
			src="$d/root$p"
			# Its images are kept between runs, like node1's (import_images fills an empty store).
			[ "$p" = /var/lib/containerd ] && src="$CACHE/containerd/$node"
			mkdir -p "$src"
			# The new namespace starts with copies of the host's mounts below $p (pod
			# volumes, container rootfs): drop them there (only there) first.
			binds="$binds { grep -o \" $p/[^ ]*\" /proc/self/mounts | sort -r | xargs -r -n1 umount -l || true; } &&"
			binds="$binds mkdir -p $p && mount --bind $src $p &&"
		done
		unshare --mount="$d/ns/mnt" --uts="$d/ns/uts" --propagation private \
			sh -c "hostname $(node_name "$node") && $binds true"
		echo yes >"$d/ns/ready"
	fi
	# Its own kubelet package's binary, at first the one node1 has.
	if [ ! -e "$d/kubelet" ]; then
		place_kubelet /usr/bin/kubelet "$d/kubelet"
		in_node "$node" mount --bind "$d/kubelet" /usr/bin/kubelet
	fi
	# Its own kubepods tree in every hierarchy, under its --cgroup-root.
	local h cg
	cg=$(node_cgroup_root "$node")
	for h in /sys/fs/cgroup/*/; do
		[ -f "$h/cgroup.procs" ] && [ "$h" != /sys/fs/cgroup/unified/ ] || continue
		mkdir -p "$h$cg"
		if [ -f "$h/cpuset.cpus" ]; then
			cat "$h/cpuset.cpus" >"$h$cg/cpuset.cpus"
			cat "$h/cpuset.mems" >"$h$cg/cpuset.mems"
		fi
	done
	start_node "$node" "$d/root/etc/cni/net.d" /var/lib/containerd --cgroup-root="$cg"
}

# join NODE [-- CMD...]: NODE (of NS_NODES) up, then CMD run on it.
cmd_join() {
	local node=$1
	shift
	[ "${1:-}" = -- ] && shift
	require_root
	check_setup
	is_ns_node "$node" || die "join: no node $node (the nodes to join: $NS_NODES)"
	[ -f "$SAVED/sysctl" ] || die "run \`$0 up\` first"
	timed "$node: start" ns_node_up "$node"
	run_tool "$node" "$node: tool command" "$@"
}

# stop-kubelet NODE: `systemctl stop kubelet`, e.g. before `kubeadm reset`; on a node without
# systemd, what its supervisor's own command does (`sv down kubelet`).
cmd_stop_kubelet() {
	local node=${1:-node1}
	if [ -e "$RUN/$node/no-systemd" ]; then
		rm -f "$RUN/$node/kubelet.wanted"
		for _ in $(seq 300); do alive "$RUN/$node/kubelet.pid" || return 0; sleep 0.1; done
		die "$node: the kubelet did not stop"
	fi
	cmd_exec "$node" systemctl stop kubelet
}

# exec NODE CMD...: run a command on a node (the others than node1: in their namespaces).
cmd_exec() {
	local node=${1:?NODE}
	shift
	# shellcheck disable=SC2046 # one word per variable
	in_node "$node" env $(node_env "$node") "$@"
}

# --- down ----------------------------------------------------------------------------------

# Containers are removed through containerd (kubeadm v1.20's reset needs crictl for that).
remove_containers() {
	local node=$1 c
	alive "$RUN/$node/containerd.pid" || return 0
	for c in $(in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io tasks ls -q 2>/dev/null); do
		in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
	done
	for c in $(in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io tasks ls -q 2>/dev/null); do
		in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
	done
	for c in $(in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io containers ls -q 2>/dev/null); do
		in_node "$node" ctr -a "$CRI_SOCKET" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
	done
}

# kill_cgroup DIR: KILL every process in a cgroup tree and wait (at most 10 s) until it is empty,
# so that its folders can be removed.
kill_cgroup() {
	[ -d "$1" ] || return 0
	local pids
	for _ in $(seq 100); do
		pids=$(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
		[ -z "$pids" ] && return 0
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
}

rmdir_tree() { [ -d "$1" ] && find "$1" -depth -type d -exec rmdir {} + 2>/dev/null; true; }

# unmount_under PREFIX...: everything mounted at or below each PREFIX, deepest first.
unmount_under() {
	local p m
	for p in "$@"; do
		awk '{print $2}' /proc/self/mounts | { grep -E "^${p}(/|$)" || true; } | sort -r | while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
}

# Rules the testbed, the kubelet, kube-proxy and CNI added (chains KUBE-*, CNI-*,
# KUBESTRAP-* and the jumps to them), removed table by table.
clean_iptables() {
	local ipt=$1 t script
	for t in filter nat mangle raw; do
		script=$("$ipt-save" -t "$t" 2>/dev/null | awk -v t="$t" '
			/^:(KUBE-|CNI-|KUBESTRAP-)/ { chains[++n] = substr($1, 2) }
			/^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) / && / -j (KUBE-|CNI-|KUBESTRAP-)/ {
				sub(/^-A/, "-D"); del[++m] = $0 }
			END {
				if (n + m == 0) exit
				print "*" t
				for (i = 1; i <= m; i++) print del[i]
				for (i = 1; i <= n; i++) print "-F " chains[i]
				for (i = 1; i <= n; i++) print "-X " chains[i]
				print "COMMIT"
			}')
		[ -n "$script" ] && echo "$script" | "$ipt-restore" -w --noflush
	done
	true
}

# The ip/ip6 tables iptables-nft made for the cluster, if they were not there before and
# hold no rule any more.
drop_new_nft_tables() {
	local fam t ipt
	nft list tables | while read -r _ fam t; do
		grep -qx "table $fam $t" "$SAVED/nft-tables" && continue
		case $fam in ip) ipt=iptables ;; ip6) ipt=ip6tables ;; *) continue ;; esac
		case $t in filter | nat | mangle | raw | security) ;; *) continue ;; esac
		# Any rule or chain of its own left (by someone else) keeps the table.
		[ "$("$ipt-save" -t "$t" | awk '/^-A / { n++ }
			/^:/ && $1 !~ /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)$/ { n++ }
			END { print n + 0 }')" = 0 ] || continue
		nft delete table "$fam" "$t"
	done
}

# What `down` should have removed but did not (empty when the machine is restored).
leftovers() {
	local p n out=""
	[ -z "$(ip -o addr show dev lo to "$ADVERTISE_IP/32")" ] || out="$out lo:$ADVERTISE_IP"
	for n in $NS_NODES; do
		[ ! -e "/run/netns/$(node_netns "$n")" ] || out="$out netns:$(node_netns "$n")"
		! ip link show "$(veth_host "$n")" >/dev/null 2>&1 || out="$out link:$(veth_host "$n")"
	done
	! ip link show ktb-cni0 >/dev/null 2>&1 || out="$out link:ktb-cni0"
	[ "$(iptables-save | grep -cE 'KUBE-|CNI-|KUBESTRAP-' || true)" = 0 ] || out="$out iptables-rules"
	! grep -q "$HOSTS_MARK\$" /etc/hosts || out="$out /etc/hosts"
	[ -z "$(awk '{print $2}' /proc/self/mounts | grep -E "^(/var/lib/kubelet|/run/containerd|$RUN|$CACHE)(/|$)" || true)" ] ||
		out="$out mounts"
	if [ -f "$SAVED/created" ]; then
		while read -r p; do [ -z "$p" ] || [ ! -e "$p" ] || out="$out $p"; done <"$SAVED/created"
	fi
	for p in /sys/fs/cgroup/*/kubepods "$CGROUP_V2"; do [ ! -e "$p" ] || out="$out $p"; done
	for n in $NS_NODES; do
		for p in /sys/fs/cgroup/*"$(node_cgroup_root "$n")"; do [ ! -e "$p" ] || out="$out $p"; done
	done
	echo "${out# }"
}

# Best effort: every step runs even if one fails (call it as `cmd_down || ...`, which
# turns errexit off inside); what was not restored is found by leftovers() at the end.
cmd_down() {
	require_root
	local egress=0 node nodes="$NS_NODES node1" # node1 last: the others talk to its control plane
	if iptables -w -n -L "$EGRESS_CHAIN" >/dev/null 2>&1; then egress=$(egress_count); fi
	# The kubelets first (they would restart what we remove), then the containers.
	for node in $nodes; do stop_pid "$RUN/$node/kubelet-supervisor.pid"; done
	# A kubelet whose supervisor was killed would go on: find it in our cgroup.
	local pid
	for pid in $(cat "$CGROUP_V2/cgroup.procs" 2>/dev/null); do
		case $(readlink "/proc/$pid/exe" 2>/dev/null) in */kubelet) kill -KILL "$pid" 2>/dev/null ;; esac
	done
	for node in $nodes; do
		[ "$node" != node1 ] && [ ! -s "$RUN/$node/ns/ready" ] && continue
		remove_containers "$node"
		stop_pid "$RUN/$node/containerd.pid"
	done
	kill_cgroup "$CGROUP_V2"
	local h
	for h in /sys/fs/cgroup/*/; do
		kill_cgroup "${h}kubepods"
		for node in $NS_NODES; do kill_cgroup "${h%/}$(node_cgroup_root "$node")"; done
	done
	# The other nodes: their namespaces and network.
	for node in $NS_NODES; do
		if [ -d "$RUN/$node/ns" ]; then
			umount "$RUN/$node/ns/mnt" "$RUN/$node/ns/uts" 2>/dev/null || true
			umount "$RUN/$node/ns" 2>/dev/null || true
		fi
		# (The kernel removes the veth, and the route through it, with the netns,
		# asynchronously: no error is an error here.)
		ip netns delete "$(node_netns "$node")" 2>/dev/null
		ip link delete "$(veth_host "$node")" 2>/dev/null
	done
	# Pod network namespaces containerd made, and the CNI bridge.
	local ns
	for ns in /run/netns/cni-*; do
		[ -e "$ns" ] && [ -f "$SAVED/netns" ] || continue
		grep -qxF "${ns#/run/netns/}" "$SAVED/netns" || { umount "$ns" 2>/dev/null; rm -f "$ns"; }
	done
	ip link delete ktb-cni0 2>/dev/null
	# Mounts the kubelet and containerd left (volumes, rootfs, shm).
	unmount_under /var/lib/kubelet /run/containerd "$CACHE/containerd" "$RUN"
	# Firewall, cgroups, addresses, names, kernel settings.
	clean_iptables iptables
	clean_iptables ip6tables
	for h in /sys/fs/cgroup/*/; do
		rmdir_tree "${h}kubepods"
		for node in $NS_NODES; do rmdir_tree "${h%/}$(node_cgroup_root "$node")"; done
	done
	rmdir_tree "$CGROUP_V2"
	rmdir_tree /sys/fs/cgroup/unified/kubepods
	[ -z "$(ip -o addr show dev lo to "$ADVERTISE_IP/32")" ] || ip addr del "$ADVERTISE_IP/32" dev lo
	if grep -q "$HOSTS_MARK\$" /etc/hosts; then
		# Rewrite in place: /etc/hosts may be a bind mount, which a rename would break.
		grep -v "$HOSTS_MARK\$" /etc/hosts >"/etc/hosts.kubestrap-testbed" || true
		cat "/etc/hosts.kubestrap-testbed" >/etc/hosts
		rm -f "/etc/hosts.kubestrap-testbed"
	fi
	rm -f "$CNI_CONFLIST"
	local u
	for u in $SSH_SUDO_USER $SSH_PASSWORD_SUDO_USER; do
		getent passwd "$u" >/dev/null && rm -f "$(user_home "$u")/.ssh/authorized_keys"
	done
	if [ -f "$SAVED/sysctl" ]; then
		local kv
		while read -r kv; do sysctl -qw "$kv" 2>/dev/null || true; done <"$SAVED/sysctl"
		local p
		while read -r p; do
			[ -n "$p" ] || continue
			unmount_under "$p" # /run/netns: `ip netns add` mounted it on itself
			rm -rf --one-file-system "$p"
		done <"$SAVED/created"
		while read -r p; do
			[ -d "$p" ] || continue
			unmount_under "$p"
			find "$p" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
		done <"$SAVED/empty"
		[ -f "$SAVED/nft-tables" ] && drop_new_nft_tables
	fi
	local left
	left=$(leftovers)
	rm -rf --one-file-system "$RUN"
	if [ -n "$left" ]; then
		log "down: not restored: $left"
		return 1
	fi
	if [ "$egress" != 0 ]; then
		log "EGRESS: $egress new connection(s) to addresses outside the testbed were dropped"
		return 1
	fi
	log "down: machine restored; egress counter 0"
}
