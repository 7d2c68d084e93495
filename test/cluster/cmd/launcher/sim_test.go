package main

import (
	"context"
	"io"
	"log"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func testSim() *simulator {
	return newSimulator(fake.NewSimpleClientset(), simConfig{
		readyDelay: 300 * time.Millisecond, runDuration: 300 * time.Millisecond,
		deleteDelay: 200 * time.Millisecond, crashInterval: 2 * time.Second, nodes: 1,
	}, log.New(io.Discard, "", 0))
}

func TestBehaviorOf(t *testing.T) {
	cases := []struct {
		image string
		env   []v1.EnvVar
		ann   string
		want  string
		exit  int32
	}{
		{image: "ghcr.io/peerdb-io/flow-api:stable-v0.30.0", want: ""},
		{image: "ghcr.io/peerdb-io/flow-api:stable-v0.30.0-crashloop", want: "crashloop", exit: 1},
		{image: "registry:5000/x/badimage:1", want: ""}, // markers are looked for in the tag only
		{image: "x:imagepull", want: "badimage"},
		{image: "x:v1-configerror", want: "configerror"},
		{image: "x:fail@sha256:abc", want: "fail", exit: 1},
		{image: "x:oomkill", want: "oomkill", exit: 137},
		{image: "x:1", env: []v1.EnvVar{{Name: "SIM_EXIT_CODE", Value: "3"}}, want: "fail", exit: 3},
		{image: "x:1", env: []v1.EnvVar{{Name: "SIM_BEHAVIOR", Value: "notready"}}, want: "notready"},
		{image: "x:crashloop", ann: "notready", want: "notready"},
	}
	for _, c := range cases {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
		if c.ann != "" {
			pod.Annotations[annBehavior] = c.ann
		}
		got, exit := behaviorOf(pod, &v1.Container{Image: c.image, Env: c.env})
		if got != c.want || (c.exit != 0 && exit != c.exit) {
			t.Errorf("%s %v %q: got %q/%d, want %q/%d", c.image, c.env, c.ann, got, exit, c.want, c.exit)
		}
	}
}

func TestDesiredStatusLifecycle(t *testing.T) {
	s := testSim()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n", UID: "u"},
		Spec: v1.PodSpec{NodeName: "sim-node-0", RestartPolicy: v1.RestartPolicyNever,
			Containers: []v1.Container{{Name: "main", Image: "x:1"}}},
	}
	t0 := time.Now()
	st := &podState{uid: "u", boundAt: t0, ip: "10.244.0.2"}
	status, requeue := s.desiredStatus(pod, st, t0.Add(100*time.Millisecond))
	if status.Phase != v1.PodPending || requeue <= 0 {
		t.Fatalf("creating: %s requeue %s", status.Phase, requeue)
	}
	status, _ = s.desiredStatus(pod, st, t0.Add(400*time.Millisecond))
	if status.Phase != v1.PodRunning || status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("running: %+v", status)
	}
	status, _ = s.desiredStatus(pod, st, t0.Add(700*time.Millisecond))
	if status.Phase != v1.PodSucceeded || status.ContainerStatuses[0].State.Terminated.ExitCode != 0 {
		t.Fatalf("succeeded: %+v", status)
	}
	pod.Spec.Containers[0].Image = "x:fail"
	status, _ = s.desiredStatus(pod, st, t0.Add(700*time.Millisecond))
	if status.Phase != v1.PodFailed || status.ContainerStatuses[0].State.Terminated.ExitCode != 1 {
		t.Fatalf("failed: %+v", status)
	}
	pod.Spec.RestartPolicy = v1.RestartPolicyAlways
	pod.Spec.Containers[0].Image = "x:crashloop"
	status, _ = s.desiredStatus(pod, st, t0.Add(5*time.Second))
	cs := status.ContainerStatuses[0]
	if status.Phase != v1.PodRunning || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount < 2 || podReady(status) {
		t.Fatalf("crashloop: %+v", status)
	}
	pod.Spec.Containers[0].Image = "x:1"
	status, _ = s.desiredStatus(pod, st, t0.Add(5*time.Second))
	if status.Phase != v1.PodRunning || !podReady(status) || status.PodIP != "10.244.0.2" {
		t.Fatalf("ready: %+v", status)
	}
}

func TestImagePullOncePerNodeAndImage(t *testing.T) {
	s := testSim()
	s.cfg.imagePullDelay = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pod := func(name, node, image string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "n", UID: types.UID(name)},
			Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "main", Image: image}}}}
	}
	t0 := time.Now()
	a := pod("a", "sim-node-0", "x:2")
	stA := &podState{uid: "a", boundAt: t0}
	stA.pulledAt, stA.pulled = s.pullImages(ctx, a, t0), true
	if got := stA.pulledAt.Sub(t0); got != 2*time.Second {
		t.Fatalf("first pull on a node: ready after %s, want 2s", got)
	}
	// Pending (ContainerCreating) while pulling, then ready-delay counted from the end of the pull.
	if st, _ := s.desiredStatus(a, stA, t0.Add(2100*time.Millisecond)); st.Phase != v1.PodPending || st.ContainerStatuses[0].ImageID != "" {
		t.Fatalf("while pulling + ready delay: %s %+v", st.Phase, st.ContainerStatuses)
	}
	if st, _ := s.desiredStatus(a, stA, t0.Add(2400*time.Millisecond)); !podReady(st) || st.ContainerStatuses[0].ImageID == "" {
		t.Fatalf("after pull + ready delay: %+v", st)
	}
	// A second pod on the same node, arriving mid-pull, waits for the same pull, not a new one.
	if got := s.pullImages(ctx, pod("b", "sim-node-0", "x:2"), t0.Add(time.Second)).Sub(t0); got != 2*time.Second {
		t.Fatalf("mid-pull on the same node: ready after %s, want 2s", got)
	}
	// Once pulled, the image is present on that node: no wait.
	if got := s.pullImages(ctx, pod("c", "sim-node-0", "x:2"), t0.Add(5*time.Second)).Sub(t0); got != 5*time.Second {
		t.Fatalf("image present: ready after %s, want at once (5s)", got)
	}
	// Another node pulls it again; a pod annotation sets the delay of the pulls it starts.
	d := pod("d", "sim-node-1", "x:2")
	d.Annotations = map[string]string{annImagePullDelay: "500ms"}
	if got := s.pullImages(ctx, d, t0).Sub(t0); got != 500*time.Millisecond {
		t.Fatalf("other node, annotated pod: ready after %s, want 500ms", got)
	}
	// With images kept per namespace, another namespace pulls again on the same node.
	s.cfg.imagesPerNamespace = true
	other := pod("f", "sim-node-0", "x:2")
	other.Namespace = "m"
	if got := s.pullImages(ctx, other, t0.Add(5*time.Second)).Sub(t0); got != 7*time.Second {
		t.Fatalf("other namespace, images per namespace: ready after %s, want 7s", got)
	}
	// A badimage container never pulls (simulateContainer reports ErrImagePull).
	if got := s.pullImages(ctx, pod("e", "sim-node-2", "x:badimage"), t0).Sub(t0); got != 0 {
		t.Fatalf("badimage: ready after %s, want 0", got)
	}
}
