// A small stand-in for crictl (cri-tools), which Debian does not package: the commands
// kubeadm v1.20 runs (info, pods -q, stopp, rmp, inspecti, pull) and a few for people
// (ps, images, version; ps and pods filter with --name REGEX and --state), over the real CRI API (v1alpha2, as kubelet 1.20 speaks).
// Built by the testbed's setup inside the Kubernetes tree, with its vendored packages.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	pb "k8s.io/cri-api/pkg/apis/runtime/v1alpha2"
)

func main() {
	endpoint := "/run/containerd/containerd.sock"
	quiet, all := false, false
	name, state := regexp.MustCompile(""), ""
	var rest []string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-r" || a == "--runtime-endpoint" || a == "-i" || a == "--image-endpoint") && i+1 < len(args):
			i++
			endpoint = args[i]
		case strings.HasPrefix(a, "--runtime-endpoint="), strings.HasPrefix(a, "--image-endpoint="):
			endpoint = a[strings.Index(a, "=")+1:]
		case a == "--name" && i+1 < len(args):
			i++
			name = regexp.MustCompile(args[i])
		case a == "--state" && i+1 < len(args):
			i++
			state = strings.ToUpper(args[i])
			all = true
		case a == "-q" || a == "--quiet":
			quiet = true
		case a == "-a" || a == "--all":
			all = true
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		fail("usage: crictl [-r ENDPOINT] info|version|pods|stopp|rmp|ps|stop|rm|images|inspecti|pull [-q] [ARG...]")
	}
	endpoint = strings.TrimPrefix(endpoint, "unix://")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dialCtx, dialCancel := context.WithTimeout(ctx, 10*time.Second)
	defer dialCancel()
	conn, err := grpc.DialContext(dialCtx, endpoint, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		fail("connect to %s: %v", endpoint, err)
	}
	rt := pb.NewRuntimeServiceClient(conn)
	img := pb.NewImageServiceClient(conn)
	cmd, ids := rest[0], rest[1:]
	switch cmd {
	case "version":
		v, err := rt.Version(ctx, &pb.VersionRequest{})
		check(err)
		fmt.Printf("RuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	case "info":
		s, err := rt.Status(ctx, &pb.StatusRequest{})
		check(err)
		for _, c := range s.Status.Conditions {
			fmt.Printf("%s=%v %s\n", c.Type, c.Status, c.Message)
		}
	case "pods":
		r, err := rt.ListPodSandbox(ctx, &pb.ListPodSandboxRequest{})
		check(err)
		for _, p := range r.Items {
			if !name.MatchString(p.Metadata.Name) || (state != "" && !strings.HasSuffix(p.State.String(), "_"+state)) {
				continue
			}
			if quiet {
				fmt.Println(p.Id)
			} else {
				fmt.Printf("%s\t%s\t%s\t%s\n", p.Id, p.State, p.Metadata.Namespace, p.Metadata.Name)
			}
		}
	case "stopp":
		for _, id := range ids {
			_, err := rt.StopPodSandbox(ctx, &pb.StopPodSandboxRequest{PodSandboxId: id})
			check(err)
			fmt.Printf("Stopped sandbox %s\n", id)
		}
	case "rmp":
		for _, id := range ids {
			_, err := rt.RemovePodSandbox(ctx, &pb.RemovePodSandboxRequest{PodSandboxId: id})
			check(err)
			fmt.Printf("Removed sandbox %s\n", id)
		}
	case "ps":
		r, err := rt.ListContainers(ctx, &pb.ListContainersRequest{})
		check(err)
		for _, c := range r.Containers {
			if (!all && c.State != pb.ContainerState_CONTAINER_RUNNING) || !name.MatchString(c.Metadata.Name) ||
				(state != "" && c.State.String() != "CONTAINER_"+state) {
				continue
			}
			if quiet {
				fmt.Println(c.Id)
			} else {
				fmt.Printf("%s\t%s\t%s\t%s\n", c.Id, c.State, c.Metadata.Name, c.PodSandboxId)
			}
		}
	case "stop":
		for _, id := range ids {
			_, err := rt.StopContainer(ctx, &pb.StopContainerRequest{ContainerId: id, Timeout: 10})
			check(err)
		}
	case "rm":
		for _, id := range ids {
			_, err := rt.RemoveContainer(ctx, &pb.RemoveContainerRequest{ContainerId: id})
			check(err)
		}
	case "images":
		r, err := img.ListImages(ctx, &pb.ListImagesRequest{})
		check(err)
		for _, i := range r.Images {
			if quiet {
				fmt.Println(i.Id)
			} else {
				fmt.Printf("%s\t%s\n", strings.Join(i.RepoTags, ","), i.Id)
			}
		}
	case "inspecti":
		for _, ref := range ids {
			r, err := img.ImageStatus(ctx, &pb.ImageStatusRequest{Image: &pb.ImageSpec{Image: ref}})
			check(err)
			if r.Image == nil {
				fail("no such image %q present", ref)
			}
			fmt.Printf("%s\t%s\n", strings.Join(r.Image.RepoTags, ","), r.Image.Id)
		}
	case "pull":
		for _, ref := range ids {
			r, err := img.PullImage(ctx, &pb.PullImageRequest{Image: &pb.ImageSpec{Image: ref}})
			check(err)
			fmt.Printf("Image is up to date for %s\n", r.ImageRef)
		}
	default:
		fail("crictl (testbed): %s is not supported", cmd)
	}
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
