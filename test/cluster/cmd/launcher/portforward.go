package main

// pods/portforward, served the way a kubelet serves it: kube-apiserver proxies
// /api/v1/namespaces/NS/pods/POD/portforward to https://<node>:<kubelet port>/portForward/NS/POD
// (WebSocket, v4.channel.k8s.io, as client libraries use; or SPDY, as kubectl port-forward uses),
// and the kubelet's own streaming code (k8s.io/kubelet/pkg/cri/streaming/portforward) speaks the
// protocol. Where a kubelet would dial the pod's port inside its network namespace, the simulator
// answers in-process: flow-api pods serve PeerDB's HTTP gateway from the namespace's simulated
// state (peerdb.go). No traffic ever goes to a pod IP.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
)

const (
	portForwardIdleTimeout     = 30 * time.Second
	portForwardStreamCreateTTL = 30 * time.Second
)

type podForwarder struct {
	sim *simulator
	ns  string
}

func (f podForwarder) PortForward(_ context.Context, name string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	pod, err := f.sim.pods.Pods(f.ns).Get(name)
	if err != nil || (uid != "" && pod.UID != uid) {
		return fmt.Errorf("pod %s/%s not found", f.ns, name)
	}
	refused := fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s/%s: connection refused", port, f.ns, name)
	if pod.Status.Phase != v1.PodRunning || !podReady(&pod.Status) {
		return refused
	}
	if !isFlowAPI(pod) || port != flowAPIHTTPPort || f.sim.peerdb.apiDown(f.ns) {
		return refused
	}
	f.sim.log.Printf("%s/%s: port-forward to %d", f.ns, name, port)
	return f.sim.peerdb.serveFlowAPI(pod, stream)
}

func (s *simulator) handlePortForward(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("pod")
	pod, err := s.pods.Pods(ns).Get(name)
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %s/%s not found", ns, name), http.StatusNotFound)
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, podForwarder{sim: s, ns: ns}, name, pod.UID, opts,
		portForwardIdleTimeout, portForwardStreamCreateTTL, []string{portforward.ProtocolV1Name})
}
