#!/usr/bin/env bash
# testbed setup: packages, Kubernetes v1.20.2 from Debian's source, local images.
# Idempotent: each step checks its own output in $CACHE and is skipped when done.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

PACKAGES="containerd runc etcd-server etcd-client golang-go gcc libc6-dev busybox-static rsync iptables
  conntrack socat ebtables ethtool containernetworking-plugins golang-github-modern-go-reflect2-dev
  iproute2 dpkg-dev make openssh-server openssh-client sudo"

install_packages() {
	local missing=()
	for p in $PACKAGES; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && { log "packages: all installed"; return 0; }
	log "packages: installing ${missing[*]}"
	# Another apt may be running (first boot): wait for the lock instead of failing.
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
}

# apt-get source with a private list of deb-src entries derived from the machine's own
# apt sources (same mirrors, keys and suites, type changed), so /etc/apt is left alone.
apt_src() {
	local d="$CACHE/apt"
	mkdir -p "$d/sources.list.d" "$d/lists/partial"
	: >"$d/sources.list"
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$d/sources.list"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		sed 's/^Types:.*/Types: deb-src/' "$f" >"$d/sources.list.d/$(basename "$f")"
	done
	local opts=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/sources.list.d"
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
	# A third-party repository without source indices must not stop us: Debian's is the one needed.
	apt-get "${opts[@]}" update -qq || log "apt-get update (deb-src) reported errors; trying anyway"
	apt-get "${opts[@]}" source -qq "$@"
}

SRC="$CACHE/src/kubernetes-$K8S_SRC_VERSION"

fetch_source() {
	if [ -f "$SRC/.testbed-fetched" ]; then log "source: cached in $SRC"; return 0; fi
	rm -rf "$CACHE/src" && mkdir -p "$CACHE/src"
	# bookworm's only version is 1.20.5+really1.20.2-<debian revision>; the revision may move.
	(cd "$CACHE/src" && apt_src kubernetes)
	[ -d "$SRC/vendor" ] || die "apt-get source kubernetes did not give $SRC with vendor/"
	touch "$SRC/.testbed-fetched"
}

