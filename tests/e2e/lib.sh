# shellcheck shell=bash
# Shared by the testbed scripts of kubestrap. Sourced; needs the testbed's facts and WORK.

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
