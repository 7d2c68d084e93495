package main

// A minimal stand-in for the kubelet's HTTPS API, so that `kubectl logs` / pods/log work:
// kube-apiserver proxies pods/log to https://<node InternalIP>:<kubeletEndpoint port>/containerLogs/...
// /portForward/{ns}/{pod} serves pods/portforward (portforward.go). Everything else (exec,
// attach, stats) answers 501.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

func (s *simulator) serveKubelet(port int, certFile, keyFile string, caPEM []byte) (*http.Server, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	mux := http.NewServeMux()
	mux.HandleFunc("/containerLogs/{ns}/{pod}/{container}", s.handleLogs)
	mux.HandleFunc("/portForward/{ns}/{pod}", s.handlePortForward)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not supported by the peerdb-upgrade pod simulator: "+r.URL.Path, http.StatusNotImplemented)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
			ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12},
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	return srv, nil
}

// logLines is what a container "printed": the pod annotation sim.peerdb-upgrade/log.<container>
// or sim.peerdb-upgrade/log if set, otherwise a few synthetic lines describing its state.
func logLines(pod *v1.Pod, container string, previous bool) ([]string, bool) {
	var cs *v1.ContainerStatus
	for _, list := range [][]v1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == container {
				cs = &list[i]
			}
		}
	}
	if cs == nil {
		return nil, false
	}
	if text, ok := pod.Annotations[annLogPrefix+container]; ok {
		return strings.Split(strings.TrimRight(text, "\n"), "\n"), true
	}
	for _, c := range append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name != container {
			continue
		}
		for _, e := range c.Env {
			if e.Name == envLog && e.Value != "" {
				return strings.Split(strings.TrimRight(e.Value, "\n"), "\n"), true
			}
		}
	}
	if text, ok := pod.Annotations[annLog]; ok {
		return strings.Split(strings.TrimRight(text, "\n"), "\n"), true
	}
	if previous {
		if t := cs.LastTerminationState.Terminated; t != nil {
			return []string{
				fmt.Sprintf("[sim] container %s starting image=%s", container, cs.Image),
				fmt.Sprintf("[sim] container %s exited with code %d (%s)", container, t.ExitCode, t.Reason),
			}, true
		}
		return nil, true
	}
	lines := []string{fmt.Sprintf("[sim] container %s starting image=%s", container, cs.Image)}
	switch {
	case cs.State.Running != nil:
		lines = append(lines, fmt.Sprintf("[sim] container %s running", container))
	case cs.State.Terminated != nil:
		lines = append(lines, fmt.Sprintf("[sim] container %s exited with code %d (%s)", container, cs.State.Terminated.ExitCode, cs.State.Terminated.Reason))
	case cs.State.Waiting != nil:
		if !strings.Contains(cs.State.Waiting.Reason, "CrashLoop") {
			return nil, false // never started: no logs
		}
		lines = append(lines, fmt.Sprintf("[sim] container %s exited with code 1 (crash loop)", container))
	}
	return lines, true
}

func (s *simulator) handleLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	pod, err := s.pods.Pods(ns).Get(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	previous := q.Get("previous") == "true"
	lines, ok := logLines(pod, container, previous)
	if !ok {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start", container, name), http.StatusBadRequest)
		return
	}
	if previous && lines == nil {
		http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, name), http.StatusBadRequest)
		return
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	ts := q.Get("timestamps") == "true"
	base := time.Now()
	if pod.Status.StartTime != nil {
		base = pod.Status.StartTime.Time
	}
	w.Header().Set("Content-Type", "text/plain")
	bw := bufio.NewWriter(w)
	for i, l := range lines {
		if ts {
			fmt.Fprintf(bw, "%s ", base.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano))
		}
		fmt.Fprintln(bw, l)
	}
	_ = bw.Flush()
	if q.Get("follow") != "true" {
		return
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// follow: stay open while the container is running, like a kubelet would
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			p, err := s.pods.Pods(ns).Get(name)
			if err != nil || p.UID != pod.UID {
				return
			}
			running := false
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == container && cs.State.Running != nil {
					running = true
				}
			}
			if !running {
				return
			}
		}
	}
}