# The vendored reflect2 v1.0.1 makes Go >= 1.18 binaries panic on the first JSON
# (de)serialisation; v1.0.2 from Debian's package fixes it. Swap the files wholesale.
swap_reflect2() {
	local v="$SRC/vendor/github.com/modern-go/reflect2" new=/usr/share/gocode/src/github.com/modern-go/reflect2
	[ -f "$v/go_above_118.go" ] && return 0
	[ -f "$new/go_above_118.go" ] || die "$new is not reflect2 v1.0.2 (golang-github-modern-go-reflect2-dev)"
	rm -f "$v"/*.go "$v"/*.s
	cp "$new"/*.go "$new"/*.s "$v"/
	log "reflect2: vendored copy replaced by v1.0.2"
}

# Kubernetes' own make (as Debian's package build does): GOPATH mode (hack/ sets
# GO111MODULE=off and its own GOPATH), CGO_ENABLED=0 for every binary, and the version
# ldflags (gitVersion v1.20.2, gitCommit, ...) from the git-archive values in hack/lib/version.sh.
# The make also generates the OpenAPI code kube-apiserver needs. Binaries are kept in
# $BIN_DIR, keyed by the source version, and reused.
# make_binaries OUT VERSION [VERSION_FILE]: the binaries into OUT (kept), stamped VERSION; with a
# VERSION_FILE (hack/lib/version.sh's KUBE_GIT_VERSION_FILE) instead of the source's own values.
make_binaries() {
	local out=$1 version=$2 version_file=${3:-} b need=0
	for b in $K8S_BINARIES; do [ -x "$out/$b" ] || need=1; done
	if [ "$need" = 0 ]; then log "binaries $version: cached in $out"; return 0; fi
	swap_reflect2
	local whats="" log_file="$CACHE/build.log"
	for b in $K8S_BINARIES; do whats="$whats cmd/$b"; done
	log "binaries $version: building$whats (about 7 min on 2 idle cores, a relink once the Go cache is warm; log $log_file)"
	# SOURCE_DATE_EPOCH pins buildDate (2021-01-13, v1.20.2's release day).
	if ! (cd "$SRC" && env CGO_ENABLED=0 SOURCE_DATE_EPOCH=1610496000 HOME="$CACHE" \
		${version_file:+KUBE_GIT_VERSION_FILE="$version_file"} make WHAT="${whats# }" >"$log_file" 2>&1); then
		show_log "$log_file" 60
		die "kubernetes build failed"
	fi
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	for b in $K8S_BINARIES; do cp "$SRC/_output/bin/$b" "$out.tmp/"; done
	# Every binary must say the version it is kept as: a cache holding a mix would make an
	# upgrade test pass on binaries that never changed version.
	for b in $K8S_BINARIES; do
		local said
		if [ "$b" = kubeadm ]; then said=$("$out.tmp/$b" version -o short); else said=$("$out.tmp/$b" --version); fi
		[ "${said##* }" = "$version" ] || die "built $b says ${said:-nothing}, not $version"
	done
	rm -rf "$out" && mv "$out.tmp" "$out"
}

build_binaries() {
	make_binaries "$BIN_DIR" "$K8S_VERSION"
}

# The same source stamped K8S_NEXT_VERSION (same commit, tree state "archive"): the version to
# upgrade to.
build_next_binaries() {
	local version_file="$CACHE/next-version.env"
	printf "%s='%s'\n" KUBE_GIT_COMMIT faecb196815e248d3ecfb03c680a4507229c2a56 \
		KUBE_GIT_TREE_STATE archive KUBE_GIT_VERSION "$K8S_NEXT_VERSION" \
		KUBE_GIT_MAJOR 1 KUBE_GIT_MINOR 20 >"$version_file"
	make_binaries "$NEXT_BIN_DIR" "$K8S_NEXT_VERSION" "$version_file"
}

# kubeadm v1.20 needs crictl (cri-tools, not packaged by Debian) for its runtime checks,
# the image check and removing pods on reset: build the small stand-in in crictl/ inside
# the Kubernetes tree, which vendors the CRI API and gRPC.
build_crictl() {
	local out="$BIN_DIR/crictl" gopath="$CACHE/gopath"
	[ -x "$out" ] && [ "$out" -nt "$HERE/crictl/main.go" ] && { log "crictl: cached"; return 0; }
	mkdir -p "$SRC/cmd/testbed-crictl" "$gopath/src/k8s.io"
	cp "$HERE/crictl/main.go" "$SRC/cmd/testbed-crictl/"
	ln -sfn "$SRC" "$gopath/src/k8s.io/kubernetes"
	# GOPATH mode, so that the tree's vendor/ is used; the make's Go build cache is reused.
	(cd "$gopath/src/k8s.io/kubernetes" && GOPATH="$gopath" GOCACHE="$SRC/_output/local/go/cache" \
		GO111MODULE=off CGO_ENABLED=0 go build -ldflags=-s -o "$out" ./cmd/testbed-crictl)
}

# --- images -------------------------------------------------------------------------
# No image can be pulled, and there is no docker engine: each image is one layer made
# from a directory, written as a docker-archive tarball (manifest.json + config + layer),
# which `ctr images import` reads. Imported at `up`/`join` into each node's containerd.

# copy_with_libs ROOTFS FILE...: FILE (symlinks resolved) and the shared libraries ldd
# lists for it, at the same paths inside ROOTFS.
copy_with_libs() {
	local root=$1 f lib
	shift
	for f in "$@"; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
		for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
}

# make_image ROOTFS REF OUT.tar [ENTRYPOINT]: one-layer docker-archive of ROOTFS named REF.
make_image() {
	local root=$1 ref=$2 out=$3 entry=${4:-} w
	w=$(mktemp -d)
	# Fixed owner and mtime: the same inputs give the same layer digest.
	tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$w/layer.tar" .
	local diff ep=""
	diff=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
	[ -n "$entry" ] && ep=",\"Entrypoint\":[\"$entry\"]"
	cat >"$w/config.json" <<JSON
{"architecture":"amd64","os":"linux",
 "config":{"Env":["PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"]$ep},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]}}
JSON
	printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$ref" >"$w/manifest.json"
	tar -C "$w" -cf "$out.tmp" manifest.json config.json layer.tar
	mv "$out.tmp" "$out"
	rm -rf "$w"
}

# The image list: file name, reference. `up`/`join` import every tarball in $IMAGE_DIR.
image_refs() {
	echo "pause $REGISTRY/pause:$PAUSE_TAG"
	echo "etcd $REGISTRY/etcd:$ETCD_TAG"
	local b
	for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
		echo "$b $REGISTRY/$b:$K8S_VERSION"
		echo "$b-next $REGISTRY/$b:$K8S_NEXT_VERSION"
	done
}

# binary_of NAME: the binary of an image: NAME-next is NAME stamped K8S_NEXT_VERSION.
binary_of() {
	case $1 in
	*-next) echo "$NEXT_BIN_DIR/${1%-next}" ;;
	*) echo "$BIN_DIR/$1" ;;
	esac
}

build_image() {
	local name=$1 ref=$2 root
	root=$(mktemp -d)
	chmod 755 "$root" # mktemp made it 0700
	mkdir -p "$root/tmp" "$root/etc" && chmod 1777 "$root/tmp"
	case $name in
	pause)
		# Kubernetes' own pause, built static from its C source.
		gcc -Os -Wall -Werror -static -DVERSION=v$PAUSE_TAG-testbed -o "$root/pause" "$SRC/build/pause/linux/pause.c"
		make_image "$root" "$ref" "$IMAGE_DIR/$name.tar" /pause
		;;
	etcd)
		# Debian's etcd 3.4, tagged as the 3.4.13-0 kubeadm v1.20.2 expects.
		copy_with_libs "$root" /usr/bin/etcd
		mkdir -p "$root/usr/local/bin" && mv "$root/usr/bin/etcd" "$root/usr/local/bin/etcd"
		make_image "$root" "$ref" "$IMAGE_DIR/$name.tar"
		;;
	kube-proxy | kube-proxy-next)
		# kube-proxy shells out to iptables(-save/-restore), ip6tables and conntrack.
		mkdir -p "$root/usr/local/bin" "$root/usr/sbin"
		cp "$(binary_of "$name")" "$root/usr/local/bin/"
		copy_with_libs "$root" /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack \
			/usr/lib/x86_64-linux-gnu/xtables/*.so
		# The same backend (nft or legacy) as the host's own iptables, or rules get split.
		local mode=nft t s
		case $(readlink -f /usr/sbin/iptables) in *legacy*) mode=legacy ;; esac
		for t in iptables ip6tables; do
			for s in "" -save -restore; do
				ln -sf xtables-nft-multi "$root/usr/sbin/$t-nft$s"
				ln -sf xtables-legacy-multi "$root/usr/sbin/$t-legacy$s"
				ln -sf "xtables-$mode-multi" "$root/usr/sbin/$t$s"
			done
		done
		cp /etc/protocols /etc/ethertypes "$root/etc/" 2>/dev/null || true
		make_image "$root" "$ref" "$IMAGE_DIR/$name.tar"
		;;
	*)
		# Control-plane binaries are static (CGO_ENABLED=0): the binary is the image.
		mkdir -p "$root/usr/local/bin"
		cp "$(binary_of "$name")" "$root/usr/local/bin/"
		make_image "$root" "$ref" "$IMAGE_DIR/$name.tar"
		;;
	esac
	rm -rf "$root"
}

build_images() {
	# Tarballs of older recipes are of no more use.
	mkdir -p "$IMAGE_DIR"
	find "$CACHE/images" -mindepth 1 -maxdepth 1 ! -path "$IMAGE_DIR" -exec rm -rf {} +
	local name ref built=""
	while read -r name ref; do
		[ -s "$IMAGE_DIR/$name.tar" ] && continue
		build_image "$name" "$ref"
		built="$built $name"
	done < <(image_refs)
	log "images: ${built:+built$built; }all in $IMAGE_DIR"
}

# The SSH users besides root (lib.sh), as a host a cluster file names with `sudo: true` has
# them: system users with a shell and a home (`up` puts the run's key in their
# ~/.ssh/authorized_keys), and a sudoers drop-in. Through sudo, the first keeps the PATH and the
# facts of a node's session: the testbed's systemctl, kubeadm and crictl come first there.
sudoers_dropin() {
	cat <<EOF
# The kubestrap testbed's SSH users (tests/testbed/setup.sh).
Defaults:$SSH_SUDO_USER !secure_path, env_keep += "PATH KUBESTRAP_TESTBED_*"
$SSH_SUDO_USER ALL=(ALL:ALL) NOPASSWD: ALL
$SSH_PASSWORD_SUDO_USER ALL=(ALL:ALL) ALL
EOF
}

make_ssh_users() {
	local u home
	for u in $SSH_SUDO_USER $SSH_PASSWORD_SUDO_USER; do
		getent passwd "$u" >/dev/null || useradd --system --create-home --home-dir "/home/$u" --shell /bin/bash "$u"
		# "*", not useradd's "!": sshd without PAM refuses a locked account even with a key.
		[ "$(getent shadow "$u" | cut -d: -f2)" = '*' ] || usermod -p '*' "$u"
		home=$(user_home "$u")
		[ -d "$home" ] || install -d -m 0750 -o "$u" -g "$(id -gn "$u")" "$home"
		install -d -m 0700 -o "$u" -g "$(id -gn "$u")" "$home/.ssh"
	done
	if [ "$(cat "$SUDOERS_DROPIN" 2>/dev/null)" != "$(sudoers_dropin)" ]; then
		local tmp
		tmp=$(mktemp)
		sudoers_dropin >"$tmp"
		visudo -cqf "$tmp" || { rm -f "$tmp"; die "the sudoers drop-in made for $SUDOERS_DROPIN is not valid"; }
		install -m 0440 "$tmp" "$SUDOERS_DROPIN"
		rm -f "$tmp"
		log "ssh users: $SUDOERS_DROPIN written"
	fi
	visudo -cq || die "sudoers is not valid with $SUDOERS_DROPIN"
	log "ssh users: $SSH_SUDO_USER (sudo without a password), $SSH_PASSWORD_SUDO_USER (sudo asks one)"
}

main() {
	require_root
	timed "install packages" install_packages
	timed "ssh users" make_ssh_users
	timed "fetch kubernetes source" fetch_source
	timed "build kubernetes binaries" build_binaries
	timed "build them as $K8S_NEXT_VERSION" build_next_binaries
	timed "build crictl stand-in" build_crictl
	timed "build images" build_images
}

# Run main unless sourced (the other scripts reuse the functions above).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
